/**
 * `node --import tsx bench/sharp-settings.ts`: measures the sharp/libvips settings behind
 * `configureSharp()` (src/runtime.ts) and the allocator choice in bench/run.ts — the libvips
 * operation cache, libvips threads per image, glibc's arena limit and Debian's jemalloc —
 * with raw sharp in a child process per setting (the allocator is a process start-up setting).
 *
 * 2 images in flight is what the work limiter allows on a 2-core machine; 32 is what a server
 * without a limiter (ipx) runs. Options: --quick, --formats jpeg,webp,avif, --clients 2,32,
 * --only 3,7 (variant numbers), --rounds N (interleaved repeats).
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { FORMATS, type Format } from './ops.ts';
import { runChildJson } from './procs.ts';
import type { LoadResult } from './load.ts';

const JEMALLOC = '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2';
const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    formats: { type: 'string', default: 'jpeg,webp' },
    clients: { type: 'string', default: '2,32' },
    /** Comma-separated variant numbers (1-based, in the order below) to run; default all. */
    only: { type: 'string' },
    /** Repeat the whole set, interleaved, this many times (each row printed per round). */
    rounds: { type: 'string', default: '1' },
  },
});

interface Variant {
  name: string;
  env: Record<string, string>;
  cache: boolean;
  threads: number;
}

const variants: Variant[] = [
  { name: 'glibc, sharp defaults (cache on, 1 thread)', env: {}, cache: true, threads: 1 },
  { name: 'glibc, cache off, 1 thread', env: {}, cache: false, threads: 1 },
  { name: 'glibc MALLOC_ARENA_MAX=2, cache off, 1 thread', env: { MALLOC_ARENA_MAX: '2' }, cache: false, threads: 1 },
  { name: 'glibc MALLOC_ARENA_MAX=2, cache off, 2 threads', env: { MALLOC_ARENA_MAX: '2' }, cache: false, threads: 2 },
];
if (existsSync(JEMALLOC)) {
  variants.push(
    { name: 'jemalloc, cache on, 2 threads (sharp defaults with jemalloc)', env: { LD_PRELOAD: JEMALLOC }, cache: true, threads: 2 },
    { name: 'jemalloc, cache off, 2 threads', env: { LD_PRELOAD: JEMALLOC }, cache: false, threads: 2 },
    { name: 'jemalloc, cache off, 1 thread', env: { LD_PRELOAD: JEMALLOC }, cache: false, threads: 1 },
  );
}

const chosen = flags.only ? flags.only.split(',').map((n) => variants[Number(n) - 1]).filter(Boolean) : variants;
const rounds = Math.max(1, Math.min(5, Number(flags.rounds) || 1));
const formats = flags.formats.split(',').filter((f): f is Format => (FORMATS as string[]).includes(f));
const clients = flags.clients.split(',').map(Number).filter((n) => n > 0 && n <= 256);
const seconds = (fmt: Format) => (flags.quick ? 3 : fmt === 'avif' ? 15 : 8);

const rows: string[] = [];
for (const fmt of formats) {
  for (const c of clients) {
    for (let r = 0; r < rounds; r++) for (const v of chosen) {
      const r = await runChildJson<LoadResult & { peakRssMiB: number }>(
        ['--import', 'tsx', 'bench/raw-worker.ts', fmt, String(c), String(seconds(fmt) * 1000), '100000', v.cache ? '1' : '0', String(v.threads)],
        v.env,
      );
      const line = `| ${fmt} | ${c} | ${v.name} | ${r.rps.toFixed(1)} | ${r.p99ms.toFixed(0)} | ${r.peakRssMiB.toFixed(0)} |`;
      process.stderr.write(`${line}\n`);
      rows.push(line);
    }
  }
}
console.log(['| format | in flight | setting | ops/s | p99 ms | peak RSS MiB |', '| --- | ---: | --- | ---: | ---: | ---: |', ...rows].join('\n'));
