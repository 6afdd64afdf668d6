import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Hono } from 'hono';
import type { AppEnv } from '../../src/http/context.ts';
import { percentile, RequestStats } from '../../src/http/stats.ts';
import { observeRequests } from '../../src/http/observe.ts';
import { makeImageFolder, testApp, get, ADMIN_TOKEN } from '../helpers/app.ts';

describe('RequestStats', () => {
  test('nearest-rank percentiles', () => {
    const s = Array.from({ length: 100 }, (_, i) => i + 1);
    assert.equal(percentile(s, 50), 50);
    assert.equal(percentile(s, 99), 99);
    assert.equal(percentile(s, 100), 100);
    assert.equal(percentile([], 50), 0);
  });

  test('top paths, latency, status classes and cache hit ratio over the window', () => {
    let now = 1_000_000;
    const stats = new RequestStats({ windowMs: 60_000, now: () => now });
    const add = (path: string, status: number, ms: number, extra: { cacheHit?: 'memory' | 'persistent'; transformed?: boolean } = {}) =>
      stats.record({ at: now, path, status, ms, transformed: extra.transformed ?? false, cacheHit: extra.cacheHit, authenticated: true });
    for (let i = 1; i <= 10; i++) add('/a.jpg', 200, i, i <= 6 ? { cacheHit: 'memory' } : { transformed: true });
    for (let i = 1; i <= 3; i++) add('/b.jpg', 404, 100);
    add('/_admin/stats', 200, 1000);
    add('/c.jpg', 200, 5, { cacheHit: 'persistent' });
    const snap = stats.snapshot();
    assert.equal(snap.requests, 15);
    assert.deepEqual(snap.status, { '2xx': 12, '3xx': 0, '4xx': 3, '5xx': 0 });
    assert.deepEqual(snap.topPaths.map((p) => [p.path, p.count, p.errors]), [['/a.jpg', 10, 0], ['/b.jpg', 3, 3], ['/c.jpg', 1, 0]]);
    assert.equal(snap.cache.hits, 7);
    assert.equal(snap.cache.misses, 4);
    assert.equal(snap.cache.hitRatio, 0.636);
    // admin paths are not image latency
    assert.equal(snap.latency.count, 14);
    assert.equal(snap.latency.max, 100);
    assert.equal(snap.topPaths[0].p50, 5);

    now += 61_000;
    assert.equal(stats.snapshot().requests, 0, 'samples leave the window');
    assert.equal(stats.snapshot().cache.hitRatio, null);
  });

  test('the ring keeps only the newest samples', () => {
    const stats = new RequestStats({ capacity: 5 });
    for (let i = 0; i < 12; i++) stats.record({ at: Date.now(), path: `/${i}`, status: 200, ms: i, transformed: false });
    assert.deepEqual(stats.samples().map((s) => s.path), ['/7', '/8', '/9', '/10', '/11']);
  });
});

describe('observeRequests → stats', () => {
  test('records path without query, status, cache tier and in-flight count from the context', async () => {
    const stats = new RequestStats();
    const app = new Hono<AppEnv>();
    app.use('*', observeRequests({ stats }));
    let seenInFlight = -1;
    app.get('/hit.jpg', (c) => {
      seenInFlight = stats.inFlight;
      c.set('cacheHit', 'memory');
      return c.text('x');
    });
    app.get('/render.jpg', (c) => {
      c.set('transformed', true);
      return c.text('y');
    });
    app.get('/boom', () => {
      throw new Error('boom');
    });
    await app.request('/hit.jpg?w=10');
    await app.request('/render.jpg');
    await app.request('/missing');
    await app.request('/boom');
    assert.equal(seenInFlight, 1);
    assert.equal(stats.inFlight, 0);
    const s = stats.samples();
    assert.deepEqual(s.map((x) => [x.path, x.status, x.cacheHit ?? null, x.transformed]), [
      ['/hit.jpg', 200, 'memory', false],
      ['/render.jpg', 200, null, true],
      ['/missing', 404, null, false],
      ['/boom', 500, null, false],
    ]);
    assert.equal(stats.snapshot().cache.hitRatio, 0.5);
  });
});

describe('top paths on the dashboard', () => {
  test('only requests with a valid API key are listed; keyless and bad-key requests are counted, not named', async () => {
    const folder = await makeImageFolder();
    const ig = await testApp(folder.root);
    try {
      for (let i = 0; i < 5; i++) {
        await ig.app.request('/ATTACKER-TEXT-no-key.jpg');
        await ig.app.request('/photo.jpg?w=10', { headers: { 'X-API-Key': 'not-a-key' } });
        await ig.app.request('/ATTACKER-TEXT-bad-key.jpg', { headers: { 'X-API-Key': 'not-a-key' } });
      }
      assert.equal((await get(ig, '/photo.jpg?w=20')).status, 200);
      assert.equal((await get(ig, '/missing.jpg')).status, 404);
      const res = await ig.app.request('/_admin/stats', { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
      const snap = (await res.json()) as { requests: number; status: Record<string, number>; topPaths: { path: string; count: number }[] };
      assert.deepEqual(snap.topPaths.map((p) => [p.path, p.count]), [['/missing.jpg', 1], ['/photo.jpg', 1]]);
      assert.equal(snap.status['4xx'], 16, 'refused requests still count in the status classes');
    } finally {
      await ig.close();
      folder.cleanup();
    }
  });
});
