/**
 * The client against the real server: the lead's app on @hono/node-server, a free loopback
 * port, real sharp renders of generated images.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import sharp from 'sharp';
import { parseConfig } from '../../src/config/load.ts';
import { sha256hex } from '../../src/auth/keys.ts';
import { startServer, type RunningServer } from '../../src/server.ts';
import { freePort } from '../helpers/services.ts';
import { buildUrl, fetchImage, ImagegateError, srcset } from '../../src/client/index.ts';

const KEY = 'client-roundtrip-key';
const LIMITED = 'client-limited-key';
const QUOTA = 'client-quota-key';
const TOKEN = 'signing-token-for-tests';
const dir = mkdtempSync(path.join(tmpdir(), 'imagegate-client-'));
let server: RunningServer;
let baseUrl: string;

before(async () => {
  mkdirSync(path.join(dir, 'photos'), { recursive: true });
  mkdirSync(path.join(dir, 'private'), { recursive: true });
  await sharp({ create: { width: 640, height: 480, channels: 3, background: '#3366cc' } }).jpeg().toFile(path.join(dir, 'photos', 'a b.jpg'));
  await sharp({ create: { width: 320, height: 320, channels: 3, background: '#cc3333' } }).png().toFile(path.join(dir, 'private', 'p.png'));
  const config = parseConfig(
    {
      server: { basePath: '/dev', logLevel: 'silent' },
      sources: {
        local: { type: 'fs', root: dir },
        signed: { type: 'fs', root: path.join(dir, 'private'), signing: { token: TOKEN } },
      },
      routes: [
        { match: 'private/*', source: 'signed', key: '{*}' },
        { match: '*', source: 'local' },
      ],
      keys: [
        { id: 'client', sha256: sha256hex(KEY) },
        { id: 'limited', sha256: sha256hex(LIMITED), plan: 'tiny' },
        { id: 'quota', sha256: sha256hex(QUOTA), plan: 'two-a-day' },
      ],
      plans: {
        tiny: { rate: 1, burst: 1 },
        'two-a-day': { quota: { limit: 2, period: 'day' } },
      },
    },
    { baseDir: dir },
  );
  server = await startServer(config, { port: await freePort(), host: '127.0.0.1' });
  baseUrl = `${server.url}/dev`;
});

after(async () => {
  await server?.close();
});

describe('client ↔ server round trip', () => {
  test('fetchImage renders with typed parameters and returns bytes plus content type', async () => {
    const img = await fetchImage('photos/a b.jpg', { baseUrl, apiKey: KEY, params: { w: 200, fm: 'webp' } });
    assert.equal(img.status, 200);
    assert.equal(img.contentType, 'image/webp');
    const meta = await sharp(img.bytes).metadata();
    assert.equal(meta.format, 'webp');
    assert.equal(meta.width, 200);
    assert.equal(meta.height, 150);
  });

  test('without parameters the original bytes come back unchanged', async () => {
    const img = await fetchImage(buildUrl('/photos/a b.jpg', {}, { baseUrl }), { apiKey: KEY });
    assert.deepEqual(Buffer.from(img.bytes), readFileSync(path.join(dir, 'photos', 'a b.jpg')));
    assert.equal(img.contentType, 'image/jpeg');
  });

  test('ETag round trip: If-None-Match answers 304 with no body', async () => {
    const first = await fetchImage('photos/a b.jpg', { baseUrl, apiKey: KEY, params: { w: 100 } });
    const etag = first.headers.get('etag');
    assert.ok(etag);
    const again = await fetchImage('photos/a b.jpg', { baseUrl, apiKey: KEY, params: { w: 100 }, headers: { 'If-None-Match': etag } });
    assert.equal(again.status, 304);
    assert.equal(again.bytes.length, 0);
  });

  test('errors carry the status, the stable code and the message', async () => {
    await assert.rejects(fetchImage('photos/a b.jpg', { baseUrl, apiKey: 'wrong' }), (e: ImagegateError) => e.status === 403 && e.message === 'Forbidden');
    await assert.rejects(
      fetchImage('photos/a b.jpg', { baseUrl, apiKey: KEY, params: { expires: 'soon' as unknown as number } }),
      (e: ImagegateError) => e.status === 400 && e.code === 'invalid_parameter' && /expires/.test(e.message),
    );
    await assert.rejects(fetchImage('photos/none.jpg', { baseUrl, apiKey: KEY }), (e: ImagegateError) => e.status === 404);
  });

  test('signed URLs built by the client are accepted; a tampered one is refused', async () => {
    const url = buildUrl('private/p.png', { w: 64, fm: 'png' }, { baseUrl, signWith: TOKEN });
    const img = await fetchImage(url, { apiKey: KEY });
    assert.equal((await sharp(img.bytes).metadata()).width, 64);
    await assert.rejects(fetchImage(url.replace('w=64', 'w=65'), { apiKey: KEY }), (e: ImagegateError) => e.status === 403);
    await assert.rejects(fetchImage('private/p.png', { baseUrl, apiKey: KEY, params: { w: 64 } }), (e: ImagegateError) => e.status === 403);
    const expiring = buildUrl('private/p.png', { w: 32 }, { baseUrl, signWith: { token: TOKEN, expires: Math.floor(Date.now() / 1000) + 600 } });
    assert.equal((await sharp((await fetchImage(expiring, { apiKey: KEY })).bytes).metadata()).width, 32);
    const expired = buildUrl('private/p.png', { w: 32 }, { baseUrl, signWith: { token: TOKEN, expires: 1_000_000_000 } });
    await assert.rejects(fetchImage(expired, { apiKey: KEY }), (e: ImagegateError) => e.status === 404);
  });

  test('every srcset candidate loads at its declared width or DPR', async () => {
    const set = srcset('photos/a b.jpg', { baseUrl, widths: [120, 360], params: { fm: 'jpg' } });
    for (const candidate of set.split(',\n')) {
      const [url, descriptor] = candidate.split(' ');
      const img = await fetchImage(url, { apiKey: KEY });
      assert.equal((await sharp(img.bytes).metadata()).width, Number(descriptor.replace('w', '')));
    }
    const dprSet = srcset('photos/a b.jpg', { baseUrl, params: { w: 100 }, dprs: [1, 2] });
    for (const candidate of dprSet.split(',\n')) {
      const [url, descriptor] = candidate.split(' ');
      const img = await fetchImage(url, { apiKey: KEY });
      assert.equal((await sharp(img.bytes).metadata()).width, 100 * Number(descriptor.replace('x', '')));
    }
  });

  test('429 from the key\'s rate is retried after Retry-After and then succeeds', async () => {
    // Back-to-back requests on a bucket of one: a later one finds it empty and gets a 429 the
    // client retries after Retry-After. (Looped so that a slow machine refilling the bucket
    // between two requests cannot make the test pass or fail by timing.)
    let second = await fetchImage('photos/a b.jpg', { baseUrl, apiKey: LIMITED, params: { w: 50 }, retries: 5 });
    for (let i = 0; i < 5 && second.attempts === 1; i++) {
      second = await fetchImage('photos/a b.jpg', { baseUrl, apiKey: LIMITED, params: { w: 50 }, retries: 5 });
    }
    assert.equal(second.status, 200);
    assert.ok(second.attempts >= 2, `a request met an empty bucket and was retried (attempts: ${second.attempts})`);
    assert.equal((await sharp(second.bytes).metadata()).width, 50);
  });

  test('a used-up quota: the wait is bounded, then ImagegateError quota_exceeded', async () => {
    for (let i = 0; i < 2; i++) await fetchImage('photos/a b.jpg', { baseUrl, apiKey: QUOTA });
    const err = await fetchImage('photos/a b.jpg', { baseUrl, apiKey: QUOTA, retries: 1, maxRetryDelayMs: 20 }).catch((e) => e);
    assert.ok(err instanceof ImagegateError);
    assert.equal(err.status, 429);
    assert.equal(err.code, 'quota_exceeded');
    assert.match(err.message, /quota of 2 requests per day/);
    assert.ok(Number(err.headers.get('retry-after')) > 60, 'the server asked for a long wait, the client capped it');
  });
});
