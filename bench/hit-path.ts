/**
 * Hit-path CPU per request, in process: the same URL repeated against an app whose memory cache
 * already holds the answer, through `app.fetch` (no sockets, so the figure is the request path
 * itself). With `--before DIR` (another checkout of the project, its dependencies installed) the
 * same requests run against that checkout's app too, interleaved round by round in this one
 * process, and the ratio after ÷ before is printed per case with its spread over the rounds.
 *
 *   node --import tsx bench/hit-path.ts [--before DIR] [--rounds 60] [--requests 500]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { createHash } from 'node:crypto';
import sharp from 'sharp';

const { values: flags } = parseArgs({
  options: { before: { type: 'string' }, rounds: { type: 'string', default: '60' }, requests: { type: 'string', default: '500' } },
});
const rounds = Number(flags.rounds);
const requests = Number(flags.requests);
const KEY = 'bench-key-0123456789abcdefghijkl';

type App = { fetch(req: Request): Response | Promise<Response> };

async function load(root: string, images: string): Promise<App> {
  const { parseConfig } = await import(pathToFileURL(path.join(root, 'src/config/load.ts')).href);
  const { createApp } = await import(pathToFileURL(path.join(root, 'src/http/app.ts')).href);
  const { createLogger } = await import(pathToFileURL(path.join(root, 'src/log.ts')).href);
  const config = parseConfig({
    server: { logLevel: 'silent' },
    sources: { local: { type: 'fs', root: images }, open: { type: 'fs', root: images, access: 'public' } },
    routes: [
      { match: 'open/*', source: 'open', key: '{*}' },
      { match: '*', source: 'local' },
    ],
    keys: [{ id: 'bench', sha256: createHash('sha256').update(KEY).digest('hex') }],
  });
  return (await createApp(config, { logger: createLogger('silent') })).app;
}

const CASES: Array<{ name: string; url: string; headers: Record<string, string> }> = [
  { name: 'keyed hit (?w=100)', url: 'http://localhost/photo.jpg?w=100', headers: { 'X-API-Key': KEY } },
  { name: 'keyed 304 (If-None-Match)', url: 'http://localhost/photo.jpg?w=100', headers: { 'X-API-Key': KEY } },
  { name: 'public-source hit, auto=format', url: 'http://localhost/open/photo.jpg?w=100&auto=format', headers: { Accept: 'image/webp,*/*' } },
];

async function run(app: App, c: (typeof CASES)[number], etag: string | undefined, n: number): Promise<number> {
  const headers = etag ? { ...c.headers, 'If-None-Match': etag } : c.headers;
  const start = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const res = await app.fetch(new Request(c.url, { headers }));
    await res.arrayBuffer();
  }
  const used = process.cpuUsage(start);
  return (used.user + used.system) / n;
}

function quantile(xs: number[], q: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

const images = mkdtempSync(path.join(tmpdir(), 'imagegate-hit-'));
try {
  await sharp({ create: { width: 800, height: 600, channels: 3, background: '#4a7' } }).jpeg().toFile(path.join(images, 'photo.jpg'));
  const sides: Array<{ name: string; app: App }> = [{ name: 'after', app: await load(path.resolve(import.meta.dirname, '..'), images) }];
  if (flags.before) sides.unshift({ name: 'before', app: await load(path.resolve(flags.before), images) });
  const etags = new Map<string, string>();
  for (const side of sides) {
    for (const c of CASES) {
      const res = await side.app.fetch(new Request(c.url, { headers: c.headers }));
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`${side.name} ${c.name}: ${res.status}`);
      etags.set(c.name, res.headers.get('etag')!);
      await run(side.app, c, c.name.includes('304') ? etags.get(c.name) : undefined, 500); // warm-up
    }
  }
  console.log(`node ${process.version}, ${rounds} rounds × ${requests} requests per case and side, CPU µs per request (user + system)`);
  for (const c of CASES) {
    const per: Record<string, number[]> = {};
    for (let r = 0; r < rounds; r++) {
      // Interleaved, and the order alternates, so drift in machine load falls on both sides alike.
      const order = r % 2 === 0 ? sides : [...sides].reverse();
      for (const side of order) (per[side.name] ??= []).push(await run(side.app, c, c.name.includes('304') ? etags.get(c.name) : undefined, requests));
    }
    const line = sides.map((s) => `${s.name} ${quantile(per[s.name]!, 0.5).toFixed(1)}`).join(' · ');
    if (per.before) {
      // Per round, after ÷ before: the median, and the middle half of the rounds as the spread.
      const ratios = per.after!.map((a, i) => a / per.before![i]!);
      console.log(`${c.name}: median ${line} µs; after ÷ before ${quantile(ratios, 0.5).toFixed(3)} (middle half of rounds ${quantile(ratios, 0.25).toFixed(3)}–${quantile(ratios, 0.75).toFixed(3)})`);
    } else console.log(`${c.name}: median ${line} µs`);
  }
} finally {
  rmSync(images, { recursive: true, force: true });
}
