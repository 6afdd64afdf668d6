/**
 * The benchmark's servers, each in its own process with the same allocator setting: imagegate
 * (this checkout, or another one to compare against), ipx, and a bare node:http server.
 */
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PHOTO_ROOT } from './ops.ts';
import { freePort, startChild, type Child } from './procs.ts';

const JEMALLOC = '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2';

/** The API key every benchmark request carries (`X-API-Key`). */
export const BENCH_KEY = 'bench-key-0123456789abcdef';

/**
 * The allocator setting chosen with bench/sharp-settings.ts (see bench/RESULTS.md): glibc limited
 * to two arenas — as fast as or faster than jemalloc here, within ~30 MiB of its peak RSS, and no
 * extra package. Applied to every contender alike. BENCH_ALLOCATOR=jemalloc|glibc to compare.
 */
export function benchEnv(): Record<string, string> {
  if (process.env.BENCH_ALLOCATOR === 'glibc') return {};
  if (process.env.BENCH_ALLOCATOR === 'jemalloc' && existsSync(JEMALLOC)) return { LD_PRELOAD: JEMALLOC };
  return { MALLOC_ARENA_MAX: '2' };
}

export interface ImagegateOptions {
  /** Folder for the config file and the server's log. */
  work: string;
  /** The result cache (memory tier at its defaults) on or off. */
  cache: boolean;
  /** `server.logLevel`; `info` writes one line per request. */
  logLevel: string;
  /** `bench` (bench/servers/imagegate.ts: the CLI's server plus configureSharp) or `cli` (`imagegate serve` as is). */
  entry?: 'bench' | 'cli';
  /** The key gets a plan with a rate and a monthly quota, high enough that nothing is refused. */
  plan?: boolean;
  /** Where the plan's state lives: this process (`memory`, the default) or a Redis (`redisUrl`). */
  store?: 'memory' | 'redis';
  /** Default: the local Redis, `redis://127.0.0.1:6379/0`. */
  redisUrl?: string;
  /** Another checkout of imagegate (with its node_modules) to run instead of this one. */
  checkout?: string;
  /** Extra node options, e.g. `--cpu-prof`. */
  nodeArgs?: string[];
  /** Names the config and log files (default `imagegate`). */
  label?: string;
}

/** imagegate as the benchmark configures it: fs source on the photos, one API key, request log to a file. */
function imagegateConfig(o: ImagegateOptions, port: number): string {
  const file = path.join(o.work, `${o.label ?? 'imagegate'}-${port}.yaml`);
  const cfg = {
    server: { host: '127.0.0.1', port, logLevel: o.logLevel },
    sources: { photos: { type: 'fs', root: PHOTO_ROOT } },
    routes: [{ match: '*', source: 'photos' }],
    keys: [{ id: 'bench', valueFromEnv: 'IMAGEGATE_BENCH_KEY', ...(o.plan ? { plan: 'bench' } : {}) }],
    ...(o.plan ? { plans: { bench: { rate: 1_000_000, burst: 1_000_000, quota: { limit: 1_000_000_000, period: 'month' } } } } : {}),
    cache: o.cache ? { enabled: true } : { enabled: false },
    // Each server its own key prefix: contenders never share a bucket, a quota or usage records.
    ...(o.store === 'redis' ? { usage: { store: 'redis', url: o.redisUrl ?? 'redis://127.0.0.1:6379/0', prefix: `bench-${o.label ?? 'imagegate'}-${port}:` } } : {}),
  };
  writeFileSync(file, JSON.stringify(cfg, null, 2)); // JSON is YAML
  return file;
}

export async function startImagegate(o: ImagegateOptions): Promise<Child> {
  const port = await freePort();
  const config = imagegateConfig(o, port);
  const args =
    o.entry === 'cli'
      ? ['bin/imagegate.js', 'serve', '--config', config, '--port', String(port), '--host', '127.0.0.1']
      : ['--import', 'tsx', 'bench/servers/imagegate.ts', config, String(port)];
  return startChild({
    args: [...(o.nodeArgs ?? []), ...args],
    cwd: o.checkout,
    env: { ...benchEnv(), IMAGEGATE_BENCH_KEY: BENCH_KEY, NODE_ENV: 'production' },
    port,
    ready: /listening on/,
    logFile: path.join(o.work, `${o.label ?? 'imagegate'}-${port}.log`),
  });
}

export async function startIpx(work: string): Promise<Child> {
  const port = await freePort();
  return startChild({
    args: ['--import', 'tsx', 'bench/servers/ipx.ts', PHOTO_ROOT, String(port)],
    env: { ...benchEnv(), NODE_ENV: 'production' },
    port,
    ready: /listening on/,
    logFile: path.join(work, `ipx-${port}.log`),
  });
}

/** bench/servers/bare.ts answering every request with the bytes of `file`. */
export async function startBare(work: string, file: string, contentType: string): Promise<Child> {
  const port = await freePort();
  return startChild({
    args: ['--import', 'tsx', 'bench/servers/bare.ts', file, contentType, String(port)],
    env: benchEnv(),
    port,
    ready: /listening on/,
    logFile: path.join(work, `bare-${port}.log`),
  });
}
