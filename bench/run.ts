/**
 * `npm run bench`: one run, printed as a table of ratios.
 *
 *  - transform throughput for `?w=400` as JPEG, WebP and AVIF at 2, 8 and 32 clients: imagegate
 *    (its real server, result cache off) against raw sharp doing the same operation in-process
 *    (the physical limit) and against ipx serving the same folder;
 *  - repeated-URL (cache hit) throughput against a bare node:http server sending the same bytes;
 *  - p99 latency and peak RSS (VmHWM) of the server process at each client count.
 *
 * Every contender runs in its own process with the same allocator settings (BENCH_ENV below);
 * the load generator runs in this process, over loopback, bounded by time and request count.
 *
 * Options: --quick (short runs), --rounds N (best of N, default 1), --clients 2,8,32,
 * --formats jpeg,webp,avif, --no-ipx, --no-hit, --no-transform, --out FILE (markdown),
 * --log-level LEVEL (imagegate's server.logLevel, default info), --entry bench|cli.
 */
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir, cpus, totalmem, loadavg } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runLoad, type LoadResult } from './load.ts';
import { FORMATS, PHOTO_ROOT, PHOTOS, imagegatePath, ipxPath, missingPhotos, type Format } from './ops.ts';
import { peakRssMiB, runChildJson, type Child } from './procs.ts';
import { BENCH_KEY, benchEnv, startBare, startImagegate as startImagegateProcess, startIpx } from './contenders.ts';

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string', default: '1' },
    clients: { type: 'string', default: '2,8,32' },
    formats: { type: 'string', default: FORMATS.join(',') },
    'no-ipx': { type: 'boolean', default: false },
    'no-hit': { type: 'boolean', default: false },
    'no-transform': { type: 'boolean', default: false },
    'no-coalesce': { type: 'boolean', default: false },
    out: { type: 'string' },
    'log-level': { type: 'string', default: 'info' },
    /** `bench` (bench/servers/imagegate.ts: the CLI's server plus configureSharp and metadata reuse) or `cli` (`imagegate serve` as is). */
    entry: { type: 'string', default: 'bench' },
  },
});

const rounds = Math.max(1, Math.min(5, Number(flags.rounds) || 1));
const clientCounts = flags.clients.split(',').map(Number).filter((n) => n > 0 && n <= 256);
const formats = flags.formats.split(',').filter((f): f is Format => (FORMATS as string[]).includes(f));
const seconds = (fmt: Format | 'hit') => (flags.quick ? (fmt === 'avif' ? 6 : 3) : fmt === 'avif' ? 15 : fmt === 'hit' ? 6 : 12);
const MAX_REQUESTS = 200_000;
const env = benchEnv();
const work = mkdtempSync(path.join(tmpdir(), 'imagegate-bench-'));
const log = (s: string) => process.stderr.write(`${s}\n`);

function startImagegate(cache: boolean): Promise<Child> {
  return startImagegateProcess({ work, cache, logLevel: flags['log-level'], entry: flags.entry === 'cli' ? 'cli' : 'bench' });
}

async function raw(fmt: Format, clients: number): Promise<LoadResult & { peakRssMiB: number }> {
  return runChildJson<LoadResult & { peakRssMiB: number }>(
    ['--import', 'tsx', 'bench/raw-worker.ts', fmt, String(clients), String(seconds(fmt) * 1000), String(MAX_REQUESTS)],
    env,
  );
}

function best<T extends LoadResult>(a: T | undefined, b: T): T {
  return !a || b.rps > a.rps ? b : a;
}

const fmt1 = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : '–');
const ratio = (a: number, b: number) => (b > 0 && Number.isFinite(a) ? `${(a / b).toFixed(2)}×` : '–');

interface TransformRow {
  fmt: Format;
  clients: number;
  ig?: LoadResult;
  raw?: LoadResult;
  ipx?: LoadResult;
}
interface MemRow {
  clients: number;
  igPeak: number;
  ipxPeak: number;
  rawPeak: number;
}
interface CoalesceRow {
  clients: number;
  ig: LoadResult;
  raw?: LoadResult;
}
interface HitRow {
  clients: number;
  ig?: LoadResult;
  bare?: LoadResult;
  ipx?: LoadResult;
}

async function main(): Promise<void> {
  const missing = missingPhotos();
  if (missing.length) throw new Error(`missing photos under ${PHOTO_ROOT}: ${missing.join(', ')} (apt-get install mate-backgrounds lomiri-wallpapers-20.04)`);
  log(`imagegate bench: ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, env ${JSON.stringify(env)}, rounds ${rounds}${flags.quick ? ', quick' : ''}`);

  const startLoad = loadavg()[0].toFixed(2);
  const transformRows: TransformRow[] = [];
  const memRows: MemRow[] = [];
  const hitRows: HitRow[] = [];
  const coalesceRows: CoalesceRow[] = [];
  const headers = { 'X-API-Key': BENCH_KEY };

  if (!flags['no-transform']) {
    for (const clients of clientCounts) {
      // Fresh servers per client count, so VmHWM is the peak of this client count alone.
      const ig = await startImagegate(false);
      const ipx = flags['no-ipx'] ? undefined : await startIpx(work);
      let rawPeak = 0;
      try {
        for (const fmt of formats) {
          const row: TransformRow = { fmt, clients };
          for (let r = 0; r < rounds; r++) {
            const durationMs = seconds(fmt) * 1000;
            const rr = await raw(fmt, clients);
            rawPeak = Math.max(rawPeak, rr.peakRssMiB);
            row.raw = best(row.raw, rr);
            row.ig = best(row.ig, await runLoad({ base: ig.url, paths: (i) => imagegatePath(PHOTOS[i % PHOTOS.length], fmt, i), concurrency: clients, durationMs, maxRequests: MAX_REQUESTS, headers, warmup: Math.min(clients, 4), cpuPid: ig.pid }));
            if (ipx) row.ipx = best(row.ipx, await runLoad({ base: ipx.url, paths: PHOTOS.map((p) => ipxPath(p, fmt)), concurrency: clients, durationMs, maxRequests: MAX_REQUESTS, warmup: Math.min(clients, 4), cpuPid: ipx.pid }));
          }
          log(
            `[load ${loadavg()[0].toFixed(1)}] ${fmt.padEnd(4)} ${String(clients).padStart(2)} clients: imagegate ${fmt1(row.ig!.rps)}/s (${JSON.stringify(row.ig!.statuses)}), raw ${fmt1(row.raw!.rps)}/s` +
              (row.ipx ? `, ipx ${fmt1(row.ipx.rps)}/s (${JSON.stringify(row.ipx.statuses)})` : ''),
          );
          transformRows.push(row);
        }
        if (formats.includes('jpeg') && !flags['no-coalesce']) {
          // The same three URLs repeated: concurrent identical requests share one render.
          const r = await runLoad({ base: ig.url, paths: PHOTOS.map((p) => imagegatePath(p, 'jpeg')), concurrency: clients, durationMs: seconds('jpeg') * 1000, maxRequests: MAX_REQUESTS, headers, warmup: Math.min(clients, 4) });
          const raw = transformRows.find((t) => t.fmt === 'jpeg' && t.clients === clients)?.raw;
          coalesceRows.push({ clients, ig: r, raw });
          log(`jpeg ${String(clients).padStart(2)} clients, identical URLs (coalescing): imagegate ${fmt1(r.rps)}/s (${JSON.stringify(r.statuses)})`);
        }
        memRows.push({ clients, igPeak: peakRssMiB(ig.pid), ipxPeak: ipx ? peakRssMiB(ipx.pid) : NaN, rawPeak });
      } finally {
        await ig.stop();
        await ipx?.stop();
      }
    }
  }

  if (!flags['no-hit']) {
    const ig = await startImagegate(true);
    const photo = PHOTOS[0];
    const url = imagegatePath(photo, 'jpeg');
    const first = await fetch(`${ig.url}${url}`, { headers });
    if (first.status !== 200) throw new Error(`imagegate answered ${first.status} for ${url}: ${await first.text()}`);
    const bytesFile = path.join(work, 'derivative.bin');
    writeFileSync(bytesFile, Buffer.from(await first.arrayBuffer()));
    const bare = await startBare(work, bytesFile, first.headers.get('content-type') ?? 'image/jpeg');
    try {
      for (const clients of clientCounts) {
        const row: HitRow = { clients };
        for (let r = 0; r < rounds; r++) {
          const durationMs = seconds('hit') * 1000;
          row.bare = best(row.bare, await runLoad({ base: bare.url, paths: [url], concurrency: clients, durationMs, maxRequests: MAX_REQUESTS * 5, warmup: 200, cpuPid: bare.pid }));
          row.ig = best(row.ig, await runLoad({ base: ig.url, paths: [url], concurrency: clients, durationMs, maxRequests: MAX_REQUESTS * 5, headers, warmup: 200, cpuPid: ig.pid }));
        }
        log(`hit  ${String(clients).padStart(2)} clients: imagegate ${fmt1(row.ig!.rps, 0)}/s (${JSON.stringify(row.ig!.statuses)}), bare node:http ${fmt1(row.bare!.rps, 0)}/s`);
        hitRows.push(row);
      }
      if (!flags['no-ipx']) {
        // ipx has no result cache: the same repeated URL re-renders every time.
        const ipx = await startIpx(work);
        try {
          const clients = clientCounts.at(-1)!;
          const r = await runLoad({ base: ipx.url, paths: [ipxPath(photo, 'jpeg')], concurrency: clients, durationMs: seconds('jpeg') * 1000, maxRequests: MAX_REQUESTS });
          hitRows.at(-1)!.ipx = r;
        } finally {
          await ipx.stop();
        }
      }
    } finally {
      await bare.stop();
      await ig.stop();
    }
  }

  const md = `Load average (1 min) at start ${startLoad}, at end ${loadavg()[0].toFixed(2)}; ${new Date().toISOString()}.\n\n${report(transformRows, memRows, hitRows, coalesceRows)}`;
  console.log(md);
  if (flags.out) writeFileSync(flags.out, md);
}

function report(rows: TransformRow[], mem: MemRow[], hits: HitRow[], coalesced: CoalesceRow[]): string {
  const out: string[] = [];
  if (rows.length) {
    out.push('### Transform throughput (`?w=400`, q 75, result cache off, every request a distinct derivative), responses/s', '');
    out.push('| format | clients | imagegate | raw sharp | ipx | imagegate ÷ raw (≥ 0.95) | imagegate ÷ ipx (> 1) | CPU ms/image imagegate · raw · ipx | CPU efficiency vs raw | p99 imagegate ms | p99 ipx ms | 503 sheds |');
    out.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const r of rows) {
      out.push(
        `| ${r.fmt} | ${r.clients} | ${fmt1(r.ig?.rps ?? NaN)} | ${fmt1(r.raw?.rps ?? NaN)} | ${fmt1(r.ipx?.rps ?? NaN)} | ${ratio(r.ig?.rps ?? NaN, r.raw?.rps ?? NaN)} | ${ratio(r.ig?.rps ?? NaN, r.ipx?.rps ?? NaN)} | ${fmt1(r.ig?.cpuMsPerOk ?? NaN, 0)} · ${fmt1(r.raw?.cpuMsPerOk ?? NaN, 0)} · ${fmt1(r.ipx?.cpuMsPerOk ?? NaN, 0)} | ${ratio(r.raw?.cpuMsPerOk ?? NaN, r.ig?.cpuMsPerOk ?? NaN)} | ${fmt1(r.ig?.p99ms ?? NaN, 0)} | ${fmt1(r.ipx?.p99ms ?? NaN, 0)} | ${r.ig?.shed ?? 0} |`,
      );
    }
    const errs = rows.filter((r) => (r.ig?.errors ?? 0) > 0);
    if (errs.length) out.push('', `imagegate errors other than 503: ${errs.map((r) => `${r.fmt}@${r.clients}: ${JSON.stringify(r.ig?.statuses)}`).join('; ')}`);
    out.push('');
  }
  if (coalesced.length) {
    out.push('### Identical URLs (`?w=400` JPEG, the same three URLs repeated, result cache off): request coalescing', '');
    out.push('| clients | imagegate responses/s | ÷ raw sharp renders/s | 503 sheds |');
    out.push('| ---: | ---: | ---: | ---: |');
    for (const c of coalesced) out.push(`| ${c.clients} | ${fmt1(c.ig.rps)} | ${ratio(c.ig.rps, c.raw?.rps ?? NaN)} | ${c.ig.shed} |`);
    out.push('');
  }
  if (mem.length) {
    out.push('### Peak RSS (VmHWM) over the transform runs, MiB', '');
    out.push('| clients | imagegate (≤ 512) | ipx | raw sharp (own process) |');
    out.push('| ---: | ---: | ---: | ---: |');
    for (const m of mem) out.push(`| ${m.clients} | ${fmt1(m.igPeak, 0)} | ${fmt1(m.ipxPeak, 0)} | ${fmt1(m.rawPeak, 0)} |`);
    out.push('');
  }
  if (hits.length) {
    out.push('### Repeated URL (cache hit), responses/s', '');
    out.push('| clients | imagegate (memory hit) | bare node:http, same bytes | ratio (≥ 0.8) | server CPU µs/response imagegate · bare | p99 imagegate ms | p99 bare ms |');
    out.push('| ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const h of hits) {
      out.push(`| ${h.clients} | ${fmt1(h.ig?.rps ?? NaN, 0)} | ${fmt1(h.bare?.rps ?? NaN, 0)} | ${ratio(h.ig?.rps ?? NaN, h.bare?.rps ?? NaN)} | ${fmt1((h.ig?.cpuMsPerOk ?? NaN) * 1000, 0)} · ${fmt1((h.bare?.cpuMsPerOk ?? NaN) * 1000, 0)} | ${fmt1(h.ig?.p99ms ?? NaN, 1)} | ${fmt1(h.bare?.p99ms ?? NaN, 1)} |`);
    }
    const withIpx = hits.find((h) => h.ipx);
    if (withIpx) out.push('', `ipx on the same repeated URL (no result cache) at ${withIpx.clients} clients: ${fmt1(withIpx.ipx!.rps)}/s = ${ratio(withIpx.ipx!.rps, withIpx.bare?.rps ?? NaN)} of bare node:http.`);
    out.push('');
  }
  return out.join('\n');
}

try {
  await main();
} finally {
  rmSync(work, { recursive: true, force: true });
}
