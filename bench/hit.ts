/**
 * The cache-hit path alone: the same URL repeated against imagegate (memory hit, API key, usage
 * record, metrics, request log at info) and against bench/servers/bare.ts sending the same bytes,
 * interleaved over several rounds (the order rotates each round), at each client count.
 * Reported per cell: the median over rounds and the range, of responses/s, of the server's CPU
 * per response (utime + stime from /proc over the counted requests) and of both as ratios to the
 * bare server measured in the same round. On a shared machine throughput swings with other load;
 * CPU per response is the steadier figure.
 *
 *   node --import tsx bench/hit.ts [--clients 2,8,32] [--rounds 5] [--seconds 3] [--plan]
 *     [--store memory|redis] [--redis-url URL] [--before DIR] [--cpu-prof DIR] [--log-level info] [--out FILE]
 *
 * --before DIR: another checkout of imagegate (its node_modules installed, e.g. a worktree of an
 * earlier commit) measured as a third contender, for before/after figures from one run.
 * --plan: the key has a usage plan (rate and monthly quota, never reached), so every hit also
 * takes the plan check and sends the rate-limit headers.
 * --store redis: the plan's state (and the usage records) on a Redis shared by nothing else
 * (default the local one, --redis-url to name another), as a multi-replica deployment keeps
 * it; each server under its own key prefix. Default memory.
 * --cpu-prof DIR: this checkout's server writes a V8 CPU profile there when it stops.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BENCH_KEY, startBare, startImagegate } from './contenders.ts';
import { runLoad, type LoadResult } from './load.ts';
import { PHOTOS, imagegatePath } from './ops.ts';
import type { Child } from './procs.ts';

const { values: flags } = parseArgs({
  options: {
    clients: { type: 'string', default: '2,8,32' },
    rounds: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '3' },
    before: { type: 'string' },
    plan: { type: 'boolean', default: false },
    store: { type: 'string', default: 'memory' },
    'redis-url': { type: 'string', default: 'redis://127.0.0.1:6379/0' },
    'cpu-prof': { type: 'string' },
    'log-level': { type: 'string', default: 'info' },
    out: { type: 'string' },
  },
});

if (flags.store !== 'memory' && flags.store !== 'redis') throw new Error(`--store: expected memory or redis, not ${flags.store}`);
const store = flags.store;
const clientCounts = flags.clients.split(',').map(Number).filter((n) => n > 0 && n <= 256);
const rounds = Math.max(1, Math.min(20, Number(flags.rounds) || 5));
const durationMs = Math.max(0.5, Number(flags.seconds) || 3) * 1000;
const work = mkdtempSync(path.join(tmpdir(), 'imagegate-hit-'));
const log = (s: string) => process.stderr.write(`${s}\n`);
const headers = { 'X-API-Key': BENCH_KEY };
const url = imagegatePath(PHOTOS[0], 'jpeg');

interface Contender {
  name: string;
  child: Child;
  headers?: Record<string, string>;
}

/** Per contender and client count: one result per round. */
type Runs = Map<string, Map<number, LoadResult[]>>;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const range = (xs: number[], d: number) => `${Math.min(...xs).toFixed(d)}–${Math.max(...xs).toFixed(d)}`;

async function firstAnswer(c: Child): Promise<Response> {
  const res = await fetch(`${c.url}${url}`, { headers });
  if (res.status !== 200) throw new Error(`imagegate answered ${res.status} for ${url}: ${await res.text()}`);
  return res;
}

async function main(): Promise<void> {
  const startLoad = loadavg()[0].toFixed(2);
  const started = new Date().toISOString();
  const common = { work, cache: true, logLevel: flags['log-level'], plan: flags.plan, store, redisUrl: flags['redis-url'] } as const;
  if (flags['cpu-prof']) mkdirSync(flags['cpu-prof'], { recursive: true });
  const contenders: Contender[] = [];
  try {
    const ig = await startImagegate({ ...common, nodeArgs: flags['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', path.resolve(flags['cpu-prof'])] : [] });
    contenders.push({ name: 'imagegate', child: ig, headers });
    const first = await firstAnswer(ig);
    const bytesFile = path.join(work, 'derivative.bin');
    writeFileSync(bytesFile, Buffer.from(await first.arrayBuffer()));
    contenders.push({ name: 'bare', child: await startBare(work, bytesFile, first.headers.get('content-type') ?? 'image/jpeg') });
    if (flags.before) {
      const before = await startImagegate({ ...common, checkout: path.resolve(flags.before), label: 'before' });
      await firstAnswer(before);
      contenders.push({ name: 'before', child: before, headers });
    }

    const runs: Runs = new Map(contenders.map((c) => [c.name, new Map(clientCounts.map((n) => [n, []]))]));
    for (let r = 0; r < rounds; r++) {
      for (const clients of clientCounts) {
        const order = contenders.map((_, i) => contenders[(i + r) % contenders.length]);
        const line: string[] = [];
        for (const c of order) {
          const res = await runLoad({ base: c.child.url, paths: [url], concurrency: clients, durationMs, maxRequests: 2_000_000, headers: c.headers, warmup: 200, cpuPid: c.child.pid });
          if (res.errors) throw new Error(`${c.name}: ${JSON.stringify(res.statuses)}`);
          runs.get(c.name)!.get(clients)!.push(res);
          line.push(`${c.name} ${res.rps.toFixed(0)}/s ${((res.cpuMsPerOk ?? NaN) * 1000).toFixed(1)} µs`);
        }
        log(`[round ${r + 1}/${rounds}, load ${loadavg()[0].toFixed(1)}] ${String(clients).padStart(2)} clients: ${line.join(', ')}`);
      }
    }

    const md = [
      `${started} to ${new Date().toISOString()}; load average (1 min) ${startLoad} at start, ${loadavg()[0].toFixed(2)} at end; ${rounds} rounds of ${durationMs / 1000} s per cell; key ${flags.plan ? `with a plan (${store === 'redis' ? 'on Redis' : 'in memory'})` : 'without a plan'}; log level ${flags['log-level']}.`,
      '',
      report(runs, contenders.map((c) => c.name).filter((n) => n !== 'bare')),
    ].join('\n');
    console.log(md);
    if (flags.out) writeFileSync(flags.out, md);
  } finally {
    for (const c of contenders) await c.child.stop();
  }
}

function report(runs: Runs, names: string[]): string {
  const out: string[] = [];
  out.push('| server | clients | responses/s (median, range) | ÷ bare (median, range) | CPU µs/response (median, range) | CPU ÷ bare (median, range) | p99 ms (median) |');
  out.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const clients of clientCounts) {
    const bare = runs.get('bare')!.get(clients)!;
    for (const name of ['bare', ...names]) {
      const rs = runs.get(name)!.get(clients)!;
      const rps = rs.map((r) => r.rps);
      const cpu = rs.map((r) => (r.cpuMsPerOk ?? NaN) * 1000);
      const ratio = rs.map((r, i) => r.rps / bare[i].rps);
      const cpuRatio = cpu.map((c, i) => c / ((bare[i].cpuMsPerOk ?? NaN) * 1000));
      const vs = name === 'bare' ? ['–', '–'] : [`${median(ratio).toFixed(2)}× (${range(ratio, 2)})`, `${median(cpuRatio).toFixed(2)}× (${range(cpuRatio, 2)})`];
      out.push(`| ${name} | ${clients} | ${median(rps).toFixed(0)} (${range(rps, 0)}) | ${vs[0]} | ${median(cpu).toFixed(1)} (${range(cpu, 1)}) | ${vs[1]} | ${median(rs.map((r) => r.p99ms)).toFixed(2)} |`);
    }
  }
  return out.join('\n');
}

try {
  await main();
} finally {
  rmSync(work, { recursive: true, force: true });
}
