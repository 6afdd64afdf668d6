import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Hono } from 'hono';
import { parseConfig } from '../../src/config/load.ts';
import type { AppEnv } from '../../src/http/context.ts';
import { dashboardPage, dashboardRoutes } from '../../src/http/dashboard.ts';
import { RequestStats } from '../../src/http/stats.ts';
import { createMetrics } from '../../src/metrics.ts';

const config = parseConfig({
  server: { basePath: '/dev' },
  sources: { a: { type: 'fs', root: '.' } },
  routes: [{ match: '*', source: 'a' }],
  limits: { concurrency: 3, queue: 7 },
});

describe('dashboard routes', () => {
  test('the page: HTML with the base path, a strict CSP, no data; assets served with their types', async () => {
    const app = new Hono<AppEnv>().route('/', dashboardPage(config));
    const res = await app.request('/_admin/');
    assert.equal(res.status, 200);
    const html = await res.text();
    assert.match(html, /<meta name="imagegate-base-path" content="\/dev">/);
    assert.match(res.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const js = await app.request('/_admin/dashboard.js');
    assert.match(js.headers.get('content-type') ?? '', /javascript/);
    assert.match(await js.text(), /Authorization: 'Bearer '/);
    assert.match((await app.request('/_admin/dashboard.css')).headers.get('content-type') ?? '', /text\/css/);
    const bare = await app.request('/_admin');
    assert.equal(bare.status, 301);
    assert.equal(bare.headers.get('location'), '/_admin/');
  });

  test('the page script is valid JavaScript', async () => {
    const { DASHBOARD_JS } = await import('../../src/http/dashboard/page.ts');
    assert.doesNotThrow(() => new Function(DASHBOARD_JS));
  });

  test('GET /stats: the snapshot plus base path, work queue from the metrics gauges, process', async () => {
    const stats = new RequestStats();
    stats.record({ at: Date.now(), path: '/dev/a.jpg', status: 200, ms: 12, transformed: true, authenticated: true });
    const metrics = createMetrics({ defaultMetrics: false });
    metrics.limiterObserver.changed!({ active: 2, queued: 5 });
    const app = new Hono<AppEnv>().route('/_admin', dashboardRoutes({ config, stats, metrics }));
    const res = await app.request('/_admin/stats');
    assert.equal(res.status, 200);
    const body = (await res.json()) as any;
    assert.equal(body.basePath, '/dev');
    assert.deepEqual(body.queue, { active: 2, queued: 5, concurrency: 3, capacity: 7 });
    assert.equal(body.topPaths[0].path, '/dev/a.jpg');
    assert.equal(body.cache.misses, 1);
    assert.equal(body.process.pid, process.pid);
  });
});
