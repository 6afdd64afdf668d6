/**
 * Leases: blocks of units a replica takes from Redis (or DynamoDB) so that a busy key's checks
 * are answered at once. Several usage services on one store stand for several replicas; time
 * comes from a controllable clock, except the few real milliseconds a background taking needs.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { fakeAwsEnv, requireCommand, startMoto, startRedis, type RunningService } from '../helpers/services.ts';
import { freshTable } from '../helpers/dynamodb.ts';
import { plansConfigSchema, usageConfigSchema, type PlanConfig } from '../../src/config/usage.ts';
import { createUsageService, type Decision, type UsageLogger, type UsageService } from '../../src/usage/index.ts';
import { rateLimitHeaders } from '../../src/usage/middleware.ts';
import { Leases, type LeaseStore } from '../../src/usage/lease.ts';
import type { TakeResult } from '../../src/usage/types.ts';
import { isPromise } from '../../src/http/chain.ts';
import { isServiceError } from '../../src/errors.ts';
import { clockAt } from './behaviour.ts';

const quiet: UsageLogger = { info() {}, warn() {}, error() {} };
const DAY = '2026-06-15';
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A plan as the config loader gives it (burst filled in). */
function plan(p: Record<string, unknown>): PlanConfig {
  return plansConfigSchema.parse({ p }).p!;
}

/** One check: whether it was answered at once, and its decision. */
async function ask(u: UsageService, key: string, p: PlanConfig): Promise<{ sync: boolean; d: Decision }> {
  const r = u.check(key, p);
  return { sync: !isPromise(r), d: await r };
}

/** `n` checks from each service in turn (a, b, a, b, …): how many were allowed, how many answered at once. */
async function interleaved(services: UsageService[], key: string, p: PlanConfig, n: number): Promise<{ allowed: number; sync: number }> {
  let allowed = 0;
  let sync = 0;
  for (let i = 0; i < n; i++) {
    for (const u of services) {
      const r = await ask(u, key, p);
      if (r.d.allowed) allowed++;
      if (r.sync) sync++;
    }
  }
  return { allowed, sync };
}

describe('usage plans, leases on Redis', { skip: requireCommand('redis-server') }, () => {
  let redis: RunningService;
  let client: Redis;
  const services: UsageService[] = [];

  function make(clock: () => number, extra: Record<string, unknown> = {}): UsageService {
    const cfg = usageConfigSchema.parse({ store: 'redis', url: redis.url, prefix: 'lease:', commandTimeoutMs: 300, ...extra });
    const s = createUsageService(cfg, { clock, logger: quiet });
    services.push(s);
    return s;
  }

  before(async () => {
    redis = await startRedis();
    client = new Redis(redis.url);
  });
  after(async () => {
    await Promise.all(services.map((s) => s.close().catch(() => {})));
    client?.disconnect();
    await redis?.stop();
  });

  test('a busy key: after its first requests every check is answered at once, with the same count-down as one round trip each', async () => {
    const clock = clockAt(`${DAY}T12:00:00.000Z`);
    const prefix = `t1${randomBytes(3).toString('hex')}:`;
    const u = make(clock.fn, { prefix });
    const p = plan({ rate: 1000, burst: 1000, quota: { limit: 100_000, period: 'day' } });
    const first = await ask(u, 'busy', p);
    assert.equal(first.sync, false, 'the first request of a key asks the store');
    const second = await ask(u, 'busy', p); // seen twice: it takes the key's first block
    const decisions = [first.d, second.d];
    for (let i = 2; i < 100; i++) {
      await pause(10); // requests a few milliseconds apart: a background taking lands in between
      const { sync, d } = await ask(u, 'busy', p);
      assert.equal(sync, true, `check ${i + 1} answered at once`);
      decisions.push(d);
    }
    // 999 → 998 → 997 …: the figures one store round trip per request gives on one replica
    decisions.forEach((d, i) => {
      assert.equal(d.allowed, true);
      assert.equal(d.rate!.remaining, 999 - i, `rate remaining after request ${i + 1}`);
      assert.equal(d.quota!.remaining, 99_999 - i, `quota remaining after request ${i + 1}`);
      assert.equal(d.quota!.used, i + 1);
    });
    assert.ok(u.heldUnits('busy') > 0);
  });

  test('two replicas on one Redis never let more through than the plan: quota 100, and a burst of 100 at a standing clock', async () => {
    const clock = clockAt(`${DAY}T12:00:00.000Z`);
    const prefix = `t2${randomBytes(3).toString('hex')}:`;
    const a = make(clock.fn, { prefix });
    const b = make(clock.fn, { prefix });
    const quota = plan({ quota: { limit: 100, period: 'day' } });
    const q = await interleaved([a, b], 'shared', quota, 80);
    assert.equal(q.allowed, 100);
    assert.ok(q.sync > 0, 'some answered from a block');
    assert.equal(await client.get(`${prefix}quota:{shared}:d${DAY}`), '100');

    const rate = plan({ rate: 10, burst: 100 });
    const r = await interleaved([a, b], 'rated', rate, 80);
    assert.equal(r.allowed, 100, 'the burst, and not one more');
    assert.ok(r.sync > 0, 'some answered from a block');
    clock.now += 1000; // 10 tokens more
    assert.equal((await interleaved([a, b], 'rated', rate, 20)).allowed, 10);
    assert.ok(a.heldUnits('rated') + b.heldUnits('rated') === 0);
  });

  test('unspent units go back to Redis once: after the key is idle and on close(), its counters are the requests served', async () => {
    const clock = clockAt(`${DAY}T12:00:00.000Z`);
    const prefix = `t3${randomBytes(3).toString('hex')}:`;
    // 1 token a second at most: what Redis shows is what was taken, hardly refilled.
    const p = plan({ rate: 0.001, burst: 1000, quota: { limit: 100_000, period: 'day' } });
    const quotaKey = (key: string) => `${prefix}quota:{${key}}:d${DAY}`;
    const tokens = async (key: string) => Number(await client.hget(`${prefix}bucket:{${key}}`, 't'));
    /** Until no taking is in flight: the store's counter is what was served plus what is held. */
    const settled = async (u: UsageService, key: string, served: number) => {
      for (let i = 0; i < 200; i++) {
        if (Number(await client.get(quotaKey(key))) === served + u.heldUnits(key)) return;
        await pause(10);
      }
      assert.fail('a taking still in flight after 2 s');
    };
    const serve = async (u: UsageService, key: string, n: number) => {
      for (let i = 0; i < n; i++) {
        assert.equal((await ask(u, key, p)).d.allowed, true);
        await pause(2);
      }
    };

    const u = make(clock.fn, { prefix, lease: { maxUnits: 50, idleMs: 1000 } });
    await serve(u, 'idle', 37);
    await settled(u, 'idle', 37);
    const held = u.heldUnits('idle');
    assert.ok(held > 0, 'a block is held');
    assert.equal(Number(await client.get(quotaKey('idle'))), 37 + held, 'taken before being spent');
    clock.now += 999;
    await u.returnIdleUnits();
    assert.equal(u.heldUnits('idle'), held, 'not idle for long enough yet');
    clock.now += 1;
    await u.returnIdleUnits();
    assert.equal(u.heldUnits('idle'), 0);
    assert.equal(Number(await client.get(quotaKey('idle'))), 37);
    // Tokens are never given back (they come back by the bucket's refill): the store's bucket is
    // as the last taking left it.
    assert.ok(Math.abs((await tokens('idle')) - (1000 - 37 - held)) < 1e-6, 'the tokens stay taken');

    const v = make(clock.fn, { prefix });
    await serve(v, 'closing', 41);
    await settled(v, 'closing', 41);
    const closingHeld = v.heldUnits('closing');
    assert.ok(closingHeld > 0);
    await v.close();
    assert.equal(Number(await client.get(quotaKey('closing'))), 41);
    assert.ok(Math.abs((await tokens('closing')) - (1000 - 41 - closingHeld)) < 1e-6);
    // never twice: closing again and another idle sweep give nothing more back
    await v.close();
    await u.returnIdleUnits();
    clock.now += 60_000;
    await u.returnIdleUnits();
    assert.equal(Number(await client.get(quotaKey('closing'))), 41);
    assert.equal(Number(await client.get(quotaKey('idle'))), 37);
  });

  test('a small plan (burst 3, quota 5) takes no block: the same decisions and headers as the memory store, request by request', async () => {
    const clock = clockAt(`${DAY}T12:00:00.000Z`);
    const u = make(clock.fn, { prefix: `t4${randomBytes(3).toString('hex')}:` });
    const reference = createUsageService(usageConfigSchema.parse({ store: 'memory' }), { clock: clock.fn, logger: quiet });
    services.push(reference);
    const p = plan({ rate: 1, burst: 3, quota: { limit: 5, period: 'day' } });
    // bursts and pauses: rate refusals, refills, the quota used up
    const steps = [0, 0, 0, 0, 0, 400, 600, 0, 1000, 0, 0, 3000, 0, 0, 0];
    for (const [i, step] of steps.entries()) {
      clock.now += step;
      const got = await ask(u, 'small', p);
      const want = await ask(reference, 'small', p);
      assert.equal(got.sync, false, `request ${i + 1}: one store round trip, as before`);
      assert.deepEqual(got.d, want.d, `request ${i + 1}`);
      assert.deepEqual(rateLimitHeaders(got.d, clock.now, 'both'), rateLimitHeaders(want.d, clock.now, 'both'));
      assert.equal(u.heldUnits('small'), 0, 'nothing held');
    }
    // …while the same service does take blocks for a plan big enough
    const big = plan({ rate: 1000, burst: 1000 });
    for (let i = 0; i < 10; i++) {
      await ask(u, 'big', big);
      await pause(2);
    }
    assert.ok(u.heldUnits('big') > 0);
  });

  test('held tokens add at most the block to the burst: a replica holding a block, quiet 500 ms, then 200 requests at once', async () => {
    const clock = clockAt(`${DAY}T12:00:00.000Z`);
    const u = make(clock.fn, { prefix: `t6${randomBytes(3).toString('hex')}:` });
    const p = plan({ rate: 100, burst: 100, quota: { limit: 100_000, period: 'day' } });
    for (let i = 0; i < 12; i++) {
      assert.equal((await ask(u, 'k', p)).d.allowed, true);
      await pause(2);
    }
    await pause(20);
    const held = u.heldUnits('k');
    assert.ok(held > 0 && held <= 15, `a block held, at most 15% of the burst: ${held}`);
    clock.now += 500; // quiet, but less than idleMs: the block stays; the store's bucket is full again
    const all = await Promise.all(Array.from({ length: 200 }, () => u.check('k', p)));
    // The bucket's burst, plus at most what the replica held (the documented bound), never more.
    assert.equal(all.filter((d) => d.allowed).length, 100 + held);
  });

  test('two replicas holding blocks, a quiet gap shorter than idleMs, then a burst from both at once: at most the burst and what they held', async () => {
    const clock = clockAt(`${DAY}T12:00:00.000Z`);
    const prefix = `t7${randomBytes(3).toString('hex')}:`;
    const a = make(clock.fn, { prefix });
    const b = make(clock.fn, { prefix });
    const p = plan({ rate: 100, burst: 100 });
    for (let i = 0; i < 30; i++) {
      clock.now += 5; // a moving clock: both keep spending while the bucket refills
      await ask(i % 2 ? a : b, 'k', p);
      await pause(2);
    }
    await pause(20);
    const held = a.heldUnits('k') + b.heldUnits('k');
    assert.ok(a.heldUnits('k') > 0 && b.heldUnits('k') > 0 && held <= 30, `both hold a block, each at most 15% of the burst: ${held}`);
    clock.now += 900;
    const all = await Promise.all(Array.from({ length: 150 }, (_, i) => (i % 2 ? a : b).check('k', p)));
    const allowed = all.filter((d) => d.allowed).length;
    assert.ok(allowed <= 100 + held, `${allowed} allowed, at most the burst and the ${held} held`);
    assert.ok(allowed >= 90, `${allowed} allowed: the bucket was full again`);
  });

  test('a block taken before midnight UTC and waited on after it: the new day never allows more than its quota, the old day counts what it served', async () => {
    const clock = clockAt(`${DAY}T23:59:59.000Z`);
    const prefix = `t8${randomBytes(3).toString('hex')}:`;
    const u = make(clock.fn, { prefix });
    const p = plan({ quota: { limit: 100, period: 'day' } });
    const midnight = Date.parse(`${DAY}T23:59:59.000Z`) + 1000;
    const served = { old: 0, new: 0 };
    const count = (at: number) => (d: Decision) => {
      if (d.allowed) served[at < midnight ? 'old' : 'new']++;
    };
    for (let i = 0; i < 20; i++) {
      count(clock.now)(await u.check('k', p));
      await pause(2);
    }
    await pause(20);
    assert.ok(u.heldUnits('k') > 0, 'a block held before midnight');
    // Requests at once across midnight: the block runs out before it, a taking sent in the old
    // day is in flight when the new day's requests queue for it.
    const pending: Promise<void>[] = [];
    for (let i = 0; i < 40; i++) {
      if (i === 20) clock.now = midnight;
      const at = clock.now;
      pending.push(Promise.resolve(u.check('k', p)).then(count(at)));
    }
    await Promise.all(pending);
    for (let i = 0; i < 150; i++) {
      const at = clock.now;
      count(at)(await u.check('k', p));
      await pause(1);
    }
    await u.close();
    assert.equal(served.new, 100, 'the new day: its quota, not one more');
    assert.equal(await client.get(`${prefix}quota:{k}:d${DAY}`), String(served.old), 'the old day counts what it served');
    assert.equal(await client.get(`${prefix}quota:{k}:d2026-06-16`), '100');
  });

  test('Redis dies mid-block: the block is spent, then failOpen serves degraded and failClosed answers 503, as without leases', async () => {
    const own = await startRedis();
    try {
      const clock = clockAt(`${DAY}T12:00:00.000Z`);
      const p = plan({ rate: 1000, burst: 1000, quota: { limit: 1000, period: 'day' } });
      const onto = (policy: string) => {
        const cfg = usageConfigSchema.parse({ store: 'redis', url: own.url, prefix: `t5${policy}:`, commandTimeoutMs: 300, onUnavailable: policy });
        const s = createUsageService(cfg, { clock: clock.fn, logger: quiet });
        services.push(s);
        return s;
      };
      const open = onto('failOpen');
      const closed = onto('failClosed');
      for (let i = 0; i < 30; i++) {
        await ask(open, 'k', p);
        await ask(closed, 'k', p);
        await pause(2);
      }
      await pause(20);
      await own.stop();
      await pause(100); // a taking in flight when Redis went has failed by now
      for (const [u, policy] of [
        [open, 'failOpen'],
        [closed, 'failClosed'],
      ] as const) {
        const held = u.heldUnits('k');
        assert.ok(held > 0, `${policy}: a block held when Redis went`);
        for (let i = 0; i < held; i++) {
          const { d } = await ask(u, 'k', p);
          assert.equal(d.allowed, true, `${policy}: unit ${i + 1} of the block`);
          assert.equal(d.degraded, undefined, 'from the block, not degraded');
        }
        assert.equal(u.heldUnits('k'), 0);
      }
      const degraded = await ask(open, 'k', p);
      assert.equal(degraded.d.allowed, true);
      assert.equal(degraded.d.degraded, true);
      assert.equal(open.available(), false);
      await assert.rejects(
        async () => (await ask(closed, 'k', p)).d,
        (err) => isServiceError(err) && err.status === 503 && err.code === 'usage_store_unavailable',
      );
    } finally {
      await own.stop();
    }
  });
});

describe('usage plans, leases on DynamoDB', { skip: requireCommand('moto_server') }, () => {
  let moto: RunningService;
  let table: string;
  const services: UsageService[] = [];

  before(async () => {
    fakeAwsEnv();
    moto = await startMoto({ serial: true });
    table = await freshTable(moto.url);
  });
  after(async () => {
    await Promise.all(services.map((s) => s.close().catch(() => {})));
    await moto?.stop();
  });

  test('two replicas on one table, quota 100: of 80 requests each, interleaved, exactly 100 are allowed', async () => {
    const clock = clockAt(`${DAY}T12:00:00.000Z`);
    const prefix = `l${randomBytes(4).toString('hex')}/`;
    const [a, b] = [0, 1].map(() => {
      const cfg = usageConfigSchema.parse({ store: 'dynamodb', table, endpoint: moto.url, region: 'us-east-1', prefix, commandTimeoutMs: 5000 });
      const s = createUsageService(cfg, { clock: clock.fn, logger: quiet });
      services.push(s);
      return s;
    });
    const p = plan({ rate: 1000, burst: 1000, quota: { limit: 100, period: 'day' } });
    let sync = 0;
    let allowed = 0;
    for (let i = 0; i < 80; i++) {
      for (const u of [a!, b!]) {
        const r = await ask(u, 'shared', p);
        if (r.sync) sync++;
        if (r.d.allowed) allowed++;
      }
    }
    assert.equal(allowed, 100);
    assert.ok(sync > 0, 'some answered from a block');
    assert.equal(a!.heldUnits('shared') + b!.heldUnits('shared'), 0);
  });

  test('80 requests queued on a bucket of 60: a handful of conditional updates, not one per unit', async () => {
    const clock = clockAt(`${DAY}T12:00:00.000Z`);
    const cfg = usageConfigSchema.parse({ store: 'dynamodb', table, endpoint: moto.url, region: 'us-east-1', prefix: `q${randomBytes(4).toString('hex')}/`, commandTimeoutMs: 5000 });
    const u = createUsageService(cfg, { clock: clock.fn, logger: quiet });
    services.push(u);
    const p = plan({ rate: 1, burst: 60 }); // a standing clock: 60 tokens and no refill
    assert.equal((await ask(u, 'queued', p)).d.allowed, true);
    const send = DynamoDBClient.prototype.send;
    let updates = 0;
    DynamoDBClient.prototype.send = function (this: DynamoDBClient, command: unknown, ...rest: unknown[]) {
      if (command instanceof UpdateItemCommand) updates++;
      return (send as (...args: unknown[]) => unknown).call(this, command, ...rest);
    } as typeof send;
    let all: Decision[];
    try {
      all = await Promise.all(Array.from({ length: 80 }, () => u.check('queued', p)));
    } finally {
      DynamoDBClient.prototype.send = send;
    }
    assert.equal(all.filter((d) => d.allowed).length, 59, 'the bucket, and not one more');
    assert.ok(updates <= 20, `${updates} store calls`);
  });
});

/** Leases (blocks of up to 1000, idle after 1 s) on a store the test answers for, deciding only allowed or not. */
function fakeLeases(clock: () => number, store: Pick<LeaseStore, 'consume' | 'take'>): Leases {
  return new Leases({ ...store, giveBack: () => Promise.resolve() }, 1000, 1000, clock, {
    decide: (_p, r) => ({ allowed: r.outcome === 0, retryAfterMs: 0 }),
    answered() {},
    failed() {},
    fallback: () => Promise.reject(new Error('no fallback here')),
  });
}

describe('usage plans, leases on a fake store', () => {
  test('a plan replaced while a taking is in flight: the old plan refused it, the waiting requests are decided under the new plan', async () => {
    const clock = clockAt(`${DAY}T12:00:00.000Z`);
    let land: (r: TakeResult) => void = () => {};
    const consumed: PlanConfig[] = [];
    const leases = fakeLeases(clock.fn, {
      consume: (_key, p) => {
        consumed.push(p);
        return Promise.resolve({ outcome: 0, tokens: -1, quotaUsed: 1 });
      },
      take: () => new Promise<TakeResult>((resolve) => (land = resolve)),
    });
    try {
      const old = plan({ quota: { limit: 1000, period: 'day' } });
      const raised = plan({ quota: { limit: 2000, period: 'day' } });
      assert.equal((await leases.check('k', old, clock.now)).allowed, true); // one unit: the key is known
      const before = leases.check('k', old, clock.now); // waits for a taking under the old plan
      const after = leases.check('k', raised, clock.now); // the plan reloaded while it is in flight
      await pause(0); // the taking is sent
      land({ outcome: 2, tokens: -1, quotaUsed: 1000, granted: 0 }); // the old plan's quota is used up
      assert.deepEqual([(await before).allowed, (await after).allowed], [true, true]);
      assert.deepEqual(consumed.slice(1), [raised, raised], 'one unit each under the new plan');
    } finally {
      await leases.close();
    }
  });

  test('requests still waiting when a taking lands are asked for with the time it landed, not the time it was sent', async () => {
    const clock = clockAt(`${DAY}T12:00:00.000Z`);
    const sent: number[] = [];
    const lands: ((r: TakeResult) => void)[] = [];
    const leases = fakeLeases(clock.fn, {
      consume: () => Promise.resolve({ outcome: 0, tokens: 999, quotaUsed: 0 }),
      take: (_key, _p, now) => {
        sent.push(now);
        // the background taking after the test's two: refused at once, so close() has nothing to wait for
        if (sent.length > 2) return Promise.resolve({ outcome: 1, tokens: 0, quotaUsed: 0, granted: 0 });
        return new Promise<TakeResult>((resolve) => lands.push(resolve));
      },
    });
    try {
      const p = plan({ rate: 1000, burst: 1000 });
      await leases.check('k', p, clock.now); // one unit: the key is known
      const waiting = Array.from({ length: 5 }, () => leases.check('k', p, clock.now));
      await pause(0); // the taking is sent
      assert.deepEqual(sent, [clock.now]);
      clock.now += 300; // it lands later: 2 units for 5 requests, another taking for the rest
      lands[0]!({ outcome: 0, tokens: 500, quotaUsed: 0, granted: 2 });
      await pause(0);
      assert.equal(sent.length, 2);
      assert.equal(sent[1], clock.now, 'the retry is sent with the current time');
      lands[1]!({ outcome: 0, tokens: 800, quotaUsed: 0, granted: 3 });
      assert.deepEqual((await Promise.all(waiting)).map((d) => d.allowed), [true, true, true, true, true]);
    } finally {
      for (const land of lands) land({ outcome: 1, tokens: 0, quotaUsed: 0, granted: 0 }); // none left in flight
      await leases.close();
    }
  });
});
