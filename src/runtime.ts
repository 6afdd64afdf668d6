import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import sharp from 'sharp';

export interface SharpSettings {
  /** libvips operation cache; off by default: a service rarely renders the same input twice in a row (the result cache does that job). */
  cache: boolean;
  /** libvips threads per image. */
  concurrency: number;
  /** Whether jemalloc is the allocator in use (LD_PRELOAD of Debian's libjemalloc2). */
  jemalloc: boolean;
  /** MALLOC_ARENA_MAX as seen by this process, if set. */
  mallocArenaMax?: string;
}

/**
 * The sharp/libvips settings chosen by measurement (bench/RESULTS.md, "sharp settings"): the
 * libvips operation cache off — it holds up to 50 MB of decoded inputs that a service rendering
 * distinct derivatives never reuses (−70 to −100 MiB peak RSS, no loss of throughput) — and one
 * libvips thread per image, since the work limiter already runs one transformation per core.
 * Call once at start-up, before the first transformation; `env` is the process environment,
 * read for the report only (the entry point passes it). The allocator is a process start-up
 * setting, reported here, not set: run with MALLOC_ARENA_MAX=2 (measured as fast as jemalloc or
 * faster, and 9–24% less peak RSS than glibc's default arenas); LD_PRELOAD of Debian's
 * libjemalloc2 gives 15–57 MiB less RSS at 4–20% less throughput.
 */
export function configureSharp(overrides: Partial<Pick<SharpSettings, 'cache' | 'concurrency'>> = {}, env: Record<string, string | undefined> = {}): SharpSettings {
  const cache = overrides.cache ?? false;
  const concurrency = overrides.concurrency ?? 1;
  sharp.cache(cache);
  sharp.concurrency(Math.max(1, Math.min(concurrency, availableParallelism())));
  return {
    cache,
    concurrency: sharp.concurrency(),
    jemalloc: usingJemalloc(env),
    mallocArenaMax: env.MALLOC_ARENA_MAX,
  };
}

/** True when jemalloc is loaded into this process (LD_PRELOAD or linked), read from /proc/self/maps on Linux. */
function usingJemalloc(env: Record<string, string | undefined> = {}): boolean {
  try {
    return /libjemalloc/.test(readFileSync('/proc/self/maps', 'utf8'));
  } catch {
    return /jemalloc/.test(env.LD_PRELOAD ?? '');
  }
}
