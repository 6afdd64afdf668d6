/**
 * Raw sharp in its own process (so it runs under the same allocator settings as the servers):
 * `node --import tsx bench/raw-worker.ts <format> <concurrency> <durationMs> <maxOps> [cache 0|1] [threads]`.
 * Prints one JSON line: the load result plus the process's peak RSS.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { configureSharp } from '../src/runtime.ts';
import { runLocal } from './load.ts';
import { PHOTO_ROOT, PHOTOS, rawTransform, type Format } from './ops.ts';
import { peakRssMiB } from './procs.ts';

const [fmt, conc, dur, max, cacheArg, threadsArg] = process.argv.slice(2);
const settings = configureSharp({
  cache: cacheArg === undefined ? undefined : cacheArg === '1',
  concurrency: threadsArg === undefined ? undefined : Number(threadsArg),
}, process.env);
const inputs = PHOTOS.map((p) => readFileSync(path.join(PHOTO_ROOT, p)));
const result = await runLocal((i) => rawTransform(inputs[i % inputs.length], fmt as Format), {
  concurrency: Number(conc),
  durationMs: Number(dur),
  maxRequests: Number(max),
  warmup: Math.min(Number(conc), 4),
});
console.log(JSON.stringify({ ...result, peakRssMiB: peakRssMiB(process.pid), settings }));
