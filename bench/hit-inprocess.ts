/**
 * The cache-hit path in one process, without the network: real `IncomingMessage` and
 * `ServerResponse` objects over a socket that discards what is written, handed to the request
 * listener `imagegate serve` uses (src/http/node.ts; @hono/node-server's in older checkouts) or to a bare node:http handler
 * sending the same kind of answer. What it measures is the user-space CPU per hit (API key,
 * usage record, metrics, dashboard sample, request log at info to standard output, memory-cache
 * lookup, Hono and the adapter); the kernel's share of a real exchange (loopback TCP, the same
 * for every server) is left out. Contenders alternate round by round, so other load on the
 * machine falls on each alike; per contender the median and the range over rounds, and the
 * ratio of each later checkout to the first per round.
 *
 *   node --import tsx bench/hit-inprocess.ts [CHECKOUT …] [--plan] [--level info] [--rounds 15] [--requests 8000] >/dev/null
 *
 * CHECKOUT: folders of imagegate checkouts with their node_modules (default: this one), e.g. a
 * worktree of an earlier commit first, for before/after figures from one process. Standard
 * output takes the request log; the results go to standard error.
 */
import http from 'node:http';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { getRequestListener } from '@hono/node-server';
import { BENCH_KEY } from './contenders.ts';
import { PHOTO_ROOT, PHOTOS, imagegatePath } from './ops.ts';

const { values: flags, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    plan: { type: 'boolean', default: false },
    level: { type: 'string', default: 'info' },
    rounds: { type: 'string', default: '15' },
    requests: { type: 'string', default: '8000' },
  },
});
const rounds = Math.max(1, Number(flags.rounds) || 15);
const perRound = Math.max(100, Number(flags.requests) || 8000);
const checkouts = positionals.length ? positionals.map((p) => path.resolve(p)) : [path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')];
const url = imagegatePath(PHOTOS[0], 'jpeg');
const out = (s: string) => process.stderr.write(`${s}\n`);

type Listener = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** A socket that accepts every write at once and keeps nothing. */
const socket = new Duplex({
  read() {},
  write(_chunk, _enc, done) {
    done();
  },
  writev(_chunks, done) {
    done();
  },
}) as unknown as import('node:net').Socket;
Object.assign(socket, { setTimeout: () => socket, remoteAddress: '127.0.0.1' });
const rawHeaders = ['Host', '127.0.0.1:8080', 'X-API-Key', BENCH_KEY, 'Connection', 'keep-alive'];

/** One request through `listener`, as node:http would hand it over; resolves with the status once the response closed. */
function exchange(listener: Listener): Promise<number> {
  return new Promise((resolve) => {
    const req = new http.IncomingMessage(socket);
    Object.assign(req, { method: 'GET', url, httpVersionMajor: 1, httpVersionMinor: 1, httpVersion: '1.1', rawHeaders, complete: true });
    req.headers = { host: '127.0.0.1:8080', 'x-api-key': BENCH_KEY, connection: 'keep-alive' };
    req.push(null);
    const res = new http.ServerResponse(req);
    res.assignSocket(socket);
    res.on('finish', () => {
      // What node:http does after a response: detach, then 'close' on the next tick.
      res.detachSocket(socket);
      process.nextTick(() => {
        res.emit('close');
        resolve(res.statusCode);
      });
    });
    listener(req, res);
  });
}

async function imagegate(checkout: string): Promise<{ listener: Listener; close: () => Promise<void> }> {
  process.env.IMAGEGATE_BENCH_KEY = BENCH_KEY;
  const { parseConfig } = await import(path.join(checkout, 'src/config/load.ts'));
  const { createApp } = await import(path.join(checkout, 'src/http/app.ts'));
  const { createLogger } = await import(path.join(checkout, 'src/log.ts'));
  const config = parseConfig(
    {
      server: { host: '127.0.0.1', port: 8080, logLevel: flags.level },
      sources: { photos: { type: 'fs', root: PHOTO_ROOT } },
      routes: [{ match: '*', source: 'photos' }],
      keys: [{ id: 'bench', valueFromEnv: 'IMAGEGATE_BENCH_KEY', ...(flags.plan ? { plan: 'bench' } : {}) }],
      ...(flags.plan ? { plans: { bench: { rate: 1_000_000, burst: 1_000_000, quota: { limit: 1_000_000_000, period: 'month' } } } } : {}),
      cache: { enabled: true },
    },
    { env: process.env },
  );
  // The logger the Node server makes (buffered, standard output).
  const ig = await createApp(config, { logger: createLogger(flags.level, { buffered: true }) });
  // The listener `imagegate serve` uses: the checkout's own (src/http/node.ts), or, in checkouts
  // from before it, @hono/node-server's.
  const own = existsSync(path.join(checkout, 'src/http/node.ts')) ? await import(path.join(checkout, 'src/http/node.ts')) : undefined;
  const listener = (own ? own.nodeListener(ig) : getRequestListener(ig.app.fetch)) as Listener;
  // The first request renders (and may be shed on a busy machine): wait for a 200, then every request is a memory hit.
  for (let i = 0; (await exchange(listener)) !== 200; i++) if (i > 10) throw new Error(`${checkout}: no 200 for ${url}`);
  return { listener, close: () => ig.close() };
}

/** The same bytes and the same kind of headers, from a plain node:http handler. */
function bare(): Listener {
  const body = Buffer.alloc(12_692);
  const headers = { 'Content-Type': 'image/jpeg', 'Content-Length': String(body.length), 'Cache-Control': 'public, max-age=86400', ETag: '"0123456789abcdef0123456789abcdef"' };
  return (_req, res) => {
    res.writeHead(200, headers);
    res.end(body);
  };
}

/** CPU µs per request over `n` requests, one at a time, the event loop turning between them as on a server. */
async function measure(listener: Listener, n: number): Promise<number> {
  const t = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    if ((await exchange(listener)) !== 200) throw new Error('a hit was not answered 200');
    await new Promise(setImmediate);
  }
  const u = process.cpuUsage(t);
  return (u.user + u.system) / n;
}

const contenders: { name: string; listener: Listener; close?: () => Promise<void>; us: number[] }[] = [{ name: 'bare node:http', listener: bare(), us: [] }];
for (const c of checkouts) contenders.push({ name: path.relative(process.cwd(), c) || '.', ...(await imagegate(c)), us: [] });
for (const c of contenders) await measure(c.listener, perRound); // warm-up
for (let r = 0; r < rounds; r++) {
  const order = r % 2 ? [...contenders].reverse() : contenders;
  for (const c of order) c.us.push(await measure(c.listener, perRound));
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
out(`${rounds} rounds of ${perRound} hits; key ${flags.plan ? 'with' : 'without'} a plan; log level ${flags.level}`);
for (const c of contenders) out(`${c.name.padEnd(24)} CPU µs/hit median ${median(c.us).toFixed(2)} (range ${Math.min(...c.us).toFixed(2)}–${Math.max(...c.us).toFixed(2)})`);
const [, first, ...later] = contenders;
for (const c of later) {
  const ratio = c.us.map((x, i) => x / first.us[i]);
  out(`${c.name} ÷ ${first.name}: median ${median(ratio).toFixed(3)} (range ${Math.min(...ratio).toFixed(3)}–${Math.max(...ratio).toFixed(3)})`);
}
for (const c of contenders) await c.close?.();
process.exit(0);
