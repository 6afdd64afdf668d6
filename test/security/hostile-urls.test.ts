/**
 * Property tests over hostile paths and query strings, in process (`app.request`) and over a
 * real socket to the Node server (raw request lines, no client-side normalisation):
 * never a 500, never a byte from outside an fs source root, never a source the routes do not
 * expose, never a connection from the HTTP source to a private address.
 *
 * `FUZZ_RUNS=20000 npm test -- test/security/hostile-urls.test.ts` runs the long version.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import sharp from 'sharp';
import { TEST_KEY, testConfig } from '../helpers/app.ts';
import { createApp, type ImagegateApp } from '../../src/http/app.ts';
import { createStorages } from '../../src/storage/index.ts';
import type { Storage } from '../../src/storage/types.ts';
import { startServer, type RunningServer } from '../../src/server.ts';
import { createLogger } from '../../src/log.ts';

const RUNS = Number(process.env.FUZZ_RUNS) || 300;
const CANARY = 'CANARY-7f3d9c1e-outside-the-root';

interface Call {
  source: string;
  method: 'head' | 'get';
  key: string;
}

let base: string;
let target: http.Server;
const targetHits: string[] = [];
const calls: Call[] = [];
let ig: ImagegateApp;
let server: RunningServer;

function recording(name: string, s: Storage): Storage {
  return {
    head: (key, signal) => {
      calls.push({ source: name, method: 'head', key });
      return s.head(key, signal);
    },
    get: (key, signal) => {
      calls.push({ source: name, method: 'get', key });
      return s.get(key, signal);
    },
  };
}

before(async () => {
  base = mkdtempSync(path.join(tmpdir(), 'imagegate-fuzz-'));
  const pub = path.join(base, 'public');
  const hidden = path.join(base, 'private');
  mkdirSync(path.join(pub, 'sub'), { recursive: true });
  mkdirSync(hidden);
  await sharp({ create: { width: 64, height: 48, channels: 3, background: '#4080c0' } }).jpeg().toFile(path.join(pub, 'ok.jpg'));
  await sharp({ create: { width: 32, height: 32, channels: 4, background: '#00ff0080' } }).png().toFile(path.join(pub, 'sub', 'ok.png'));
  writeFileSync(path.join(base, 'canary.txt'), `${CANARY}\n`);
  writeFileSync(path.join(hidden, 'secret.jpg'), Buffer.concat([await sharp(path.join(pub, 'ok.jpg')).toBuffer(), Buffer.from(CANARY)]));
  writeFileSync(path.join(hidden, 'canary.txt'), CANARY);
  symlinkSync(path.join(base, 'canary.txt'), path.join(pub, 'link-out.txt'));
  symlinkSync(hidden, path.join(pub, 'link-dir'));

  target = http.createServer((req, res) => {
    targetHits.push(req.url ?? '');
    res.end(CANARY);
  });
  await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
  const targetPort = (target.address() as AddressInfo).port;

  const config = testConfig(pub, {
    server: { basePath: '/dev', logLevel: 'silent' },
    sources: {
      pub: { type: 'fs', root: pub },
      hidden: { type: 'fs', root: hidden },
      remote: { type: 'http', baseUrl: `http://127.0.0.1:${targetPort}/origin/`, timeoutMs: 2000 },
    },
    routes: [
      { match: 'pub/*', source: 'pub', key: '{*}' },
      { match: 'remote/*', source: 'remote', key: '{*}' },
    ],
    transform: { maxOutputSize: 256 },
  });
  const real = await createStorages(config.sources);
  const storages = Object.fromEntries(Object.entries(real).map(([n, s]) => [n, recording(n, s)]));
  ig = await createApp(config, { storages, logger: createLogger('silent') });
  server = await startServer(config, { port: 0, host: '127.0.0.1' }, { storages, logger: createLogger('silent') });
});

after(async () => {
  await server?.close();
  await ig?.close();
  await new Promise((r) => target?.close(r));
  rmSync(base, { recursive: true, force: true });
});

// ------------------------------------------------------------------------------------ arbitraries

const dangerousSegment = fc.constantFrom(
  '..', '.', '%2e%2e', '%2E%2E', '.%2e', '%2e.', '%2f', '%2F', '%5c', '%5C', '\\', '%00', '%01', '%0a', '',
  '~', 'pub', 'remote', 'hidden', 'private', 'canary.txt', 'ok.jpg', 'sub', 'link-out.txt', 'link-dir',
  'secret.jpg', '..%2f', '%2e%2e%2f', '%c0%ae%c0%ae', '%252e%252e', '%25', '%', '%zz', '\u2025', '．．',
  '%u002e%u002e', 'etc', 'passwd', '_admin', '_health', 'dev', 'C:', 'file:', ';', '..;', '%3b', '*',
  '%2A', '{*}', '{id}', 'a'.repeat(300), '..\\..\\', 'private%2fsecret.jpg', 'link-dir%2fsecret.jpg',
);
const segment = fc.oneof(
  { weight: 3, arbitrary: dangerousSegment },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }).map(encodeURIComponent) },
  { weight: 1, arbitrary: fc.string({ maxLength: 6, unit: 'binary' }).map((s) => encodeURIComponent(s)) },
);
const prefix = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('/dev/pub/', '/dev/pub/sub/') },
  { weight: 2, arbitrary: fc.constantFrom('/dev/', '/', '//dev/', '/dev//', '/DEV/', '/dev/remote/', '/dev/pub/link-dir/', '/dev/./pub/', '/dev/pub/../') },
);
const hostilePath = fc.tuple(prefix, fc.array(segment, { minLength: 0, maxLength: 6 })).map(([p, segs]) => p + segs.join('/'));

const paramName = fc.oneof(
  fc.constantFrom('w', 'h', 'fm', 'q', 'dpr', 'rect', 'mark', 'mark64', 'txt', 'txt64', 'fit', 'crop', 's', 'expires', 'bg',
    'pad', 'border', 'fp-x', 'rot', 'trim', 'auto', 'dl', 'px', 'blur', 'ar', 'max-w', 'api_key', 'x-api-key', '__proto__',
    'constructor', 'mark-w', 'blend', 'duotone', 'border-radius', 'trim-color', 'cs', 'flip', 'orient', 'lossless'),
  fc.string({ maxLength: 8 }).map(encodeURIComponent),
);
const paramValue = fc.oneof(
  fc.constantFrom('-1', '0', '1', '0.5', '3', 'NaN', 'Infinity', '-Infinity', '1e309', '99999999', '8193', 'abc', '', '%00',
    '..%2f..%2fcanary.txt', '../canary.txt', '/dev/pub/../../canary.txt', '/dev/hidden/secret.jpg', 'hidden/secret.jpg',
    `http://127.0.0.1:1/x.png`, 'file:///etc/passwd', 'ZmlsZTovLy9ldGMvcGFzc3dk', 'Li4vY2FuYXJ5LnR4dA', 'a'.repeat(10_000),
    'json', 'blurhash', 'avif', 'gif', 'webp', 'png8', 'format,compress', 'crop', 'fill', 'facearea', 'entropy,edges',
    '10,10,20,20', '-5,-5,99999,99999', 'ff0000', '80ff0000', 'red', '%23fff', '1,2,3,4,5', ',,,', '%', '%zz', '+', '%2B'),
  fc.string({ maxLength: 16 }).map(encodeURIComponent),
  fc.integer({ min: -100_000, max: 100_000 }).map(String),
  fc.double({ noNaN: false }).map(String),
);
const hostileQuery = fc
  .array(fc.tuple(paramName, fc.option(paramValue, { nil: undefined })), { maxLength: 6 })
  .map((pairs) => pairs.map(([k, v]) => (v === undefined ? k : `${k}=${v}`)).join('&'));
const hostileTarget = fc.tuple(hostilePath, fc.option(hostileQuery, { nil: undefined })).map(([p, q]) => (q === undefined ? p : `${p}?${q}`));

// ------------------------------------------------------------------------------------ checks

function checkInvariants(target: string, status: number, body: Buffer, code: string | undefined): void {
  assert.notEqual(status, 500, `500 for ${target}`);
  if (status >= 500) {
    // The only 5xx a hostile URL may cause: the HTTP source refusing its loopback origin, or shedding.
    assert.ok(
      (status === 502 && code === 'source_blocked_address') || (status === 503 && (code === 'overloaded' || code === 'deadline_exceeded')),
      `${status} ${code} for ${target}`,
    );
  }
  assert.ok(!body.toString('latin1').includes(CANARY), `canary served for ${target}`);
}

function checkCalls(): void {
  for (const c of calls) {
    assert.notEqual(c.source, 'hidden', `the unrouted source was read: ${JSON.stringify(c)}`);
    assert.ok(c.source === 'pub' || c.source === 'remote', JSON.stringify(c));
    const segs = c.key.split('/');
    assert.ok(!segs.includes('..') && !segs.includes('.') && !path.isAbsolute(c.key) && !c.key.includes('\0') && !c.key.includes('\\'), `unsafe key reached a source: ${JSON.stringify(c)}`);
  }
  assert.deepEqual(targetHits, [], 'the HTTP source connected to a loopback origin');
}

function codeOf(body: Buffer): string | undefined {
  try {
    return JSON.parse(body.toString('utf8')).code;
  } catch {
    return undefined;
  }
}

/** One request over a raw socket: the request line is sent byte for byte, unnormalised. */
function rawRequest(port: number, target: string, host = '127.0.0.1'): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    sock.setTimeout(30_000, () => sock.destroy(new Error(`timeout for ${target}`)));
    sock.on('data', (d: Buffer) => chunks.push(d));
    // A server that answers an over-long request (431) and closes with the rest unread resets the
    // connection (Node ≥ 24 does): the answer already read counts, 'close' follows and decides.
    sock.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ECONNRESET') reject(err);
    });
    sock.on('close', () => {
      const all = Buffer.concat(chunks);
      const head = all.subarray(0, Math.max(0, all.indexOf('\r\n\r\n'))).toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(head);
      if (!m) return reject(new Error(`no status line for ${JSON.stringify(target)}: ${JSON.stringify(all.subarray(0, 80).toString('latin1'))}`));
      resolve({ status: Number(m[1]), body: all.subarray(all.indexOf('\r\n\r\n') + 4) });
    });
    sock.write(`GET ${target} HTTP/1.1\r\nHost: ${host}\r\nX-API-Key: ${TEST_KEY}\r\nConnection: close\r\n\r\n`, 'latin1');
  });
}

describe('hostile URLs', () => {
  test('the canary and the hidden source are reachable only by leaving the rules (sanity)', async () => {
    const ok = await ig.app.request('http://localhost/dev/pub/ok.jpg', { headers: { 'X-API-Key': TEST_KEY } });
    assert.equal(ok.status, 200);
    for (const p of ['/dev/pub/../canary.txt', '/dev/pub/%2e%2e/canary.txt', '/dev/pub/link-out.txt', '/dev/pub/link-dir/secret.jpg', '/dev/hidden/secret.jpg', '/dev/private/secret.jpg']) {
      const r = await rawRequest(server.port, p);
      assert.ok(r.status === 400 || r.status === 404, `${p}: ${r.status}`);
      assert.ok(!r.body.toString('latin1').includes(CANARY), p);
    }
    checkCalls();
  });

  test('over a socket, dot segments that fold onto a real file are 400 invalid_path, whatever the Host', async () => {
    for (const p of ['/dev/pub/sub/../ok.jpg', '/dev/pub/sub/%2e%2e/ok.jpg', '/dev/pub/sub/%2E./ok.jpg', '/dev/pub/sub/.%2e/ok.jpg', '/dev/pub/./ok.jpg', '/dev/pub/%2E/ok.jpg', '/dev/x/../pub/ok.jpg?w=10']) {
      for (const host of ['127.0.0.1', 'LocalHost:8080']) {
        const r = await rawRequest(server.port, p, host);
        assert.equal(r.status, 400, `${p} (Host ${host}): ${r.status}`);
        assert.equal(codeOf(r.body), 'invalid_path', p);
      }
    }
    checkCalls();
  });

  test(`in process: ${RUNS} random paths and queries — no 500, no canary, no unrouted source`, async (t) => {
    const seen = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(hostileTarget, async (t) => {
        const url = `http://localhost${t.startsWith('/') ? '' : '/'}${t}`;
        let res: Response;
        try {
          res = await ig.app.request(url, { headers: { 'X-API-Key': TEST_KEY } });
        } catch (err) {
          // `new Request` refuses some URLs before the app sees them; nothing to check then.
          if (err instanceof TypeError) return;
          throw err;
        }
        const body = Buffer.from(await res.arrayBuffer());
        seen.set(res.status, (seen.get(res.status) ?? 0) + 1);
        checkInvariants(t, res.status, body, codeOf(body));
      }),
      { numRuns: RUNS },
    );
    t.diagnostic(`statuses: ${[...seen].sort().map(([s, n]) => `${s} ×${n}`).join(', ')}; source reads so far: ${calls.length}`);
    checkCalls();
  });

  test(`over a socket: ${Math.ceil(RUNS / 2)} raw request lines — no 500, no canary, no unrouted source`, async (tc) => {
    const seen = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(hostileTarget, async (t) => {
        const r = await rawRequest(server.port, t);
        seen.set(r.status, (seen.get(r.status) ?? 0) + 1);
        checkInvariants(t, r.status, r.body, codeOf(r.body));
      }),
      { numRuns: Math.ceil(RUNS / 2) },
    );
    tc.diagnostic(`statuses: ${[...seen].sort().map(([s, n]) => `${s} ×${n}`).join(', ')}`);
    checkCalls();
  });

  test(`${Math.ceil(RUNS / 5)} hostile query strings on a real image: a 4xx with a code or a rendered image, never a 5xx`, async (t) => {
    const seen = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(hostileQuery, async (q) => {
        const res = await ig.app.request(`http://localhost/dev/pub/ok.jpg?${q}`, { headers: { 'X-API-Key': TEST_KEY } });
        const body = Buffer.from(await res.arrayBuffer());
        seen.set(res.status, (seen.get(res.status) ?? 0) + 1);
        assert.ok(res.status < 500, `${res.status} ${body.toString().slice(0, 200)} for ?${q}`);
        if (res.status >= 400) assert.equal(typeof codeOf(body), 'string', `no code for ?${q}`);
      }),
      { numRuns: Math.ceil(RUNS / 5) },
    );
    t.diagnostic(`statuses: ${[...seen].sort().map(([s, n]) => `${s} ×${n}`).join(', ')}`);
  });

  test('watermarks and text sources never reach outside the routes', async () => {
    for (const mark of ['/dev/hidden/secret.jpg', '/dev/pub/../canary.txt', '../canary.txt', 'file:///etc/passwd', `http://127.0.0.1:${(target.address() as AddressInfo).port}/x.png`, '/dev/remote/x.png', '/dev/pub/link-out.txt']) {
      const res = await ig.app.request(`http://localhost/dev/pub/ok.jpg?w=40&mark=${encodeURIComponent(mark)}`, { headers: { 'X-API-Key': TEST_KEY } });
      const body = Buffer.from(await res.arrayBuffer());
      checkInvariants(`mark=${mark}`, res.status, body, codeOf(body));
      assert.ok(res.status === 400 || res.status === 404 || res.status === 200 || res.status === 502, `mark=${mark}: ${res.status}`);
    }
    checkCalls();
  });

  test('over-long paths and queries are refused with a 4xx, in process and over a socket', async () => {
    for (const target of [`/dev/pub/${'a'.repeat(2000)}.jpg`, `/dev/pub/${'../'.repeat(600)}canary.txt`, `/dev/pub/ok.jpg?w=40&${'x'.repeat(12_000)}=1`]) {
      const inProcess = await ig.app.request(`http://localhost${target}`, { headers: { 'X-API-Key': TEST_KEY } });
      assert.ok(inProcess.status >= 400 && inProcess.status < 500 || inProcess.status === 200, `${target.slice(0, 40)}…: ${inProcess.status}`);
      assert.ok(!Buffer.from(await inProcess.arrayBuffer()).toString('latin1').includes(CANARY));
      const raw = await rawRequest(server.port, target);
      assert.ok(raw.status >= 400 && raw.status < 500 || raw.status === 200, `${target.slice(0, 40)}… over a socket: ${raw.status}`);
    }
    const huge = await rawRequest(server.port, `/dev/pub/${'a'.repeat(100_000)}`);
    assert.ok(huge.status >= 400 && huge.status < 500, `100 kB request line: ${huge.status}`);
    checkCalls();
  });

  test('the HTTP source behind a route refuses its loopback origin for every path', async () => {
    const res = await ig.app.request('http://localhost/dev/remote/a.jpg', { headers: { 'X-API-Key': TEST_KEY } });
    assert.equal(res.status, 502);
    assert.equal(codeOf(Buffer.from(await res.arrayBuffer())), 'source_blocked_address');
    assert.deepEqual(targetHits, []);
  });
});
