/**
 * Soak test: starts imagegate as a child process on loopback, drives it at saturation for a
 * while with a realistic mix of requests, and prints what happened.
 *
 *   npm run soak                         # 300 s, 64 clients
 *   npm run soak -- --seconds 60 --clients 32
 *
 * The mix: cache hits (a few fixed renditions), misses (a new width and quality each time),
 * conditional requests answered 304, bad parameters (400), unknown API keys (403) and
 * unknown paths (404). Originals are the photos under /usr/share/backgrounds (Debian's
 * mate-backgrounds / lomiri-wallpapers packages), or sharp-generated images when they are
 * not installed.
 *
 * Printed: requests and rate, responses by status and by kind, p50/p99/max latency, and the
 * server's resident memory at start, after warm-up, at its peak and at the end. The target
 * is no 5xx other than 503 (load shedding) and RSS flat after warm-up; the exit code is 1
 * when a 5xx other than 503 was seen or the server died.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import sharp from 'sharp';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '300' },
    clients: { type: 'string', default: '64' },
    images: { type: 'string', default: '/usr/share/backgrounds' },
    'max-images': { type: 'string', default: '8' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  console.log(`Usage: npm run soak -- [--seconds N] [--clients N] [--images DIR] [--max-images N] [--json]

  --seconds N     how long to drive the server (default 300, at most 86400)
  --clients N     concurrent connections (default 64, at most 512)
  --images DIR    folder of JPEG/PNG originals (default /usr/share/backgrounds)
  --max-images N  originals to use (default 8)
  --json          print the summary as JSON`);
  process.exit(0);
}

function intArg(name: string, v: string | undefined, min: number, max: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) {
    console.error(`--${name}: expected an integer from ${min} to ${max}, got '${v}'`);
    process.exit(2);
  }
  return n;
}

const seconds = intArg('seconds', values.seconds, 1, 86_400);
const clients = intArg('clients', values.clients, 1, 512);
const maxImages = intArg('max-images', values['max-images'], 1, 100);

// ---------------------------------------------------------------------------------------------
// Originals and config

function findPhotos(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    let entries: string[];
    try {
      entries = readdirSync(d);
    } catch {
      return;
    }
    for (const name of entries.sort()) {
      const p = path.join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else if (/\.(jpe?g|png)$/i.test(name) && st.size > 50_000 && st.size < 20_000_000) out.push(p);
    }
  };
  walk(dir);
  return out;
}

async function prepareOriginals(dir: string): Promise<string[]> {
  const photos = findPhotos(values.images!);
  const names: string[] = [];
  if (photos.length > 0) {
    // Spread the choice over the list so that sizes and formats vary.
    const step = Math.max(1, Math.floor(photos.length / maxImages));
    for (let i = 0; i < photos.length && names.length < maxImages; i += step) {
      const name = `p${names.length}${path.extname(photos[i]).toLowerCase()}`;
      copyFileSync(photos[i], path.join(dir, name));
      names.push(name);
    }
    return names;
  }
  for (let i = 0; i < Math.min(maxImages, 4); i++) {
    const name = `g${i}.jpg`;
    const noise = await sharp({
      create: { width: 2400, height: 1600, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 120 + i * 10, sigma: 40 } },
    })
      .jpeg({ quality: 90 })
      .toBuffer();
    writeFileSync(path.join(dir, name), noise);
    names.push(name);
  }
  return names;
}

// ---------------------------------------------------------------------------------------------
// Server

interface Server {
  proc: ChildProcess;
  url: string;
  stop(): Promise<void>;
}

async function startServer(configFile: string): Promise<Server> {
  const proc = spawn(process.execPath, [path.join(root, 'bin', 'imagegate.js'), 'serve', '--config', configFile, '--host', '127.0.0.1', '--port', '0'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    // As `npm start` runs it (see src/runtime.ts on the allocator setting).
    env: { MALLOC_ARENA_MAX: '2', ...process.env, NODE_ENV: 'production' },
  });
  const kill = () => proc.exitCode === null && proc.signalCode === null && proc.kill('SIGKILL');
  process.once('exit', kill);
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`server did not start in 60 s\n${stderr}`)), 60_000);
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening\n${stderr}`));
    });
  });
  proc.stdout!.resume();
  return {
    proc,
    url,
    stop: async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const done = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      const t = setTimeout(kill, 5000);
      await done;
      clearTimeout(t);
    },
  };
}

/** Resident memory of a process in bytes, from /proc (Linux). */
function rssOf(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Load

type Kind = 'hit' | 'miss' | 'conditional' | 'bad_request' | 'unknown_key' | 'not_found';
const MIX: [Kind, number][] = [
  ['hit', 50],
  ['miss', 10],
  ['conditional', 15],
  ['bad_request', 10],
  ['unknown_key', 10],
  ['not_found', 5],
];
const MIX_TOTAL = MIX.reduce((a, [, w]) => a + w, 0);

function pickKind(): Kind {
  let r = Math.random() * MIX_TOTAL;
  for (const [k, w] of MIX) {
    if ((r -= w) < 0) return k;
  }
  return 'hit';
}

interface Sample {
  kind: Kind;
  status: number;
  ms: number;
}

function request(
  agent: http.Agent,
  base: URL,
  pathAndQuery: string,
  headers: Record<string, string>,
): Promise<{ status: number; etag?: string }> {
  return new Promise((resolve) => {
    const req = http.request(
      { host: base.hostname, port: base.port, path: pathAndQuery, method: 'GET', agent, headers },
      (res) => {
        res.on('data', () => {});
        res.on('end', () => resolve({ status: res.statusCode ?? 0, etag: res.headers.etag }));
        res.on('error', () => resolve({ status: -1 }));
      },
    );
    req.setTimeout(120_000, () => req.destroy(new Error('client timeout')));
    req.on('error', () => resolve({ status: -1 }));
    req.end();
  });
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

const MiB = 1024 * 1024;
const mib = (b: number | undefined) => (b === undefined ? 'n/a' : `${(b / MiB).toFixed(0)} MiB`);

async function main(): Promise<number> {
  const work = mkdtempSync(path.join(os.tmpdir(), 'imagegate-soak-'));
  try {
    const imagesDir = path.join(work, 'images');
    mkdirSync(imagesDir);
    const images = await prepareOriginals(imagesDir);
    const apiKey = randomBytes(24).toString('base64url');
    const configFile = path.join(work, 'imagegate.yaml');
    writeFileSync(
      configFile,
      [
        'server:',
        '  host: 127.0.0.1',
        '  logLevel: warn',
        '  internalEndpoints: public',
        'sources:',
        `  photos: { type: fs, root: ${JSON.stringify(imagesDir)} }`,
        'routes:',
        '  - { match: "img/*", source: photos, key: "{*}" }',
        'keys:',
        `  - { id: soak, sha256: "${createHash('sha256').update(apiKey).digest('hex')}" }`,
        '',
      ].join('\n'),
    );

    const server = await startServer(configFile);
    const pid = server.proc.pid!;
    const base = new URL(server.url);
    const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
    const auth = { 'x-api-key': apiKey };

    // Warm the fixed renditions once so that "hit" means a cache hit.
    const hitPaths = images.flatMap((name) => [`/img/${name}?w=200`, `/img/${name}?w=480&fm=webp`]);
    const etags = new Map<string, string>();
    const rssStart = rssOf(pid);
    for (const p of hitPaths) {
      const r = await request(agent, base, p, auth);
      if (r.etag) etags.set(p, r.etag);
    }

    const samples: Sample[] = [];
    let missCounter = 0;
    let rssPeak = rssStart ?? 0;
    let rssAfterWarmup: number | undefined;
    const rssTimeline: { t: number; rss: number }[] = [];
    const started = performance.now();
    const endAt = started + seconds * 1000;
    const warmupAt = started + Math.min(30_000, seconds * 250);
    let serverDied = false;
    server.proc.once('exit', () => {
      serverDied = true;
    });
    const sampler = setInterval(() => {
      const rss = rssOf(pid);
      if (rss === undefined) return;
      rssPeak = Math.max(rssPeak, rss);
      const now = performance.now();
      rssTimeline.push({ t: Math.round((now - started) / 1000), rss });
      if (rssAfterWarmup === undefined && now >= warmupAt) rssAfterWarmup = rss;
    }, 500);
    let lastReport = started;

    const worker = async () => {
      while (performance.now() < endAt && !serverDied) {
        const kind = pickKind();
        let p: string;
        let headers: Record<string, string> = auth;
        const img = images[Math.floor(Math.random() * images.length)];
        switch (kind) {
          case 'hit':
            p = hitPaths[Math.floor(Math.random() * hitPaths.length)];
            break;
          case 'miss': {
            const n = missCounter++;
            p = `/img/${img}?w=${64 + ((n * 37) % 1900)}&q=${40 + (n % 50)}`;
            break;
          }
          case 'conditional': {
            p = hitPaths[Math.floor(Math.random() * hitPaths.length)];
            const etag = etags.get(p);
            headers = etag ? { ...auth, 'if-none-match': etag } : auth;
            break;
          }
          case 'bad_request':
            p = Math.random() < 0.5 ? `/img/${img}?w=abc` : `/img/${img}?fm=bogus&w=100`;
            break;
          case 'unknown_key':
            p = hitPaths[0];
            headers = { 'x-api-key': randomBytes(18).toString('base64url') };
            break;
          case 'not_found':
            p = `/img/missing-${Math.floor(Math.random() * 1000)}.jpg?w=100`;
            break;
        }
        const t0 = performance.now();
        const r = await request(agent, base, p, headers);
        samples.push({ kind, status: r.status, ms: performance.now() - t0 });
        if (kind === 'hit' && r.etag && !etags.has(p)) etags.set(p, r.etag);
        const now = performance.now();
        if (!values.json && now - lastReport >= 10_000) {
          lastReport = now;
          const done = Math.round((now - started) / 1000);
          process.stderr.write(`  ${done}s: ${samples.length} requests, server RSS ${mib(rssOf(pid))}\n`);
        }
      }
    };
    await Promise.all(Array.from({ length: clients }, worker));
    clearInterval(sampler);
    const elapsed = (performance.now() - started) / 1000;
    const rssEnd = rssOf(pid);
    const diedDuringRun = serverDied;
    // How much of the memory is the result cache's memory tier (bounded by cache.memory.maxBytes).
    const cacheBytes = await fetch(`${server.url}/_metrics`)
      .then((r) => r.text())
      .then((t) => Number(/^imagegate_cache_memory_bytes (\d+)/m.exec(t)?.[1]))
      .catch(() => undefined);
    agent.destroy();
    await server.stop();

    // ------------------------------------------------------------------ summary
    const byStatus: Record<string, number> = {};
    const byKind: Record<string, Record<string, number>> = {};
    for (const s of samples) {
      byStatus[s.status] = (byStatus[s.status] ?? 0) + 1;
      (byKind[s.kind] ??= {})[s.status] = (byKind[s.kind][s.status] ?? 0) + 1;
    }
    const latency = (list: Sample[]) => {
      const arr = Float64Array.from(list.map((s) => s.ms)).sort();
      return { p50: percentile(arr, 50), p99: percentile(arr, 99), max: arr.length ? arr[arr.length - 1] : 0 };
    };
    const overall = latency(samples);
    const perKind = Object.fromEntries(MIX.map(([k]) => [k, latency(samples.filter((s) => s.kind === k))]));
    const fatal5xx = samples.filter((s) => s.status >= 500 && s.status !== 503).length;
    const clientErrors = samples.filter((s) => s.status === -1).length;
    const shed = byStatus['503'] ?? 0;
    const summary = {
      seconds: Math.round(elapsed * 10) / 10,
      clients,
      images: images.length,
      requests: samples.length,
      requestsPerSecond: Math.round(samples.length / elapsed),
      byStatus,
      byKind,
      latencyMs: { ...overall, byKind: perKind },
      rss: { start: rssStart, afterWarmup: rssAfterWarmup, peak: rssPeak, end: rssEnd },
      memoryCacheBytes: cacheBytes,
      serverErrorsOtherThan503: fatal5xx,
      shed503: shed,
      connectionErrors: clientErrors,
      serverDied: diedDuringRun,
    };

    if (values.json) {
      console.log(JSON.stringify(summary, null, 2));
    } else {
      const f = (n: number) => n.toFixed(1);
      console.log(`\nimagegate soak: ${summary.seconds} s, ${clients} clients, ${images.length} originals`);
      console.log(`requests      ${summary.requests} (${summary.requestsPerSecond} req/s)`);
      console.log(`by status     ${Object.entries(byStatus).map(([k, v]) => `${k === '-1' ? 'conn-error' : k}: ${v}`).join(', ')}`);
      for (const [k] of MIX) {
        const counts = byKind[k] ?? {};
        const l = perKind[k];
        console.log(
          `  ${k.padEnd(12)} ${Object.entries(counts).map(([s, n]) => `${s}: ${n}`).join(', ').padEnd(36)} p50 ${f(l.p50)} ms, p99 ${f(l.p99)} ms`,
        );
      }
      console.log(`latency       p50 ${f(overall.p50)} ms, p99 ${f(overall.p99)} ms, max ${f(overall.max)} ms`);
      console.log(`server RSS    start ${mib(rssStart)}, after warm-up ${mib(rssAfterWarmup)}, peak ${mib(rssPeak)}, end ${mib(rssEnd)}`);
      console.log(`memory cache  ${cacheBytes === undefined || Number.isNaN(cacheBytes) ? 'n/a' : mib(cacheBytes)} of derivatives held at the end`);
      const growth = rssEnd !== undefined && rssAfterWarmup !== undefined ? rssEnd - rssAfterWarmup : undefined;
      console.log(
        `targets       5xx other than 503: ${fatal5xx} ${fatal5xx === 0 ? '(ok)' : '(FAIL)'}; 503 shed: ${shed}; ` +
          `RSS end − after warm-up: ${growth === undefined ? 'n/a' : mib(growth)}${diedDuringRun ? '; SERVER DIED' : ''}`,
      );
    }
    return fatal5xx > 0 || diedDuringRun ? 1 : 0;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
