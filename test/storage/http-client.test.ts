import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHttpClient, type HttpClientOptions } from '../../src/storage/http-client.ts';
import { isBlockedAddress } from '../../src/storage/address-guard.ts';
import { ServiceError } from '../../src/errors.ts';
import { rejectsWith, startOrigin, type Origin } from '../helpers/origin.ts';

const KB = 1024;
let inner: Origin; // stands for an internal service: must never see a request
let outer: Origin; // the origin, on 127.0.0.2, treated as public by the policy below
/** Body bytes the origin wrote on /endless before the client hung up. */
let endlessSent = 0;
const policy = (a: string) => a !== '127.0.0.2' && isBlockedAddress(a);

before(async () => {
  inner = await startOrigin('127.0.0.1', (_req, res) => res.end('internal secret'));
  outer = await startOrigin('127.0.0.2', (req, res) => {
    const redirects: Record<string, string> = {
      '/to-inner': `${inner.url}/secret`,
      '/to-localhost': `http://localhost:${new URL(inner.url).port}/secret`,
      '/to-mapped': `http://[::ffff:127.0.0.1]:${new URL(inner.url).port}/secret`,
      '/to-metadata': 'http://169.254.169.254/latest/meta-data/',
      '/to-self': '/sized?n=10',
    };
    const to = redirects[req.url ?? ''];
    if (to) {
      res.writeHead(302, { location: to });
      return res.end();
    }
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/sized') {
      // n bytes with their length declared.
      const n = Number(url.searchParams.get('n'));
      res.writeHead(200, { 'content-length': n, 'content-type': 'image/jpeg' });
      return res.end(Buffer.alloc(n, 1));
    }
    if (url.pathname === '/declared') {
      // Announces 10 MB and sends nothing: the client must give up on the header alone.
      res.writeHead(200, { 'content-length': 10_000_000 });
      return res.flushHeaders();
    }
    if (url.pathname === '/endless') {
      // Chunked, no length: writes until the client hangs up.
      endlessSent = 0;
      res.writeHead(200, { 'content-type': 'image/jpeg' });
      const chunk = Buffer.alloc(16 * KB, 2);
      const pump = () => {
        while (!res.destroyed && res.write(chunk)) endlessSent += chunk.length;
        if (!res.destroyed) res.once('drain', pump);
      };
      res.on('close', () => res.removeAllListeners('drain'));
      return pump();
    }
    res.writeHead(404);
    res.end();
  });
});

after(async () => {
  await outer?.close();
  await inner?.close();
});

function client(overrides: Partial<HttpClientOptions> = {}) {
  return createHttpClient({ isBlockedAddress: policy, maxBytes: 64 * KB, timeoutMs: 10_000, maxRedirects: 3, ...overrides });
}

test('a body at the byte cap is read whole; one byte more is refused', async () => {
  const c = client();
  const res = await c.fetch(new URL(`${outer.url}/sized?n=${64 * KB}`), { method: 'GET' });
  assert.equal(res.status, 200);
  assert.equal(res.body?.length, 64 * KB);
  await rejectsWith(c.fetch(new URL(`${outer.url}/sized?n=${64 * KB + 1}`), { method: 'GET' }), 502, 'source_too_large');
});

test('a declared length over the cap is refused on the header, without waiting for the body', async () => {
  // The origin never sends the body: only the header can end this before the deadline.
  await rejectsWith(client({ timeoutMs: 5000 }).fetch(new URL(`${outer.url}/declared`), { method: 'GET' }), 502, 'source_too_large');
});

test('a body with no length is cut at the cap while it arrives, read whole or streamed', async () => {
  const c = client({ maxBytes: 256 * KB });
  await rejectsWith(c.fetch(new URL(`${outer.url}/endless`), { method: 'GET' }), 502, 'source_too_large');
  // The origin was stopped near the cap, not read to the end of its (endless) body.
  assert.ok(endlessSent < 64 * 1024 * KB, `origin wrote ${endlessSent} bytes`);

  const res = await c.fetch(new URL(`${outer.url}/endless`), { method: 'GET', stream: () => true });
  assert.ok(res.stream, 'the body is a stream when the caller asks for one');
  let read = 0;
  await assert.rejects(
    (async () => {
      for await (const chunk of res.stream!) read += (chunk as Buffer).length;
    })(),
    (e) => e instanceof ServiceError && e.code === 'source_too_large',
  );
  assert.ok(read <= 256 * KB, `read ${read} bytes past the cap`);
});

test('a streamed body under the cap arrives whole', async () => {
  const res = await client().fetch(new URL(`${outer.url}/sized?n=${40 * KB}`), { method: 'GET', stream: () => true });
  const chunks: Buffer[] = [];
  for await (const chunk of res.stream!) chunks.push(chunk as Buffer);
  assert.equal(Buffer.concat(chunks).length, 40 * KB);
});

test('redirects to loopback, localhost, mapped, metadata addresses are refused; to the same origin followed', async () => {
  const c = client({ timeoutMs: 5000 });
  const before = inner.seen.length;
  for (const path of ['/to-inner', '/to-localhost', '/to-mapped', '/to-metadata']) {
    await rejectsWith(c.fetch(new URL(outer.url + path), { method: 'GET' }), 502, 'source_blocked_address');
    await rejectsWith(c.fetch(new URL(outer.url + path), { method: 'HEAD' }), 502, 'source_blocked_address');
  }
  assert.equal(inner.seen.length, before, 'the internal service never saw a request');
  const ok = await c.fetch(new URL(`${outer.url}/to-self`), { method: 'GET' });
  assert.equal(ok.body?.length, 10);
});

test('allowPrivateNetworks lets the same redirect through', async () => {
  const res = await client({ allowPrivateNetworks: true }).fetch(new URL(`${outer.url}/to-inner`), { method: 'GET' });
  assert.equal(res.body?.toString(), 'internal secret');
});

test('the origin headers go to that origin only, not to where it redirects', async () => {
  const c = client({ allowPrivateNetworks: true, origin: { origin: outer.url, headers: { authorization: 'Bearer origin-only' } } });
  const from = outer.seen.length;
  const to = inner.seen.length;
  await c.fetch(new URL(`${outer.url}/to-inner`), { method: 'GET' });
  assert.equal(outer.seen[from]!.headers.authorization, 'Bearer origin-only');
  assert.equal(inner.seen[to]!.headers.authorization, undefined);
});
