import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Hono } from 'hono';
import sharp from 'sharp';
import { createMetrics, formatLabel, metricsHandler } from '../../src/metrics.ts';
import { observeRequests } from '../../src/http/observe.ts';
import { createResultCache, SingleFlight, WorkLimiter } from '../../src/cache/index.ts';
import { cacheConfigSchema } from '../../src/config/cache.ts';
import { ServiceError } from '../../src/errors.ts';
import type { AppEnv } from '../../src/http/context.ts';

function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.split(' ').at(-1));
  }
  return undefined;
}

describe('metrics', () => {
  test('GET /_metrics exposes requests, latency, transformations, cache, queue, shed and source-fetch series', async () => {
    const metrics = createMetrics({ defaultMetrics: true });
    const cache = createResultCache(cacheConfigSchema.parse({}), { observer: metrics.cacheObserver });
    metrics.trackCache(cache);
    const limiter = new WorkLimiter({ concurrency: 1, queue: 0, observer: metrics.limiterObserver });
    const flight = new SingleFlight({ onShared: metrics.onShared });

    const app = new Hono<AppEnv>();
    app.use('*', observeRequests({ metrics }));
    app.onError((err, c) => {
      const status = err instanceof ServiceError ? err.status : 500;
      return c.json({ code: (err as ServiceError).code }, status as 503);
    });
    app.get('/_metrics', metricsHandler(metrics));
    app.get('/img', async (c) => {
      c.set('routeLabel', 'image');
      const key = 'img|w=50';
      const hit = await cache.get(key);
      if (hit) {
        c.set('cacheHit', hit.tier);
        return c.body(new Uint8Array(hit.value.body), 200, { 'Content-Type': hit.value.contentType });
      }
      const body = await flight.do(key, () =>
        limiter.run(async () => {
          const t = performance.now();
          const out = await sharp('/usr/share/backgrounds/mate/nature/Storm.jpg').resize(50).webp().toBuffer();
          metrics.onTransform({ format: 'image/webp', ms: performance.now() - t });
          await cache.set(key, { body: out, contentType: 'image/webp', headers: {}, createdAt: Date.now() });
          return out;
        }),
      );
      metrics.onSourceFetch({ source: 'photos', ms: 2 });
      c.set('transformed', true);
      return c.body(new Uint8Array(body), 200, { 'Content-Type': 'image/webp' });
    });
    app.get('/busy', async () => {
      const hold = limiter.run(() => new Promise((r) => setTimeout(r, 20)));
      try {
        await limiter.run(async () => 'x');
      } finally {
        await hold;
      }
      return new Response('unreachable');
    });

    const [a, b] = await Promise.all([app.request('/img'), app.request('/img')]);
    assert.equal(a.status, 200);
    assert.equal(b.status, 200);
    assert.equal((await app.request('/img')).status, 200);
    assert.equal((await app.request('/busy')).status, 503);
    assert.equal((await app.request('/nothing-here')).status, 404);

    const res = await app.request('/_metrics');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
    const text = await res.text();
    assert.equal(sample(text, 'imagegate_transformations_total', { format: 'webp' }), 1);
    assert.equal(await metrics.transformCount(), 1);
    assert.equal(sample(text, 'imagegate_coalesced_requests_total'), 1);
    assert.equal(sample(text, 'imagegate_http_requests_total', { route: 'image', status: '200', cache: 'memory' }), 1);
    assert.equal(sample(text, 'imagegate_http_requests_total', { route: 'image', status: '200', cache: 'miss' }), 2);
    assert.equal(sample(text, 'imagegate_http_requests_total', { route: 'other', status: '503' }), 1);
    assert.equal(sample(text, 'imagegate_http_requests_total', { route: 'other', status: '404' }), 1);
    assert.equal(sample(text, 'imagegate_http_request_duration_seconds_count', { route: 'image', cache: 'memory' }), 1);
    assert.equal(sample(text, 'imagegate_transform_duration_seconds_count', { format: 'webp' }), 1);
    assert.equal(sample(text, 'imagegate_cache_lookups_total', { tier: 'memory', result: 'hit' }), 1);
    assert.equal(sample(text, 'imagegate_cache_lookups_total', { tier: 'memory', result: 'miss' }), 2);
    assert.equal(sample(text, 'imagegate_shed_requests_total', { reason: 'overloaded' }), 1);
    assert.equal(sample(text, 'imagegate_source_fetch_duration_seconds_count', { source: 'photos' }), 2);
    assert.equal(sample(text, 'imagegate_work_queue_depth'), 0);
    assert.equal(sample(text, 'imagegate_work_in_flight'), 0);
    assert.equal(sample(text, 'imagegate_cache_memory_entries'), 1);
    assert.ok((sample(text, 'imagegate_cache_memory_bytes') ?? 0) > 0);
    assert.ok((sample(text, 'imagegate_process_resident_memory_bytes') ?? 0) > 0);
  });

  test('two apps in one process keep separate registries', async () => {
    const a = createMetrics({ defaultMetrics: false });
    const b = createMetrics({ defaultMetrics: false });
    a.onTransform({ format: 'jpeg', ms: 1 });
    assert.equal(await a.transformCount(), 1);
    assert.equal(await b.transformCount(), 0);
  });

  test('format labels stay a small fixed set', () => {
    assert.equal(formatLabel('image/jpeg'), 'jpeg');
    assert.equal(formatLabel('pjpg'), 'jpeg');
    assert.equal(formatLabel('image/avif'), 'avif');
    assert.equal(formatLabel('application/json'), 'json');
    assert.equal(formatLabel('image/x-anything-else'), 'other');
  });
});
