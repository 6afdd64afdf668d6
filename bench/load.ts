/**
 * Closed-loop HTTP load generator: N workers on one keep-alive agent, each sending its next
 * request as soon as the previous answer is fully read. Bounded by a duration and a request
 * count, whichever comes first; loopback only.
 */
import http from 'node:http';
import { readFileSync } from 'node:fs';

export interface LoadOptions {
  /** Base URL, e.g. http://127.0.0.1:8080 (loopback). */
  base: string;
  /** Request paths (with query): a list cycled through, or the path of the i-th request. */
  paths: string[] | ((i: number) => string);
  concurrency: number;
  durationMs: number;
  maxRequests: number;
  headers?: Record<string, string>;
  /** Requests sent before measuring starts (not counted), to warm connections and caches. */
  warmup?: number;
  /** Process whose CPU time is measured over the counted requests (the server under test). */
  cpuPid?: number;
}

export interface LoadResult {
  requests: number;
  ok: number;
  /** 503 answers (load shedding). */
  shed: number;
  errors: number;
  statuses: Record<string, number>;
  seconds: number;
  /** Successful responses per second. */
  rps: number;
  p50ms: number;
  p99ms: number;
  maxms: number;
  bytes: number;
  /** CPU time the measured process spent per successful response, milliseconds. */
  cpuMsPerOk?: number;
}

/** utime + stime of a process, milliseconds (Linux /proc, 10 ms ticks). */
export function cpuMsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

function once(agent: http.Agent, url: URL, headers: Record<string, string>): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { agent, headers, method: 'GET' }, (res) => {
      let bytes = 0;
      res.on('data', (chunk: Buffer) => (bytes += chunk.length));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes }));
      res.on('error', reject);
    });
    req.setTimeout(120_000, () => req.destroy(new Error('request timeout')));
    req.on('error', reject);
    req.end();
  });
}

export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  const base = new URL(opts.base);
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(base.hostname)) throw new Error('load generator is loopback only');
  const agent = new http.Agent({ keepAlive: true, maxSockets: opts.concurrency, maxFreeSockets: opts.concurrency });
  const list = Array.isArray(opts.paths) ? opts.paths.map((p) => new URL(p, base)) : undefined;
  const pathFn = opts.paths;
  const urlOf = (i: number) => (list ? list[i % list.length] : new URL((pathFn as (i: number) => string)(i), base));
  const headers = opts.headers ?? {};
  let next = 0;

  // Warm-up: connections, JIT, the server's first-request costs.
  const warm = Math.min(opts.warmup ?? opts.concurrency, 1000);
  await Promise.all(
    Array.from({ length: Math.min(warm, opts.concurrency) }, async (_, w) => {
      for (let i = w; i < warm; i += opts.concurrency) await once(agent, urlOf(1_000_000_000 + i), headers).catch(() => undefined);
    }),
  );

  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  const cpu0 = opts.cpuPid ? cpuMsOf(opts.cpuPid) : 0;
  let sent = 0;
  let ok = 0;
  let shed = 0;
  let errors = 0;
  let bytes = 0;
  const started = performance.now();
  const end = started + opts.durationMs;

  const worker = async () => {
    while (performance.now() < end && sent < opts.maxRequests) {
      sent++;
      const url = urlOf(next++);
      const t = performance.now();
      try {
        const r = await once(agent, url, headers);
        latencies.push(performance.now() - t);
        statuses[r.status] = (statuses[r.status] ?? 0) + 1;
        if (r.status === 200 || r.status === 304) {
          ok++;
          bytes += r.bytes;
        } else if (r.status === 503) shed++;
        else errors++;
      } catch {
        errors++;
        statuses.error = (statuses.error ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, worker));
  const seconds = (performance.now() - started) / 1000;
  const cpuMsPerOk = opts.cpuPid && ok ? (cpuMsOf(opts.cpuPid) - cpu0) / ok : undefined;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return {
    cpuMsPerOk,
    requests: sent,
    ok,
    shed,
    errors,
    statuses,
    seconds,
    rps: ok / seconds,
    p50ms: percentile(latencies, 50),
    p99ms: percentile(latencies, 99),
    maxms: latencies.at(-1) ?? NaN,
    bytes,
  };
}

/** In-process closed loop for a function (raw sharp): same shape of result as runLoad. */
export async function runLocal(
  fn: (i: number) => Promise<unknown>,
  opts: { concurrency: number; durationMs: number; maxRequests: number; warmup?: number },
): Promise<LoadResult> {
  const warm = opts.warmup ?? opts.concurrency;
  await Promise.all(Array.from({ length: Math.min(warm, opts.concurrency) }, (_, i) => fn(i)));
  const latencies: number[] = [];
  let sent = 0;
  let ok = 0;
  let errors = 0;
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  const end = started + opts.durationMs;
  const worker = async () => {
    while (performance.now() < end && sent < opts.maxRequests) {
      const i = sent++;
      const t = performance.now();
      try {
        await fn(i);
        ok++;
        latencies.push(performance.now() - t);
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, worker));
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpu0);
  latencies.sort((a, b) => a - b);
  return {
    cpuMsPerOk: ok ? (cpu.user + cpu.system) / 1000 / ok : undefined,
    requests: sent,
    ok,
    shed: 0,
    errors,
    statuses: { ok },
    seconds,
    rps: ok / seconds,
    p50ms: percentile(latencies, 50),
    p99ms: percentile(latencies, 99),
    maxms: latencies.at(-1) ?? NaN,
    bytes: 0,
  };
}
