import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rateLimitHeaders } from '../../src/http/usage.ts';
import { createUsageService } from '../../src/usage/index.ts';
import { plansConfigSchema, usageConfigSchema } from '../../src/usage/config.ts';
import { buildTestApp, mapLookup } from './app.ts';

const plans = plansConfigSchema.parse({ p: { rate: 2, burst: 4, quota: { limit: 10, period: 'day' } } });
const now = Date.parse('2026-11-26T23:00:00.000Z');

test('headers: draft (default), legacy, both, none', async () => {
  const usage = createUsageService(undefined, { clock: () => now });
  const d = await usage.check('k', plans.p!);
  const draft = rateLimitHeaders(d, now, 'draft');
  assert.deepEqual(draft, {
    'RateLimit-Policy': '"burst";q=4;w=2, "day";q=10;w=86400',
    RateLimit: '"burst";r=3;t=1, "day";r=9;t=3600',
  });
  assert.deepEqual(rateLimitHeaders(d, now, 'legacy'), { 'RateLimit-Limit': '4', 'RateLimit-Remaining': '3', 'RateLimit-Reset': '1' });
  assert.equal(Object.keys(rateLimitHeaders(d, now, 'both')).length, 5);
  assert.deepEqual(rateLimitHeaders(d, now, 'none'), {});
  assert.deepEqual(rateLimitHeaders({ allowed: true, retryAfterMs: 0 }, now, 'both'), {}, 'no plan limits, no headers');
});

test('the configured mode reaches the responses, 429s included', async () => {
  for (const mode of ['draft', 'legacy', 'none'] as const) {
    const usage = createUsageService(usageConfigSchema.parse({ store: 'memory', headers: mode }), { clock: () => now });
    const app = buildTestApp({ usage, plans, keys: mapLookup({ v: { id: 'k', plan: 'p' } }) });
    const res = await app.request('/img', { headers: { 'X-API-Key': 'v' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.has('RateLimit'), mode === 'draft');
    assert.equal(res.headers.has('RateLimit-Policy'), mode === 'draft');
    assert.equal(res.headers.has('RateLimit-Remaining'), mode === 'legacy');
    for (let i = 0; i < 3; i++) await app.request('/img', { headers: { 'X-API-Key': 'v' } });
    const over = await app.request('/img', { headers: { 'X-API-Key': 'v' } });
    assert.equal(over.status, 429);
    assert.equal(over.headers.get('Retry-After'), '1');
    assert.equal(over.headers.get('Content-Type'), 'application/json');
    assert.equal(over.headers.has('RateLimit'), mode === 'draft');
    assert.equal(over.headers.get('RateLimit-Remaining'), mode === 'legacy' ? '0' : null);
  }
});
