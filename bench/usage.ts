/**
 * Cache-hit-like requests per second through auth + usage plans, as a ratio of the same
 * requests with usage plans off. A tiny Hono app (the app's own API-key check and usage
 * middleware from src/auth and src/usage, a fixed 2 KiB body) runs in a child process; this process drives it over
 * loopback HTTP with keep-alive and 32 requests in flight. Modes are interleaved over
 * several rounds; the median and the best round are reported.
 *
 *   node --import tsx bench/usage.ts [--requests 8000] [--rounds 7] [--concurrency 32]
 *
 * Redis: a private redis-server is started on a free port (or REDIS_URL is used).
 * Targets: memory ≥ 0.9× off, Redis ≥ 0.7× off. Two figures per mode: loopback throughput
 * (includes the load generator and whatever else the machine runs) and the server process's
 * CPU time per request (what bounds a CPU-bound server; Redis's own CPU is not included).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { AppEnv } from '../src/http/context.ts';
import { freePort } from './procs.ts';

const { values } = parseArgs({
  options: {
    serve: { type: 'string' },
    url: { type: 'string' },
    requests: { type: 'string', default: '8000' },
    rounds: { type: 'string', default: '7' },
    concurrency: { type: 'string', default: '32' },
  },
});

if (values.serve) {
  // Child: serve one mode and print the port.
  const { serve } = await import('@hono/node-server');
  const { Hono } = await import('hono');
  const { apiKeyAuth } = await import('../src/auth/middleware.ts');
  const { createKeyLookup, sha256hex } = await import('../src/auth/keys.ts');
  const { usageMiddleware } = await import('../src/usage/middleware.ts');
  const { createUsageService } = await import('../src/usage/index.ts');
  const { plansConfigSchema, usageConfigSchema } = await import('../src/config/usage.ts');
  const mode = values.serve;
  // Limits high enough that no request of the run is refused, so every request takes the full path.
  const plans = plansConfigSchema.parse({ bench: { rate: 100_000, burst: 100_000, quota: { limit: 100_000_000, period: 'month' } } });
  const usage =
    mode === 'off'
      ? undefined
      : createUsageService(
          usageConfigSchema.parse(
            mode === 'memory'
              ? { store: 'memory' }
              : mode === 'memory-noheaders'
                ? { store: 'memory', headers: 'none' }
                : { store: 'redis', url: values.url, prefix: `bench${process.pid}:` },
          ),
        );
  if (usage && !(await usage.ready(5000))) throw new Error('usage store not reachable');
  const keys = createKeyLookup(new Map([[sha256hex('bench-key'), { id: 'bench', plan: 'bench' }]]));
  const body = Buffer.alloc(2048, 7);
  const app = new Hono<AppEnv>();
  // CPU time of this process, so the bench can report server CPU per request (robust on a busy machine).
  app.get('/__cpu', (c) => c.json(process.cpuUsage()));
  app.get('/img', apiKeyAuth({ keys }), ...(usage ? [usageMiddleware({ usage, plans })] : []), (c) =>
    c.body(body, 200, { 'Content-Type': 'image/jpeg', 'Content-Length': String(body.length) }),
  );
  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => console.log(`listening ${info.port}`));
  process.on('SIGTERM', async () => {
    server.close();
    await usage?.close();
    process.exit(0);
  });
} else {
  await main();
}

async function startChild(mode: string, url?: string): Promise<{ port: number; proc: ChildProcess }> {
  const self = fileURLToPath(import.meta.url);
  const proc = spawn(process.execPath, ['--import', 'tsx', self, '--serve', mode, ...(url ? ['--url', url] : [])], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  process.once('exit', () => proc.kill('SIGKILL'));
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    proc.stdout!.on('data', (d) => {
      out += d;
      const m = /listening (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    proc.once('exit', (c) => reject(new Error(`bench server (${mode}) exited ${c}`)));
  });
  return { port, proc };
}

/** `total` GETs, `concurrency` at a time, keep-alive; returns requests per second. */
async function drive(port: number, total: number, concurrency: number): Promise<{ rps: number; non200: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  let sent = 0;
  let non200 = 0;
  const one = () =>
    new Promise<void>((resolve, reject) => {
      const req = http.get(
        { host: '127.0.0.1', port, path: '/img', agent, headers: { 'X-API-Key': 'bench-key' } },
        (res) => {
          if (res.statusCode !== 200) non200++;
          res.resume();
          res.on('end', resolve);
        },
      );
      req.on('error', reject);
    });
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (sent < total) {
        sent++;
        await one();
      }
    }),
  );
  const secs = (performance.now() - start) / 1000;
  agent.destroy();
  return { rps: total / secs, non200 };
}

async function cpu(port: number): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/__cpu`);
  const u = (await res.json()) as { user: number; system: number };
  return u.user + u.system;
}

async function main(): Promise<void> {
  process.setMaxListeners(50);
  const total = Number(values.requests);
  const rounds = Number(values.rounds);
  const concurrency = Number(values.concurrency);
  let redisUrl = process.env.REDIS_URL;
  let stopRedis: (() => Promise<void>) | undefined;
  if (!redisUrl) {
    const r = await startRedis();
    redisUrl = r.url;
    stopRedis = r.stop;
  }
  const modes = ['off', 'memory', 'memory-noheaders', 'redis'] as const;
  const results: Record<string, number[]> = Object.fromEntries(modes.map((m) => [m, []]));
  const cpuPerReq: Record<string, number[]> = Object.fromEntries(modes.map((m) => [m, []]));
  for (let round = 0; round < rounds; round++) {
    for (const mode of modes) {
      const child = await startChild(mode, mode === 'redis' ? redisUrl : undefined);
      await drive(child.port, Math.min(3000, total), concurrency); // warm-up (JIT, connections)
      const cpu0 = await cpu(child.port);
      const { rps, non200 } = await drive(child.port, total, concurrency);
      const cpu1 = await cpu(child.port);
      if (non200) throw new Error(`${mode}: ${non200} responses were not 200`);
      results[mode]!.push(rps);
      cpuPerReq[mode]!.push((cpu1 - cpu0) / total);
      child.proc.kill('SIGTERM');
      await new Promise((r) => child.proc.once('exit', r));
      console.error(`round ${round + 1} ${mode}: ${rps.toFixed(0)} req/s, ${((cpu1 - cpu0) / total).toFixed(1)} µs server CPU/request`);
    }
  }
  await stopRedis?.();
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  // Best of the rounds as well as the median: on a shared machine interference only ever slows
  // a round down, so the best round is the closest to the code's own cost.
  const best = (xs: number[]) => Math.max(...xs);
  const least = (xs: number[]) => Math.min(...xs);
  const off = { med: median(results.off!), best: best(results.off!), cpu: least(cpuPerReq.off!), cpuMed: median(cpuPerReq.off!) };
  const row = (label: string, mode: string, target: string) => {
    const med = median(results[mode]!);
    const top = best(results[mode]!);
    const c = least(cpuPerReq[mode]!);
    const cm = median(cpuPerReq[mode]!);
    return [
      label,
      `${med.toFixed(0)} / ${top.toFixed(0)}`,
      `${(med / off.med).toFixed(2)} / ${(top / off.best).toFixed(2)}`,
      `${cm.toFixed(1)} / ${c.toFixed(1)}`,
      `${(off.cpuMed / cm).toFixed(2)} / ${(off.cpu / c).toFixed(2)}`,
      target,
    ];
  };
  const rows = [
    ['mode', 'req/s median / best', 'ratio', 'server CPU µs/req median / least', 'CPU ratio', 'target'],
    row('usage off', 'off', ''),
    row('memory store', 'memory', '≥ 0.90'),
    row('memory, headers: none', 'memory-noheaders', ''),
    row('redis store', 'redis', '≥ 0.70'),
  ];
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  console.log(`auth + usage, ${total} requests × ${rounds} rounds, ${concurrency} in flight, 2 KiB bodies, loopback keep-alive`);
  for (const r of rows) console.log(r.map((c, i) => c.padEnd(w[i]!)).join('  '));
}

/** A private redis-server (no persistence) on a free loopback port, stopped by the returned function. */
async function startRedis(): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort();
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  process.once('exit', () => proc.kill('SIGKILL'));
  for (let i = 0; i < 100; i++) {
    if (spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout?.trim() === 'PONG') break;
    await sleep(100);
  }
  return {
    url: `redis://127.0.0.1:${port}/0`,
    async stop() {
      if (proc.exitCode !== null) return;
      const done = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await done;
    },
  };
}
