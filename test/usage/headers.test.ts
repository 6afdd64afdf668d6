import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rateLimitHeaders } from '../../src/usage/middleware.ts';
import { createUsageService } from '../../src/usage/index.ts';
import { plansConfigSchema, usageConfigSchema } from '../../src/config/usage.ts';
import { makeImageFolder } from '../helpers/app.ts';
import { usageApp } from './app.ts';

const planInput = { p: { rate: 2, burst: 4, quota: { limit: 10, period: 'day' } } };
const plans = plansConfigSchema.parse(planInput);
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
  const folder = await makeImageFolder();
  for (const mode of ['draft', 'legacy', 'none'] as const) {
    const usage = createUsageService(usageConfigSchema.parse({ store: 'memory', headers: mode }), { clock: () => now });
    const app = await usageApp({ usage, plans: planInput, keys: { v: { id: 'k', plan: 'p' } }, root: folder.root });
    const res = await app.get('v');
    assert.equal(res.status, 200);
    assert.equal(res.headers.has('RateLimit'), mode === 'draft');
    assert.equal(res.headers.has('RateLimit-Policy'), mode === 'draft');
    assert.equal(res.headers.has('RateLimit-Remaining'), mode === 'legacy');
    for (let i = 0; i < 3; i++) await (await app.get('v')).arrayBuffer();
    const over = await app.get('v');
    assert.equal(over.status, 429);
    assert.equal(over.headers.get('Retry-After'), '1');
    assert.equal(over.headers.get('Content-Type'), 'application/json');
    assert.equal(over.headers.has('RateLimit'), mode === 'draft');
    assert.equal(over.headers.get('RateLimit-Remaining'), mode === 'legacy' ? '0' : null);
    assert.ok(over.headers.get('X-Request-Id'), 'the pending headers reach the 429 too');
    const body = (await over.json()) as { code: string; rate: unknown; retryAfterSeconds: number };
    assert.deepEqual([body.code, body.rate, body.retryAfterSeconds], ['rate_limited', { perSecond: 2, burst: 4 }, 1]);
    await app.close();
  }
  folder.cleanup();
});
