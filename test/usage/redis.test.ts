import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { eventually, requireCommand, startRedis, type RunningService } from '../helpers/services.ts';
import { usageConfigSchema } from '../../src/config/usage.ts';
import { createUsageService, type UsageLogger, type UsageService } from '../../src/usage/index.ts';
import { usageBehaviour } from './behaviour.ts';
import { usageApp } from './app.ts';
import { quotaAcrossTwoServers } from './spawn.ts';

const skip = requireCommand('redis-server');
const quiet: UsageLogger = { info() {}, warn() {}, error() {} };

let redis: RunningService;
const services: UsageService[] = [];
const apps: { close(): Promise<void> }[] = [];

function redisUsage(extra: Record<string, unknown> = {}, clock?: () => number, logger: UsageLogger = quiet): UsageService {
  const cfg = usageConfigSchema.parse({
    store: 'redis',
    url: redis.url,
    prefix: `t${randomBytes(4).toString('hex')}:`,
    commandTimeoutMs: 300,
    ...extra,
  });
  const s = createUsageService(cfg, { clock, logger });
  services.push(s);
  return s;
}

describe('usage plans, Redis store', { skip }, () => {
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    for (const a of apps) await a.close().catch(() => {});
    await Promise.all(services.map((s) => s.close().catch(() => {})));
    await redis?.stop();
  });

  describe('behaviour suite', () => {
    usageBehaviour(async (clock) => {
      const s = redisUsage({ headers: 'both' }, clock);
      assert.equal(await s.ready(10_000), true);
      return s;
    });
  });

  test('two server processes, one key with quota N: of 3N requests spread over both, exactly N succeed', async () => {
    const N = 40;
    const prefix = `mp${randomBytes(4).toString('hex')}:`;
    await quotaAcrossTwoServers({ store: 'redis', url: redis.url, prefix }, { quota: { limit: N, period: 'day' } }, N);
    const reader = redisUsage({ prefix });
    const recs = await reader.read({ key: 'shared', days: ['2026-06-15'] });
    assert.equal(recs.length, 1);
    assert.equal(recs[0]!.requests, 3 * N);
    assert.equal(recs[0]!.s2xx, N);
    assert.equal(recs[0]!.s4xx, 2 * N);
    assert.equal(recs[0]!.quotaExceeded, 2 * N);
    // bytes: the N images served plus the 2N JSON 429 bodies
    assert.ok(recs[0]!.bytes >= N * 100);
  });

  test('Redis killed mid-run: failOpen serves and counts locally, failClosed answers 503; both recover when Redis returns', async () => {
    const plans = { p: { rate: 1000, burst: 1000, quota: { limit: 1000, period: 'day' } } };
    const logged: string[] = [];
    const logger: UsageLogger = { info() {}, warn: (_o, m) => logged.push(`warn ${m}`), error: (_o, m) => logged.push(`error ${m}`) };
    const frozen = () => Date.parse('2026-06-15T12:00:00.000Z'); // never straddles a UTC day
    // One store round trip per request (no leases): the fallback at the very next request.
    // lease.test.ts covers a block being spent first.
    const open = redisUsage({ onUnavailable: 'failOpen', flushIntervalMs: 0, lease: { maxUnits: 1 } }, frozen, logger);
    const closed = redisUsage({ onUnavailable: 'failClosed', lease: { maxUnits: 1 } }, frozen);
    assert.equal(await open.ready(10_000), true);
    assert.equal(await closed.ready(10_000), true);
    const keys = { k: { id: 'kk', plan: 'p' } };
    const openApp = await usageApp({ usage: open, plans, keys });
    const closedApp = await usageApp({ usage: closed, plans, keys, root: openApp.root });
    apps.push(closedApp, openApp);
    const get = async (app: typeof openApp) => {
      const res = await app.get('k', '/alpha.png');
      await res.arrayBuffer();
      return res;
    };

    for (let i = 0; i < 3; i++) {
      assert.equal((await get(openApp)).status, 200);
      assert.equal((await get(closedApp)).status, 200);
    }
    await open.flush();

    const port = redis.port;
    await redis.stop();
    const t0 = Date.now();
    const down = await closedApp.get('k', '/alpha.png');
    assert.equal(down.status, 503);
    assert.equal(((await down.json()) as { code: string }).code, 'usage_store_unavailable');
    assert.equal(down.headers.get('Retry-After'), '1');
    const served = await get(openApp);
    assert.equal(served.status, 200);
    assert.ok(served.headers.get('RateLimit'), 'limits still stated while degraded');
    // generous bound: with an offline queue the requests would hang until Redis returned
    assert.ok(Date.now() - t0 < 15_000, 'fails fast while Redis is down');
    assert.equal(open.available(), false);
    assert.ok(logged.some((l) => l.startsWith('error usage store (Redis) unavailable')), 'logged loudly');
    for (let i = 0; i < 4; i++) assert.equal((await get(openApp)).status, 200);

    redis = await startRedis(port);
    await eventually(async () => (await get(closedApp)).status === 200, 'failClosed serves again after Redis returns');
    await eventually(async () => {
      await get(openApp);
      return open.available();
    }, 'failOpen back on Redis');
    assert.ok(logged.some((l) => l === 'warn usage store (Redis) available again'));
    // Redis restarted empty: records counted while it was down reach it after recovery
    await eventually(async () => {
      await open.flush();
      const recs = await open.read({ key: 'kk', days: ['2026-06-15'] });
      return (recs[0]?.requests ?? 0) >= 5;
    }, 'usage records written after recovery');
    // concurrent requests go out as one pipeline; the restarted Redis has no script cached yet
    await redis.stop();
    redis = await startRedis(port);
    await eventually(async () => {
      const many = await Promise.all(Array.from({ length: 10 }, () => get(closedApp)));
      return many.every((r) => r.status === 200);
    }, 'pipelined checks after another restart');
  });
});


