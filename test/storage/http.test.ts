import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import v8 from 'node:v8';
import vm from 'node:vm';
import sharp from 'sharp';
import { httpSourceSchema } from '../../src/config/schema.ts';
import { createHttpStorage } from '../../src/storage/http.ts';
import { isBlockedAddress } from '../../src/storage/address-guard.ts';
import { ServiceError } from '../../src/errors.ts';
import { rejectsWith, startOrigin, type Origin } from '../helpers/origin.ts';

function source(input: Record<string, unknown>) {
  return httpSourceSchema.parse({ type: 'http', ...input });
}

let jpeg: Buffer;
let png: Buffer;
let target: Origin; // a loopback origin that must never be reached when private networks are refused
let origin: Origin;
/** Body bytes the origin handed to the connection of the last `/img/long.jpg`, once it closed. */
let longSent = -1;
const LONG = 40 * 1024 * 1024;

before(async () => {
  jpeg = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#c04020' } })
    .jpeg()
    .toBuffer();
  png = await sharp({ create: { width: 10, height: 10, channels: 4, background: '#00ff0080' } })
    .png()
    .toBuffer();
  target = await startOrigin('127.0.0.1', (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('internal secret');
  });
  origin = await startOrigin('127.0.0.1', (req, res) => {
    const path = decodeURI((req.url ?? '').split('?')[0]);
    const send = (status: number, headers: http.OutgoingHttpHeaders, body?: Buffer | string) => {
      res.writeHead(status, headers);
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    switch (path) {
      case '/img/photo.jpg':
        return send(200, { 'content-type': 'image/jpeg', etag: '"v1-photo"', 'content-length': jpeg.length }, jpeg);
      case '/img/lm.png':
        return send(
          200,
          { 'content-type': 'image/png', 'last-modified': 'Tue, 03 Mar 2026 10:00:00 GMT', 'content-length': png.length },
          png,
        );
      case '/img/bare.png':
        // No ETag, no Last-Modified, chunked: the storage must still give a stable identity.
        res.writeHead(200, { 'content-type': 'image/png' });
        return res.end(req.method === 'HEAD' ? undefined : png);
      case '/img/no-head.jpg':
        if (req.method === 'HEAD') return send(405, {});
        return send(200, { 'content-type': 'image/jpeg', etag: '"nohead"' }, jpeg);
      case '/img/page.html':
        return send(200, { 'content-type': 'text/html; charset=utf-8', etag: '"page"' }, '<script>alert(1)</script>');
      case '/img/vector.svg':
        return send(200, { 'content-type': 'image/svg+xml', etag: '"svg"' }, '<svg xmlns="http://www.w3.org/2000/svg"/>');
      case '/img/missing.jpg':
        return send(404, { 'content-type': 'text/plain' }, 'not found');
      case '/img/gone.jpg':
        return send(410, {}, 'gone');
      case '/img/broken.jpg':
        return send(500, {}, 'boom');
      case '/img/denied.jpg':
        return send(403, {}, 'denied');
      case '/img/redirect.jpg':
        return send(302, { location: '/img/photo.jpg' });
      case '/img/loop.jpg':
        return send(302, { location: '/img/loop.jpg' });
      case '/img/to-file.jpg':
        return send(302, { location: 'file:///etc/passwd' });
      case '/img/huge-declared.jpg':
        res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': 10_000_000 });
        return res.end(); // the client must give up on the header alone
      case '/img/endless.jpg': {
        // Chunked, no length: streams until the client hangs up.
        res.writeHead(200, { 'content-type': 'image/jpeg' });
        const chunk = Buffer.alloc(16 * 1024, 0xab);
        const pump = () => {
          while (!res.destroyed && res.write(chunk));
          if (!res.destroyed) res.once('drain', pump);
        };
        res.on('close', () => res.removeAllListeners('drain'));
        return pump();
      }
      case '/img/long.jpg': {
        // 40 MiB with a length and an ETag (streamable), written as fast as the client reads.
        res.writeHead(200, { 'content-type': 'image/jpeg', etag: '"long"', 'content-length': LONG });
        const chunk = Buffer.alloc(64 * 1024, 0xcd);
        let n = 0;
        const pump = () => {
          while (!res.destroyed && n < LONG && res.write(chunk)) n += chunk.length;
          if (res.destroyed) return;
          if (n >= LONG) return void res.end();
          n += chunk.length; // the write that filled the buffer
          res.once('drain', pump);
        };
        res.on('close', () => {
          res.removeAllListeners('drain');
          longSent = n;
        });
        return pump();
      }
      case '/img/long-cut.jpg':
        // Streamable, then the connection drops mid-body.
        res.writeHead(200, { 'content-type': 'image/jpeg', etag: '"cut"', 'content-length': jpeg.length });
        res.write(jpeg.subarray(0, 10));
        return void setTimeout(() => res.destroy(), 20);
      case '/img/hang.jpg':
        return; // never answers
      case '/img/slow-body.jpg':
        res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': jpeg.length });
        return res.write(jpeg.subarray(0, 10)); // and stalls
      case '/img/cut.jpg':
        res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': jpeg.length });
        res.write(jpeg.subarray(0, 10));
        return res.destroy();
      default:
        return send(404, {}, 'no such path');
    }
  });
});

after(async () => {
  await origin?.close();
  await target?.close();
});

describe('http storage: fetching from an origin', () => {
  test('get returns the bytes and the origin ETag; head does not download the body', async () => {
    const store = createHttpStorage(source({ baseUrl: `${origin.url}/img/`, allowPrivateNetworks: true }));
    const obj = await store.get('photo.jpg');
    assert.ok(obj);
    assert.deepEqual(obj.body, jpeg);
    assert.equal(obj.meta.etag, '"v1-photo"');
    assert.equal(obj.meta.size, jpeg.length);
    assert.equal(obj.meta.contentType, 'image/jpeg');
    const before = origin.seen.length;
    const meta = await store.head('photo.jpg');
    assert.deepEqual(meta, { ...obj.meta });
    assert.equal(origin.seen.at(-1)?.method, 'HEAD');
    assert.equal(origin.seen.length, before + 1);
  });

  test('without an ETag the identity comes from Last-Modified and the length, the same for head and get', async () => {
    const store = createHttpStorage(source({ baseUrl: `${origin.url}/img`, allowPrivateNetworks: true }));
    const obj = await store.get('lm.png');
    const meta = await store.head('lm.png');
    assert.ok(obj && meta);
    assert.match(obj.meta.etag, /^"lm-/);
    assert.equal(meta.etag, obj.meta.etag);
    assert.equal(obj.meta.lastModified?.toISOString(), '2026-03-03T10:00:00.000Z');
  });

  test('an origin that says nothing about identity still gets a stable content ETag', async () => {
    const store = createHttpStorage(source({ baseUrl: `${origin.url}/img/`, allowPrivateNetworks: true }));
    const a = await store.get('bare.png');
    const b = await store.head('bare.png');
    assert.ok(a && b);
    assert.match(a.meta.etag, /^"sha1-[0-9a-f]{40}"$/);
    assert.equal(b.etag, a.meta.etag);
    assert.deepEqual(a.body, png);
  });

  test("only a passive image type from the origin is passed on (an HTML error page is not)", async () => {
    const store = createHttpStorage(source({ baseUrl: `${origin.url}/img/`, allowPrivateNetworks: true }));
    assert.equal((await store.get('photo.jpg'))?.meta.contentType, 'image/jpeg');
    assert.equal((await store.get('page.html'))?.meta.contentType, undefined);
    assert.equal((await store.head('page.html'))?.contentType, undefined);
    assert.equal((await store.get('vector.svg'))?.meta.contentType, undefined);
  });

  test('head falls back to GET when the origin refuses HEAD', async () => {
    const store = createHttpStorage(source({ baseUrl: `${origin.url}/img/`, allowPrivateNetworks: true }));
    const meta = await store.head('no-head.jpg');
    assert.equal(meta?.etag, '"nohead"');
    assert.equal(meta?.size, jpeg.length);
  });

  test('404 and 410 are "missing"; 500 and 403 are source errors, never a fake 404', async () => {
    const store = createHttpStorage(source({ baseUrl: `${origin.url}/img/`, allowPrivateNetworks: true }));
    assert.equal(await store.get('missing.jpg'), undefined);
    assert.equal(await store.head('missing.jpg'), undefined);
    assert.equal(await store.get('gone.jpg'), undefined);
    await rejectsWith(store.get('broken.jpg'), 502, 'source_error');
    await rejectsWith(store.head('broken.jpg'), 502, 'source_error');
    await rejectsWith(store.get('denied.jpg'), 502, 'source_error');
  });

  test('an origin that is down is a 502, not a 404', async () => {
    const closed = await startOrigin('127.0.0.1', () => {});
    const url = closed.url;
    await closed.close();
    const store = createHttpStorage(source({ baseUrl: `${url}/`, allowPrivateNetworks: true }));
    await rejectsWith(store.get('a.jpg'), 502, 'source_error');
  });

  test('keys are appended segment by segment, encoded; dot segments are refused', async () => {
    const store = createHttpStorage(source({ baseUrl: `${origin.url}/img/`, allowPrivateNetworks: true }));
    await store.get('a b/ç?x#y.jpg');
    assert.equal(origin.seen.at(-1)?.url, '/img/a%20b/%C3%A7%3Fx%23y.jpg');
    await store.get('..%2F..%2Fetc');
    assert.equal(origin.seen.at(-1)?.url, '/img/..%252F..%252Fetc');
    const count = origin.seen.length;
    await rejectsWith(store.get('../secret'), 400, 'invalid_path');
    await rejectsWith(store.get('a/./b'), 400, 'invalid_path');
    await rejectsWith(store.get('a//b'), 400, 'invalid_path');
    await rejectsWith(store.head('x/..'), 400, 'invalid_path');
    assert.equal(origin.seen.length, count, 'no request for a refused key');
  });

  test('base URL query strings are kept', async () => {
    const store = createHttpStorage(source({ baseUrl: `${origin.url}/img/?token=abc`, allowPrivateNetworks: true }));
    const obj = await store.get('photo.jpg');
    assert.ok(obj);
    assert.equal(origin.seen.at(-1)?.url, '/img/photo.jpg?token=abc');
  });

  test('configured headers go to the origin but not to another origin after a redirect', async () => {
    const other = await startOrigin('127.0.0.2', (req, res) => {
      res.writeHead(302, { location: `${origin.url}/img/photo.jpg` });
      res.end();
    });
    try {
      const store = createHttpStorage(
        source({ baseUrl: `${other.url}/`, allowPrivateNetworks: true, headers: { authorization: 'Bearer t0k' } }),
      );
      const obj = await store.get('start.jpg');
      assert.deepEqual(obj?.body, jpeg);
      assert.equal(other.seen.at(-1)?.headers.authorization, 'Bearer t0k');
      assert.equal(origin.seen.at(-1)?.url, '/img/photo.jpg');
      assert.equal(origin.seen.at(-1)?.headers.authorization, undefined);
    } finally {
      await other.close();
    }
  });

  test('redirects are followed up to maxRedirects, and only to http(s)', async () => {
    const store = createHttpStorage(source({ baseUrl: `${origin.url}/img/`, allowPrivateNetworks: true, maxRedirects: 2 }));
    assert.deepEqual((await store.get('redirect.jpg'))?.body, jpeg);
    const count = origin.seen.length;
    await rejectsWith(store.get('loop.jpg'), 502, 'source_error');
    assert.equal(origin.seen.length - count, 3, 'the first request and two redirects');
    await rejectsWith(store.get('to-file.jpg'), 502, 'source_error');
    const none = createHttpStorage(source({ baseUrl: `${origin.url}/img/`, allowPrivateNetworks: true, maxRedirects: 0 }));
    await rejectsWith(none.get('redirect.jpg'), 502, 'source_error');
  });
});

async function readAll(body: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('http storage: streaming untouched originals', () => {
  test('stream gives the same bytes and identity as get, after redirects too; missing is undefined, errors reject', async () => {
    const store = createHttpStorage(source({ baseUrl: `${origin.url}/img/`, allowPrivateNetworks: true }));
    for (const key of ['photo.jpg', 'redirect.jpg', 'lm.png', 'bare.png', 'no-head.jpg']) {
      const whole = await store.get(key);
      const streamed = await store.stream!(key);
      assert.ok(whole && streamed, key);
      assert.deepEqual(streamed.meta, whole.meta, key);
      assert.deepEqual(await readAll(streamed.body), whole.body, key);
    }
    assert.equal(await store.stream!('missing.jpg'), undefined);
    assert.equal(await store.stream!('gone.jpg'), undefined);
    await rejectsWith(store.stream!('broken.jpg'), 502, 'source_error');
    await rejectsWith(store.stream!('to-file.jpg'), 502, 'source_error');
  });

  test('a stream is not read ahead: destroyed after its first bytes, the origin connection closes', async () => {
    const store = createHttpStorage(source({ baseUrl: `${origin.url}/img/`, allowPrivateNetworks: true }));
    longSent = -1;
    const obj = await store.stream!('long.jpg');
    assert.equal(obj?.meta.size, LONG);
    assert.equal(obj?.meta.etag, '"long"');
    const it = obj!.body[Symbol.asyncIterator]();
    assert.ok(((await it.next()).value as Buffer).length > 0);
    await it.return!();
    for (let i = 0; i < 200 && longSent < 0; i++) await new Promise((r) => setTimeout(r, 25));
    assert.ok(longSent >= 0, 'the origin saw the connection close');
    assert.ok(longSent < LONG / 2, `the origin sent ${longSent} of ${LONG} bytes`);
  });

  test('caps and failures hold for streams: declared or endless bodies over maxBytes, a cut body, a timeout', async () => {
    const small = createHttpStorage(
      source({ baseUrl: `${origin.url}/img/`, allowPrivateNetworks: true, maxBytes: 256 * 1024, timeoutMs: 5000 }),
    );
    await rejectsWith(small.stream!('huge-declared.jpg'), 502, 'source_too_large');
    await rejectsWith(small.stream!('long.jpg'), 502, 'source_too_large');
    await rejectsWith(small.stream!('endless.jpg'), 502, 'source_too_large');
    const store = createHttpStorage(source({ baseUrl: `${origin.url}/img/`, allowPrivateNetworks: true, timeoutMs: 200 }));
    const cut = await store.stream!('long-cut.jpg');
    await assert.rejects(readAll(cut!.body));
    await rejectsWith(store.stream!('hang.jpg'), 504, 'source_timeout');
  });

  test('a slow reader is not cut by the fetch deadline once the answer has started', async () => {
    const store = createHttpStorage(source({ baseUrl: `${origin.url}/img/`, allowPrivateNetworks: true, timeoutMs: 300 }));
    const obj = await store.stream!('long.jpg');
    await new Promise((r) => setTimeout(r, 600));
    let n = 0;
    for await (const c of obj!.body) n += (c as Buffer).length;
    assert.equal(n, LONG);
  });
});

describe('http storage: limits', () => {
  test('a declared length over maxBytes is refused without reading the body', async () => {
    const store = createHttpStorage(source({ baseUrl: `${origin.url}/img/`, allowPrivateNetworks: true, maxBytes: 1000 }));
    await rejectsWith(store.get('huge-declared.jpg'), 502, 'source_too_large');
    await rejectsWith(store.head('huge-declared.jpg'), 502, 'source_too_large');
    // Under the cap the same source works.
    const ok = createHttpStorage(source({ baseUrl: `${origin.url}/img/`, allowPrivateNetworks: true, maxBytes: jpeg.length }));
    assert.equal((await ok.get('photo.jpg'))?.body.length, jpeg.length);
  });

  test('an endless chunked body is cut at maxBytes while streaming', async () => {
    const store = createHttpStorage(
      source({ baseUrl: `${origin.url}/img/`, allowPrivateNetworks: true, maxBytes: 256 * 1024, timeoutMs: 60_000 }),
    );
    await rejectsWith(store.get('endless.jpg'), 502, 'source_too_large');
  });

  test('an origin that never answers is a 504 after timeoutMs', async () => {
    const store = createHttpStorage(source({ baseUrl: `${origin.url}/img/`, allowPrivateNetworks: true, timeoutMs: 200 }));
    await rejectsWith(store.get('hang.jpg'), 504, 'source_timeout');
    await rejectsWith(store.head('hang.jpg'), 504, 'source_timeout');
  });

  test('a body that stalls is a 504; a body cut short is a 502', async () => {
    const store = createHttpStorage(source({ baseUrl: `${origin.url}/img/`, allowPrivateNetworks: true, timeoutMs: 200 }));
    await rejectsWith(store.get('slow-body.jpg'), 504, 'source_timeout');
    await rejectsWith(store.get('cut.jpg'), 502, 'source_error');
  });

  test('the timeout still fires after a garbage collection', { timeout: 30_000 }, async () => {
    // Node 20 can collect a timeout signal that only AbortSignal.any() refers to; then a
    // stalled origin would hold the request forever. Force collections while it waits.
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const store = createHttpStorage(source({ baseUrl: `${origin.url}/img/`, allowPrivateNetworks: true, timeoutMs: 400 }));
    const outer = new AbortController();
    const pending = store.get('hang.jpg', outer.signal);
    for (const ms of [50, 150, 250]) setTimeout(gc, ms);
    await rejectsWith(pending, 504, 'source_timeout');
  });

  test("the caller's abort signal stops the fetch", async () => {
    const store = createHttpStorage(source({ baseUrl: `${origin.url}/img/`, allowPrivateNetworks: true }));
    const ctl = new AbortController();
    const p = store.get('hang.jpg', ctl.signal);
    setTimeout(() => ctl.abort(new ServiceError(503, 'deadline_exceeded', 'deadline')), 50);
    await rejectsWith(p, 503, 'deadline_exceeded');
  });
});

describe('http storage: SSRF protection', () => {
  test('a loopback origin is refused by default, before any byte is sent', async () => {
    const store = createHttpStorage(source({ baseUrl: `${target.url}/` }));
    const count = target.seen.length;
    await rejectsWith(store.get('secret'), 502, 'source_blocked_address');
    await rejectsWith(store.head('secret'), 502, 'source_blocked_address');
    await rejectsWith(store.stream!('secret'), 502, 'source_blocked_address');
    assert.equal(target.seen.length, count);
  });

  test('numeric and mapped spellings of loopback are refused too', async () => {
    const count = target.seen.length;
    for (const base of [
      `http://2130706433:${target.port}/`,
      `http://0x7f.1:${target.port}/`,
      `http://[::ffff:127.0.0.1]:${target.port}/`,
      `http://0.0.0.0:${target.port}/`,
    ]) {
      const store = createHttpStorage(source({ baseUrl: base }));
      await rejectsWith(store.get('secret'), 502, 'source_blocked_address');
    }
    assert.equal(target.seen.length, count);
  });

  test('a hostname that resolves to loopback is refused at connect time', async () => {
    const store = createHttpStorage(source({ baseUrl: `http://localhost:${target.port}/` }));
    const count = target.seen.length;
    await rejectsWith(store.get('secret'), 502, 'source_blocked_address');
    assert.equal(target.seen.length, count);
  });

  describe('redirects from an allowed origin', () => {
    // The allowed origin listens on 127.0.0.2; the policy below treats that one address as
    // public, so every other loopback, private or metadata address keeps the default rules.
    let allowed: Origin;
    const policy = (a: string) => a !== '127.0.0.2' && isBlockedAddress(a);
    before(async () => {
      allowed = await startOrigin('127.0.0.2', (req, res) => {
        const to: Record<string, string> = {
          '/to-target.jpg': `${target.url}/secret`,
          '/to-localhost.jpg': `http://localhost:${target.port}/secret`,
          '/to-metadata.jpg': 'http://169.254.169.254/latest/meta-data/',
          '/to-mapped.jpg': `http://[::ffff:127.0.0.1]:${target.port}/secret`,
          '/to-private.jpg': 'http://10.0.0.1/secret',
        };
        if (req.url === '/ok.jpg') {
          res.writeHead(200, { 'content-type': 'image/jpeg', etag: '"ok"' });
          return res.end(jpeg);
        }
        res.writeHead(302, { location: to[req.url ?? ''] ?? '/ok.jpg' });
        res.end();
      });
    });
    after(() => allowed?.close());

    test('the allowed origin itself is served', async () => {
      const store = createHttpStorage(source({ baseUrl: `${allowed.url}/` }), { isBlockedAddress: policy });
      assert.deepEqual((await store.get('ok.jpg'))?.body, jpeg);
      assert.deepEqual((await store.get('elsewhere.jpg'))?.body, jpeg, 'a same-origin redirect is followed');
    });

    test('every redirect hop is re-checked: loopback, localhost, metadata, mapped, private', async () => {
      const store = createHttpStorage(source({ baseUrl: `${allowed.url}/`, timeoutMs: 5000 }), { isBlockedAddress: policy });
      const count = target.seen.length;
      for (const key of ['to-target.jpg', 'to-localhost.jpg', 'to-metadata.jpg', 'to-mapped.jpg', 'to-private.jpg']) {
        await rejectsWith(store.get(key), 502, 'source_blocked_address');
        await rejectsWith(store.head(key), 502, 'source_blocked_address');
        await rejectsWith(store.stream!(key), 502, 'source_blocked_address');
      }
      assert.equal(target.seen.length, count, 'the internal target never saw a request');
    });
  });

  test('allowPrivateNetworks: true lifts the refusal (for origins on the same network)', async () => {
    const store = createHttpStorage(source({ baseUrl: `http://localhost:${target.port}/`, allowPrivateNetworks: true }));
    const obj = await store.get('secret');
    assert.equal(obj?.body.toString(), 'internal secret');
  });
});
