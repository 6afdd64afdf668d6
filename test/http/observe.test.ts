import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { makeImageFolder, testApp, get, TEST_KEY } from '../helpers/app.ts';
import type { ImagegateApp } from '../../src/http/app.ts';
import { requestIdGenerator } from '../../src/http/observe.ts';

describe('X-Request-Id', () => {
  let folder: Awaited<ReturnType<typeof makeImageFolder>>;
  let ig: ImagegateApp;
  before(async () => {
    folder = await makeImageFolder();
    ig = await testApp(folder.root);
  });
  after(async () => {
    await ig.close();
    folder.cleanup();
  });

  test('every response carries one, image responses (miss, hit, 304, original) and errors alike', async () => {
    const miss = await get(ig, '/photo.jpg?w=31');
    const hit = await get(ig, '/photo.jpg?w=31');
    assert.equal(hit.headers.get('etag'), miss.headers.get('etag'));
    const responses = [
      miss,
      hit,
      await get(ig, '/photo.jpg?w=31', { 'If-None-Match': miss.headers.get('etag')! }),
      await get(ig, '/photo.jpg'),
      await get(ig, '/photo.jpg', {}, 'HEAD'),
      await get(ig, '/missing.jpg'),
      await get(ig, '/photo.jpg?txt64=!!!'),
      await ig.app.request('/photo.jpg'),
      await ig.app.request('/_health'),
      await get(ig, '/photo.jpg', {}, 'POST'),
    ];
    assert.deepEqual(
      responses.map((r) => r.status),
      [200, 200, 304, 200, 200, 404, 400, 403, 200, 405],
    );
    const ids = responses.map((r) => r.headers.get('x-request-id'));
    for (const id of ids) assert.match(id ?? '', /^[a-z0-9]+-[a-z0-9]+$/);
    assert.equal(new Set(ids).size, ids.length, 'one id per request');
  });

  test("a client's plain id is kept; anything else is replaced", async () => {
    const kept = await get(ig, '/photo.jpg?w=32', { 'X-Request-Id': 'edge-4f2a:91=' });
    assert.equal(kept.headers.get('x-request-id'), 'edge-4f2a:91=');
    for (const bad of ['with space', 'x'.repeat(200), 'semi;colon']) {
      const res = await get(ig, '/photo.jpg?w=32', { 'X-Request-Id': bad });
      assert.notEqual(res.headers.get('x-request-id'), bad);
      assert.match(res.headers.get('x-request-id')!, /^[a-z0-9]+-[a-z0-9]+$/);
    }
    const refused = await ig.app.request('/photo.jpg', { headers: { 'X-Request-Id': 'trace-1', 'X-API-Key': `${TEST_KEY}x` } });
    assert.equal(refused.headers.get('x-request-id'), 'trace-1');
  });

  test("a plan's rate-limit fields and the id reach image responses (miss, hit, 304, original) and errors alike", async () => {
    const planned = await testApp(folder.root, {
      plans: { small: { rate: 100, burst: 50, quota: { limit: 1000, period: 'day' } } },
      keys: [{ id: 'test', sha256: (await import('../../src/auth/keys.ts')).sha256hex(TEST_KEY), plan: 'small' }],
    });
    try {
      const miss = await get(planned, '/photo.jpg?w=33');
      const responses = [miss, await get(planned, '/photo.jpg?w=33'), await get(planned, '/photo.jpg?w=33', { 'If-None-Match': miss.headers.get('etag')! }), await get(planned, '/photo.jpg'), await get(planned, '/missing.jpg'), await get(planned, '/photo.jpg?txt64=!!!')];
      assert.deepEqual(responses.map((r) => r.status), [200, 200, 304, 200, 404, 400]);
      responses.forEach((r, i) => {
        assert.equal(r.headers.get('ratelimit-policy'), '"burst";q=50;w=1, "day";q=1000;w=86400', `response ${i}`);
        // The day's quota counts each response exactly; the bucket refills meanwhile.
        assert.match(r.headers.get('ratelimit') ?? '', new RegExp(`^"burst";r=\\d+;t=\\d+, "day";r=${999 - i};t=\\d+$`), `response ${i}`);
        assert.match(r.headers.get('x-request-id') ?? '', /^[a-z0-9]+-[a-z0-9]+$/, `response ${i}`);
      });
    } finally {
      await planned.close();
    }
  });

  test('two processes never hand out the same id', () => {
    const a = requestIdGenerator();
    const b = requestIdGenerator();
    assert.notEqual(a().split('-')[0], b().split('-')[0]);
  });
});
