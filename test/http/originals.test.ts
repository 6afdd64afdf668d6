import sharp from 'sharp';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { makeImageFolder, testApp, get, TEST_KEY, OTHER_KEY } from '../helpers/app.ts';
import type { ImagegateApp } from '../../src/http/app.ts';
import type { Storage } from '../../src/storage/types.ts';
import { createFsStorage } from '../../src/storage/fs.ts';
import { ServiceError } from '../../src/errors.ts';

describe('serving originals', () => {
  let folder: Awaited<ReturnType<typeof makeImageFolder>>;
  let ig: ImagegateApp;
  before(async () => {
    folder = await makeImageFolder();
    ig = await testApp(folder.root, { server: { basePath: '/dev', cacheControl: 'public, max-age=600' } });
  });
  after(() => folder.cleanup());

  test('200 with the original bytes and the documented headers', async () => {
    const res = await get(ig, 'http://localhost/dev/photo.jpg');
    assert.equal(res.status, 200);
    const bytes = Buffer.from(await res.arrayBuffer());
    assert.ok(bytes.equals(readFileSync(path.join(folder.root, 'photo.jpg'))));
    assert.equal(res.headers.get('content-type'), 'image/jpeg');
    assert.equal(res.headers.get('content-length'), String(bytes.length));
    assert.match(res.headers.get('etag')!, /^"[0-9a-f]+-[0-9a-f]+"$/);
    assert.ok(Date.parse(res.headers.get('last-modified')!) > 0);
    assert.equal(res.headers.get('cache-control'), 'public, max-age=600');
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(res.headers.get('vary'), null);
  });

  test('Content-Type comes from the bytes, not the extension', async () => {
    const res = await get(ig, 'http://localhost/dev/liar.jpeg');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'image/png');
    const other = await get(ig, 'http://localhost/dev/sub/inner.webp');
    assert.equal(other.headers.get('content-type'), 'image/webp');
    const txt = await get(ig, 'http://localhost/dev/notes.txt');
    assert.equal(txt.headers.get('content-type'), 'application/octet-stream');
  });

  test('HEAD answers headers without a body', async () => {
    const res = await get(ig, 'http://localhost/dev/photo.jpg', {}, 'HEAD');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'image/jpeg');
    assert.equal((await res.arrayBuffer()).byteLength, 0);
  });

  test('no key, unknown key, key in the query string → 403 Forbidden', async () => {
    for (const headers of [{} as Record<string, string>, { 'X-API-Key': 'wrong' }, { 'X-API-Key': `${TEST_KEY}x` }, { 'X-API-Key': TEST_KEY.slice(0, -1) }]) {
      const res = await ig.app.request('http://localhost/dev/photo.jpg', { headers });
      assert.equal(res.status, 403);
      assert.deepEqual(await res.json(), { message: 'Forbidden' });
    }
    for (const q of [`api_key=${TEST_KEY}`, `x-api-key=${TEST_KEY}`, `apiKey=${TEST_KEY}`, `key=${TEST_KEY}`]) {
      const res = await ig.app.request(`http://localhost/dev/photo.jpg?${q}`);
      assert.equal(res.status, 403, q);
    }
  });

  test('a second key serves the same deployment', async () => {
    const res = await ig.app.request('http://localhost/dev/photo.jpg', { headers: { 'X-API-Key': OTHER_KEY } });
    assert.equal(res.status, 200);
  });

  test('no path → 400; nothing there → 404 with the API Gateway style message', async () => {
    const res = await get(ig, 'http://localhost/dev/');
    assert.equal(res.status, 400);
    assert.equal((await res.json()).code, 'missing_path');
    const missing = await get(ig, 'http://localhost/dev/nope/missing.jpg');
    assert.equal(missing.status, 404);
    assert.deepEqual(await missing.json(), { message: 'Invalid image path: nope/missing.jpg', code: 'not_found' });
    const dir = await get(ig, 'http://localhost/dev/sub');
    assert.equal(dir.status, 404);
  });

  test('outside the base path → 404', async () => {
    const res = await get(ig, 'http://localhost/prod/photo.jpg');
    assert.equal(res.status, 404);
    const bare = await get(ig, 'http://localhost/photo.jpg');
    assert.equal(bare.status, 404);
  });

  test('no route matches → 404', async () => {
    const only = await testApp(folder.root, { routes: [{ match: 'images/:name', source: 'local', key: '{name}' }] });
    const res = await get(only, 'http://localhost/other/photo.jpg');
    assert.equal(res.status, 404);
    assert.equal((await get(only, 'http://localhost/images/photo.jpg')).status, 200);
  });

  test('If-None-Match and If-Modified-Since → 304 without reading the body', async () => {
    let reads = 0;
    const fs = createFsStorage({ root: folder.root });
    const counting: Storage = { head: fs.head, get: (k, s) => (reads++, fs.get(k, s)) };
    const app = await testApp(folder.root, {}, { storages: { local: counting } });
    const first = await get(app, 'http://localhost/photo.jpg');
    const etag = first.headers.get('etag')!;
    const lastModified = first.headers.get('last-modified')!;
    assert.equal(reads, 1);
    const byTag = await get(app, 'http://localhost/photo.jpg', { 'If-None-Match': etag });
    assert.equal(byTag.status, 304);
    assert.equal(byTag.headers.get('etag'), etag);
    const byList = await get(app, 'http://localhost/photo.jpg', { 'If-None-Match': `"other", W/${etag}` });
    assert.equal(byList.status, 304);
    const byDate = await get(app, 'http://localhost/photo.jpg', { 'If-Modified-Since': lastModified });
    assert.equal(byDate.status, 304);
    assert.equal(reads, 1, 'no body read for conditional hits');
    const stale = await get(app, 'http://localhost/photo.jpg', { 'If-None-Match': '"stale"' });
    assert.equal(stale.status, 200);
    const old = await get(app, 'http://localhost/photo.jpg', { 'If-Modified-Since': 'Thu, 01 Jan 1970 00:00:00 GMT' });
    assert.equal(old.status, 200);
    assert.equal(reads, 3);
  });

  test('a storage failure that is not "missing" is a 5xx with its code, never a fake 404', async () => {
    const failing: Storage = {
      head: async () => {
        throw new ServiceError(503, 'source_unavailable', 'Source is unavailable (head)');
      },
      get: async () => undefined,
    };
    const app = await testApp(folder.root, {}, { storages: { local: failing } });
    const res = await get(app, 'http://localhost/photo.jpg');
    assert.equal(res.status, 503);
    assert.equal((await res.json()).code, 'source_unavailable');
    const crashing: Storage = {
      head: async () => {
        throw new Error('socket hang up');
      },
      get: async () => undefined,
    };
    const app2 = await testApp(folder.root, {}, { storages: { local: crashing } });
    const res2 = await get(app2, 'http://localhost/photo.jpg');
    assert.equal(res2.status, 502);
    assert.equal((await res2.json()).code, 'source_error');
  });

  test('unknown methods → 405 with Allow', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      const res = await get(ig, 'http://localhost/dev/photo.jpg', {}, method);
      assert.equal(res.status, 405, method);
      assert.equal(res.headers.get('allow'), 'GET, HEAD');
    }
  });

  test('/_health answers at the root without a key, whatever the base path', async () => {
    const res = await ig.app.request('http://localhost/_health');
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: 'ok' });
    const reserved = await get(ig, 'http://localhost/_nothing');
    assert.equal(reserved.status, 404);
  });
});

describe('format negotiation at the edge of identity', () => {
  test('auto=format that picks no better format serves the original bytes, with Vary: Accept', async () => {
    const folder = await makeImageFolder();
    try {
      const ig = await testApp(folder.root);
      const plain = await get(ig, 'http://localhost/photo.jpg?auto=format', { Accept: 'image/jpeg,*/*;q=0.5' });
      assert.equal(plain.status, 200);
      assert.equal(plain.headers.get('vary'), 'Accept');
      assert.ok(Buffer.from(await plain.arrayBuffer()).equals(readFileSync(path.join(folder.root, 'photo.jpg'))));
      const webp = await get(ig, 'http://localhost/photo.jpg?auto=format', { Accept: 'image/webp,*/*' });
      assert.equal(webp.headers.get('content-type'), 'image/webp');
      assert.equal(webp.headers.get('vary'), 'Accept');
      assert.notEqual(webp.headers.get('etag'), plain.headers.get('etag'));
    } finally {
      folder.cleanup();
    }
  });
});

describe('a URL asked for again', () => {
  test('with auto=format, each Accept header still gets its own format and ETag, in any order', async () => {
    const folder = await makeImageFolder();
    const ig = await testApp(folder.root);
    try {
      const accepts = ['image/avif,image/webp,*/*', 'image/webp,*/*', '*/*', 'image/webp,image/avif', 'image/webp,*/*'];
      const seen: Array<[string | null, string | null]> = [];
      for (const accept of accepts) {
        const res = await get(ig, '/photo.jpg?w=40&auto=format', { Accept: accept });
        assert.equal(res.status, 200);
        seen.push([res.headers.get('content-type'), res.headers.get('etag')]);
      }
      assert.deepEqual(seen.map(([t]) => t), ['image/avif', 'image/webp', 'image/jpeg', 'image/avif', 'image/webp']);
      assert.equal(new Set(seen.slice(0, 3).map(([, e]) => e)).size, 3);
      assert.equal(seen[3][1], seen[0][1]);
      assert.equal(seen[4][1], seen[1][1]);
      // 304 against the ETag of the format this Accept header gets, not another one's.
      const notModified = await get(ig, '/photo.jpg?w=40&auto=format', { Accept: 'image/webp,*/*', 'If-None-Match': seen[1][1]! });
      assert.equal(notModified.status, 304);
      const other = await get(ig, '/photo.jpg?w=40&auto=format', { Accept: '*/*', 'If-None-Match': seen[1][1]! });
      assert.equal(other.status, 200);
    } finally {
      await ig.close();
      folder.cleanup();
    }
  });
});

describe('watermarks in the cache key', () => {
  test('replacing the mark image changes the ETag and the rendered bytes', async () => {
    const folder = await makeImageFolder();
    try {
      const ig = await testApp(folder.root, { cache: { sourceMetaTtlMs: 0 } });
      const url = 'http://localhost/photo.jpg?w=200&fm=png&mark=/alpha.png&mark-w=100';
      const first = await get(ig, url);
      assert.equal(first.status, 200);
      const bytes1 = Buffer.from(await first.arrayBuffer());
      await sharp({ create: { width: 300, height: 80, channels: 4, background: { r: 255, g: 0, b: 255, alpha: 1 } } })
        .png()
        .toFile(path.join(folder.root, 'alpha.png'));
      const second = await get(ig, url);
      assert.equal(second.status, 200);
      assert.notEqual(second.headers.get('etag'), first.headers.get('etag'));
      assert.ok(!Buffer.from(await second.arrayBuffer()).equals(bytes1), 'the new mark is drawn');
      const stale = await get(ig, url, { 'If-None-Match': first.headers.get('etag')! });
      assert.equal(stale.status, 200);
    } finally {
      folder.cleanup();
    }
  });
});
