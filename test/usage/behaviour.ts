/**
 * The usage-plan behaviour every store must show, written once and run for the memory store
 * and for Redis, through the real app (createApp: its API-key check, usage middleware, error
 * handler and admin guard) serving real images. Time comes from a controllable clock; nothing
 * sleeps.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { openKeyStore } from '../../src/auth/store.ts';
import type { UsageService } from '../../src/usage/index.ts';
import { tempDir, usageApp } from './app.ts';

export interface Clock {
  now: number;
  fn: () => number;
}

export function clockAt(iso: string): Clock {
  const c: Clock = { now: Date.parse(iso), fn: () => c.now };
  return c;
}

/** `make` builds a fresh service on a fresh namespace (Redis prefix) with the given clock. */
export type MakeService = (clock: () => number) => Promise<UsageService>;

const plans = {
  tight: { rate: 10, burst: 5 },
  quota7: { quota: { limit: 7, period: 'day' } },
  both: { rate: 1, burst: 2, quota: { limit: 3, period: 'day' } },
  weekly: { quota: { limit: 2, period: 'week' } },
  weeklyMon: { quota: { limit: 2, period: 'week', weekStart: 'monday' } },
  monthly: { quota: { limit: 2, period: 'month' } },
};

const keys = {
  't-key': { id: 'tight-user', plan: 'tight' },
  'q-key': { id: 'quota-user', plan: 'quota7' },
  'b-key': { id: 'both-user', plan: 'both' },
  'w-key': { id: 'week-user', plan: 'weekly' },
  'wm-key': { id: 'weekmon-user', plan: 'weeklyMon' },
  'm-key': { id: 'month-user', plan: 'monthly' },
  'free-key': { id: 'free-user' },
};

export function usageBehaviour(make: MakeService): void {
  async function setup(iso: string, extra: { keyStore?: { type: 'file'; path: string } } = {}) {
    const clock = clockAt(iso);
    const usage = await make(clock.fn);
    const app = await usageApp({ usage, plans, keys, adminToken: 'admin-secret', ...extra });
    const get = (key: string, target?: string, method?: string) => app.get(key, target, { method });
    return { clock, usage, app, get };
  }

  test('token bucket: burst at once, then one request per 1/rate seconds, capped at burst', async () => {
    const { clock, app, get } = await setup('2026-11-26T10:00:00.000Z');
    try {
      for (let i = 0; i < 5; i++) {
        const res = await get('t-key');
        assert.equal(res.status, 200, `request ${i + 1} of the burst`);
        assert.equal(res.headers.get('RateLimit-Policy'), '"burst";q=5;w=1');
        assert.match(res.headers.get('RateLimit')!, new RegExp(`^"burst";r=${4 - i};t=\\d+$`));
        assert.equal(res.headers.get('RateLimit-Remaining'), String(4 - i));
      }
      const over = await get('t-key');
      assert.equal(over.status, 429);
      assert.equal(over.headers.get('Retry-After'), '1');
      const body = (await over.json()) as { code: string; message: string; retryAfterSeconds: number };
      assert.equal(body.code, 'rate_limited');
      assert.match(body.message, /10 requests per second \(burst 5\)/);
      assert.equal(over.headers.get('RateLimit-Remaining'), '0');

      clock.now += 99; // 0.99 token: still nothing
      assert.equal((await get('t-key')).status, 429);
      clock.now += 1; // 1 token
      assert.equal((await get('t-key')).status, 200);
      assert.equal((await get('t-key')).status, 429);

      clock.now += 60_000; // a minute later the bucket holds burst (5), not 600
      let ok = 0;
      for (let i = 0; i < 8; i++) if ((await get('t-key')).status === 200) ok++;
      assert.equal(ok, 5);
    } finally {
      await app.close();
    }
  });

  test('quota: exactly the limit succeeds, then 429 with the quota and its reset time', async () => {
    const { clock, app, get } = await setup('2026-11-26T18:00:00.000Z');
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 21; i++) statuses.push((await get('q-key')).status);
      assert.equal(statuses.filter((s) => s === 200).length, 7);
      assert.deepEqual(statuses.slice(0, 7), Array(7).fill(200));
      const res = await get('q-key');
      assert.equal(res.status, 429);
      assert.equal(res.headers.get('Retry-After'), String(6 * 3600));
      assert.equal(res.headers.get('RateLimit-Policy'), '"day";q=7;w=86400');
      assert.equal(res.headers.get('RateLimit'), `"day";r=0;t=${6 * 3600}`);
      const body = (await res.json()) as { code: string; message: string; quota: Record<string, unknown> };
      assert.equal(body.code, 'quota_exceeded');
      assert.match(body.message, /quota of 7 requests per day/);
      assert.match(body.message, /2026-11-27T00:00:00\.000Z/);
      assert.deepEqual(body.quota, { limit: 7, period: 'day', used: 7, resetAt: '2026-11-27T00:00:00.000Z', resetInSeconds: 21600 });
      clock.now += 1000;
      assert.equal((await get('q-key')).status, 429);
    } finally {
      await app.close();
    }
  });

  test('throttled requests do not use quota; quota-refused ones take no token', async () => {
    const { clock, app, get } = await setup('2026-11-26T12:00:00.000Z');
    try {
      // plan both: rate 1/s, burst 2, quota 3/day
      assert.equal((await get('b-key')).status, 200);
      assert.equal((await get('b-key')).status, 200);
      const throttled = await get('b-key');
      assert.equal(throttled.status, 429);
      assert.equal(((await throttled.json()) as { code: string }).code, 'rate_limited');
      assert.equal(throttled.headers.get('RateLimit'), '"burst";r=0;t=2, "day";r=1;t=43200');
      clock.now += 1000;
      assert.equal((await get('b-key')).status, 200); // third of three
      clock.now += 5000;
      const over = await get('b-key');
      assert.equal(((await over.json()) as { code: string }).code, 'quota_exceeded');
      // legacy headers name the tightest policy: the used-up quota
      assert.equal(over.headers.get('RateLimit-Limit'), '3');
      assert.equal(over.headers.get('RateLimit-Remaining'), '0');
    } finally {
      await app.close();
    }
  });

  test('period rollover: day, week (Sunday or Monday) and month boundaries in UTC', async () => {
    const { clock, app, get } = await setup('2026-11-26T23:59:59.000Z'); // a Thursday
    try {
      const use = async (key: string, n: number) => {
        const s: number[] = [];
        for (let i = 0; i < n; i++) s.push((await get(key)).status);
        return s;
      };
      // day
      assert.deepEqual(await use('q-key', 8), [200, 200, 200, 200, 200, 200, 200, 429]);
      clock.now = Date.parse('2026-11-27T00:00:00.000Z');
      assert.equal((await get('q-key')).status, 200);

      // week: Sat 28th → Sun 29th resets a Sunday week, not a Monday week; Mon 30th resets that one
      clock.now = Date.parse('2026-11-28T23:59:00.000Z');
      assert.deepEqual(await use('w-key', 3), [200, 200, 429]);
      assert.deepEqual(await use('wm-key', 3), [200, 200, 429]);
      clock.now = Date.parse('2026-11-29T00:00:00.000Z');
      const sunday = await get('w-key');
      assert.equal(sunday.status, 200);
      assert.equal(sunday.headers.get('RateLimit-Policy'), '"week";q=2;w=604800');
      assert.equal((await get('wm-key')).status, 429);
      clock.now = Date.parse('2026-11-30T00:00:00.000Z');
      assert.equal((await get('wm-key')).status, 200);

      // month: Nov 30 → Dec 1, and Dec 31 → Jan 1
      clock.now = Date.parse('2026-11-30T23:59:59.999Z');
      assert.deepEqual(await use('m-key', 3), [200, 200, 429]);
      const last = await get('m-key');
      assert.equal(((await last.json()) as { quota: { resetAt: string } }).quota.resetAt, '2026-12-01T00:00:00.000Z');
      clock.now = Date.parse('2026-12-01T00:00:00.000Z');
      const dec = await get('m-key');
      assert.equal(dec.status, 200);
      assert.equal(dec.headers.get('RateLimit-Policy'), `"month";q=2;w=${31 * 86400}`);
      assert.equal((await get('m-key')).status, 200);
      assert.equal((await get('m-key')).status, 429);
      clock.now = Date.parse('2027-01-01T00:00:00.000Z');
      assert.equal((await get('m-key')).status, 200);
    } finally {
      await app.close();
    }
  });

  test('usage records add up to the requests sent, per UTC day', async () => {
    const { clock, app, get } = await setup('2026-11-26T23:00:00.000Z');
    try {
      /** Body bytes the client received. */
      const got = async (res: Response) => (await res.arrayBuffer()).byteLength;
      const original = await get('free-key', '/photo.jpg');
      assert.equal(original.status, 200);
      const etag = original.headers.get('etag')!;
      const originalBytes = await got(original);
      const transformed = await get('free-key', '/photo.jpg?w=40');
      const transformedBytes = await got(transformed);
      const hit = await get('free-key', '/photo.jpg?w=40');
      assert.equal(hit.status, 200);
      const hitBytes = await got(hit);
      assert.equal((await get('free-key', '/missing.jpg')).status, 404);
      assert.equal((await get('free-key', '/down/photo.jpg')).status, 502, 'an origin that refuses the connection');
      assert.equal((await app.get('free-key', '/photo.jpg', { headers: { 'If-None-Match': etag } })).status, 304);
      const head = await get('free-key', '/alpha.png', 'HEAD');
      assert.equal(head.status, 200);
      clock.now = Date.parse('2026-11-27T01:00:00.000Z');
      const nextDay = await get('free-key', '/alpha.png?w=20');
      const nextDayBytes = await got(nextDay);
      // a quota-limited key: 7 pass, 3 refused
      for (let i = 0; i < 10; i++) await got(await get('q-key'));

      const res = await app.admin('/_admin/usage?key=free-user&from=2026-11-26&to=2026-11-27');
      assert.equal(res.status, 200);
      const report = (await res.json()) as { records: Record<string, any>[]; totals: Record<string, any> };
      assert.equal(report.records.length, 2);
      const [d1, d2] = report.records;
      assert.equal(d1!.date, '2026-11-26');
      assert.equal(d1!.requests, 7);
      assert.deepEqual(d1!.responses, { '2xx': 4, '3xx': 1, '4xx': 1, '5xx': 1 });
      // the image bodies sent; a HEAD, a 304 and the JSON error bodies count none
      assert.equal(d1!.bytes, originalBytes + transformedBytes + hitBytes);
      assert.equal(d1!.transformations, 1);
      assert.equal(d1!.cacheHits, 1);
      assert.equal(d2!.date, '2026-11-27');
      assert.equal(d2!.requests, 1);
      assert.equal(d2!.bytes, nextDayBytes);
      assert.equal(d2!.transformations, 1);
      assert.equal(report.totals.requests, 8);

      const q = (await (await app.admin('/_admin/usage?key=quota-user&from=2026-11-27&to=2026-11-27')).json()) as { records: Record<string, any>[] };
      assert.equal(q.records[0]!.requests, 10);
      assert.equal(q.records[0]!.responses['2xx'], 7);
      assert.equal(q.records[0]!.responses['4xx'], 3);
      assert.equal(q.records[0]!.quotaExceeded, 3);
      assert.ok(q.records[0]!.bytes >= 7 * originalBytes, 'the 7 images served (and the 429 bodies)');

      // every key at once
      const all = (await (await app.admin('/_admin/usage?from=2026-11-26&to=2026-11-27')).json()) as {
        records: { key: string }[];
        totals: { requests: number };
      };
      assert.equal(all.totals.requests, 18);
      assert.deepEqual([...new Set(all.records.map((r) => r.key))].sort(), ['free-user', 'quota-user']);
    } finally {
      await app.close();
    }
  });

  test('admin usage: bearer admin token only, and named errors for bad dates', async () => {
    const { app } = await setup('2026-11-26T12:00:00.000Z');
    try {
      assert.equal((await app.app.request('/_admin/usage')).status, 401);
      assert.equal((await app.app.request('/_admin/usage', { headers: { 'X-API-Key': 'free-key' } })).status, 401);
      assert.equal((await app.app.request('/_admin/usage', { headers: { Authorization: 'Bearer free-key' } })).status, 401);
      const bad = await app.app.request('/_admin/usage?from=2026-13-01', { headers: { Authorization: 'Bearer admin-secret' } });
      assert.equal(bad.status, 400);
      assert.match(((await bad.json()) as { message: string }).message, /^from: expected a UTC date as YYYY-MM-DD/);
      const rev = await app.app.request('/_admin/usage?from=2026-11-20&to=2026-11-01', { headers: { Authorization: 'Bearer admin-secret' } });
      assert.equal(rev.status, 400);
      const dflt = (await (await app.app.request('/_admin/usage', { headers: { Authorization: 'Bearer admin-secret' } })).json()) as {
        from: string;
        to: string;
      };
      assert.deepEqual([dflt.from, dflt.to], ['2026-11-01', '2026-11-26']);
    } finally {
      await app.close();
    }
  });

  test('a key without a plan is counted but not limited; a key naming a missing plan is refused', async () => {
    // A managed key created on a plan that was later removed from the config.
    const tmp = tempDir();
    const keyStore = { type: 'file' as const, path: path.join(tmp.dir, 'keys.json') };
    const store = openKeyStore(keyStore);
    const ghost = (await store.create({ id: 'ghost-user', plan: 'deleted-plan' })).key;
    await store.close();
    const { usage, app, get } = await setup('2026-11-26T12:00:00.000Z', { keyStore });
    try {
      for (let i = 0; i < 50; i++) {
        const res = await get('free-key');
        assert.equal(res.status, 200);
        assert.equal(res.headers.get('RateLimit'), null);
        await res.arrayBuffer();
      }
      const refused = await get(ghost);
      assert.equal(refused.status, 403);
      assert.deepEqual(await refused.json(), { message: "Forbidden: the key's plan 'deleted-plan' is not configured", code: 'unknown_plan' });
      const days = await usage.read({ key: 'free-user', days: ['2026-11-26'] });
      assert.equal(days[0]!.requests, 50);
      const ghostDays = await usage.read({ key: 'ghost-user', days: ['2026-11-26'] });
      assert.equal(ghostDays[0]!.s4xx, 1, 'the refusal is counted');
    } finally {
      await app.close();
      tmp.remove();
    }
  });
}
