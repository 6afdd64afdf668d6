import type { Redis } from 'ioredis';
import { closeRedisClient, createRedisClient, firstConnection, waitReady } from '../redis.ts';
import type { PlanConfig } from '../config/usage.ts';
import { quotaPeriod } from './periods.ts';
import { COUNTER_NAMES, emptyCounters, type ConsumeResult, type StoreEvents, type TakeResult, type UsageBatch, type UsageCounters, type UsageDay, type UsageStore } from './types.ts';

/**
 * Token bucket + quota in one script, so every replica sharing the Redis sees one bucket and
 * one counter per key and no request slips between a read and a write. Time comes from the
 * caller (replicas keep their clocks in sync with NTP; the bucket never refills backwards).
 * One call takes a batch of requests, handled in order (several may name the same key):
 * KEYS: per request its bucket hash and quota counter; ARGV: per request now ms, rate (-1:
 * none), burst, limit (-1: none), quota counter TTL ms, bucket TTL ms, units wanted (1 for one
 * request, more for a replica's block: as many as both the bucket and the quota allow are
 * taken, or none). Returns per request outcome (0 ok, 1 rate, 2 quota), tokens left (string),
 * quota used, units taken.
 */
const CONSUME_LUA = `
local function consume(kb, kq, now, rate, burst, limit, qttl, bttl, n)
  local tokens = -1
  local ts = now
  if rate > 0 then
    local b = redis.call('HMGET', kb, 't', 'ts')
    tokens = tonumber(b[1])
    ts = tonumber(b[2])
    if tokens == nil or ts == nil then
      tokens = burst
      ts = now
    elseif now > ts then
      tokens = tokens + (now - ts) * rate / 1000
      ts = now
    end
    if tokens > burst then tokens = burst end
    if tokens < 1 then
      local used = 0
      if limit >= 0 then used = tonumber(redis.call('GET', kq) or '0') end
      redis.call('HSET', kb, 't', tostring(tokens), 'ts', tostring(ts))
      redis.call('PEXPIRE', kb, bttl)
      return 1, tokens, used, 0
    end
    if tokens < n then n = math.floor(tokens) end
  end
  local used = 0
  if limit >= 0 then
    used = tonumber(redis.call('GET', kq) or '0')
    if used >= limit then return 2, tokens, used, 0 end
    if limit - used < n then n = limit - used end
    used = redis.call('INCRBY', kq, n)
    if used == n then redis.call('PEXPIRE', kq, qttl) end
  end
  if rate > 0 then
    tokens = tokens - n
    redis.call('HSET', kb, 't', tostring(tokens), 'ts', tostring(ts))
    redis.call('PEXPIRE', kb, bttl)
  end
  return 0, tokens, used, n
end
local out = {}
for i = 1, #KEYS / 2 do
  local a = (i - 1) * 7
  local o, t, u, g = consume(KEYS[2 * i - 1], KEYS[2 * i], tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]),
    tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4]), ARGV[a + 5], ARGV[a + 6], tonumber(ARGV[a + 7]))
  out[4 * i - 3] = o
  out[4 * i - 2] = tostring(t)
  out[4 * i - 1] = u
  out[4 * i] = g
end
return out
`;

/**
 * A block's unspent quota units back. KEYS: the quota counter of the period the units were
 * taken in (the counter of a period that has ended since is lowered all the same: they were
 * counted there); ARGV: units. The counter never goes below 0. Tokens are never given back (the
 * bucket refills them: see src/usage/lease.ts).
 */
const GIVE_BACK_LUA = `
local n = tonumber(ARGV[1])
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if used < n then n = used end
if n > 0 then redis.call('DECRBY', KEYS[1], n) end
return 1
`;

/** Most requests one script call takes. */
const MAX_BATCH = 200;

type ConsumeFn = (numKeys: number, ...keysThenArgs: (string | number)[]) => Promise<(number | string)[]>;
type GiveBackFn = (numKeys: number, ...keysThenArgs: (string | number)[]) => Promise<unknown>;

interface Pending {
  bucketKey: string;
  quotaKey: string;
  args: number[];
  resolve: (r: TakeResult) => void;
  reject: (err: unknown) => void;
}

/** Usage plans shared by every replica through one Redis. */
export class RedisUsageStore implements UsageStore {
  readonly kind = 'redis' as const;
  private readonly client: Redis;
  private readonly prefix: string;
  private readonly retentionDays: number;
  private readonly consumeScript: ConsumeFn;
  private readonly giveBackScript: GiveBackFn;
  /** Only the first commands after start wait for the connection (once, at most commandTimeoutMs); afterwards a down Redis fails fast. */
  private readonly connected: () => Promise<void> | undefined;

  /** `events`: a command error or a lost connection is `down`, every (re)connection `up`. */
  constructor(options: { url: string; prefix: string; retentionDays: number; commandTimeoutMs: number; events: StoreEvents }) {
    this.prefix = options.prefix;
    this.retentionDays = options.retentionDays;
    this.client = createRedisClient(options.url, options.commandTimeoutMs, (err) => options.events.down(err));
    this.client.on('ready', () => options.events.up());
    this.client.defineCommand('imagegateConsume', { lua: CONSUME_LUA });
    this.consumeScript = (this.client as unknown as { imagegateConsume: ConsumeFn }).imagegateConsume.bind(this.client);
    this.client.defineCommand('imagegateGiveBack', { lua: GIVE_BACK_LUA });
    this.giveBackScript = (this.client as unknown as { imagegateGiveBack: GiveBackFn }).imagegateGiveBack.bind(this.client);
    this.connected = firstConnection(this.client, options.commandTimeoutMs);
  }

  /**
   * True once connected and a PING comes back within `timeoutMs`: a round trip, since a socket
   * whose server just went away still reads as connected until its close is noticed.
   */
  async ready(timeoutMs: number): Promise<boolean> {
    const started = Date.now();
    if (!(await waitReady(this.client, timeoutMs))) return false;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), Math.max(1, timeoutMs - (Date.now() - started)))));
    try {
      return await Promise.race([this.client.ping().then(() => true, () => false), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  consume(keyId: string, plan: PlanConfig, now: number): Promise<ConsumeResult> {
    return this.take(keyId, plan, now, 1);
  }

  /** Up to `n` units in one script call (batched with the other requests of this turn like `consume`). */
  async take(keyId: string, plan: PlanConfig, now: number, n: number): Promise<TakeResult> {
    const wait = this.connected();
    if (wait) await wait;
    const rate = plan.rate ?? -1;
    const burst = plan.burst ?? (plan.rate ? Math.ceil(plan.rate) : 0);
    // `{id}`: both keys of one request hash to the same slot (Redis Cluster–friendly).
    let quotaKey = `${this.prefix}quota:{${keyId}}`;
    let quotaTtl = 1;
    if (plan.quota) {
      const period = quotaPeriod(plan.quota, now);
      quotaKey += `:${period.id}`;
      quotaTtl = period.end - now + 86_400_000;
    }
    // The bucket is full again after burst/rate seconds; its state can go then.
    const bucketTtl = plan.rate ? Math.ceil((burst / plan.rate) * 1000) + 60_000 : 1;
    const item: Pending = {
      bucketKey: `${this.prefix}bucket:{${keyId}}`,
      quotaKey,
      args: [Math.floor(now), rate, burst, plan.quota ? plan.quota.limit : -1, Math.max(1, Math.ceil(quotaTtl)), bucketTtl, Math.max(1, Math.floor(n))],
      resolve: undefined!,
      reject: undefined!,
    };
    const promise = new Promise<TakeResult>((resolve, reject) => {
      item.resolve = resolve;
      item.reject = reject;
    });
    this.queue.push(item);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.drain);
    }
    return promise;
  }

  private queue: Pending[] = [];
  private scheduled = false;

  /**
   * Requests that arrive in the same turn of the event loop (one poll phase parses many HTTP
   * requests) go to Redis in one script call: one command, one write, one reply instead of
   * one each. The batch is atomic as a whole, so each request in it is too.
   */
  private readonly drain = (): void => {
    this.scheduled = false;
    const queue = this.queue;
    this.queue = [];
    for (let i = 0; i < queue.length; i += MAX_BATCH) this.send(queue.slice(i, i + MAX_BATCH));
  };

  private send(batch: Pending[]): void {
    const keys: string[] = [];
    const args: (string | number)[] = [];
    for (const p of batch) {
      keys.push(p.bucketKey, p.quotaKey);
      args.push(...p.args);
    }
    this.consumeScript(keys.length, ...keys, ...args).then(
      (res) => {
        for (let i = 0; i < batch.length; i++) {
          batch[i]!.resolve({ outcome: Number(res[4 * i]) as 0 | 1 | 2, tokens: Number(res[4 * i + 1]), quotaUsed: Number(res[4 * i + 2]), granted: Number(res[4 * i + 3]) });
        }
      },
      (err) => {
        for (const p of batch) p.reject(err);
      },
    );
  }

  async giveBack(keyId: string, quotaPeriodId: string, n: number): Promise<void> {
    if (n < 1) return;
    await this.giveBackScript(1, `${this.prefix}quota:{${keyId}}:${quotaPeriodId}`, n);
  }

  private recordKey(day: string, key: string): string {
    return `${this.prefix}usage:${day}:${key}`;
  }

  /** One MULTI: every counter of the batch lands, or none does. */
  async addUsage({ entries, charges = [] }: UsageBatch, now: number): Promise<void> {
    if (entries.length === 0 && charges.length === 0) return;
    await this.connected();
    const multi = this.client.multi();
    const ttl = (this.retentionDays + 1) * 86_400;
    const keys = new Set<string>();
    for (const { key, day, delta } of entries) {
      const rk = this.recordKey(day, key);
      for (const name of COUNTER_NAMES) {
        const v = delta[name];
        if (v) multi.hincrby(rk, name, v);
      }
      multi.expire(rk, ttl);
      keys.add(key);
    }
    if (keys.size) multi.sadd(`${this.prefix}usage:keys`, ...keys);
    for (const c of charges) {
      const qk = `${this.prefix}quota:{${c.key}}:${c.periodId}`;
      multi.incrby(qk, c.n);
      multi.pexpire(qk, Math.max(1, Math.ceil(c.periodEnd - now + 86_400_000)));
    }
    const res = await multi.exec();
    const failed = res?.find(([err]) => err);
    if (!res || failed) throw failed?.[0] ?? new Error('usage records: transaction aborted');
  }

  async readUsage(keys: string[] | undefined, days: string[]): Promise<UsageDay[]> {
    await this.connected();
    const ids = keys ?? (await this.client.smembers(`${this.prefix}usage:keys`)).sort();
    if (ids.length === 0 || days.length === 0) return [];
    const pipe = this.client.pipeline();
    const order: { key: string; date: string }[] = [];
    for (const date of days) {
      for (const key of ids) {
        pipe.hgetall(this.recordKey(date, key));
        order.push({ key, date });
      }
    }
    const res = (await pipe.exec()) ?? [];
    const out: UsageDay[] = [];
    res.forEach(([err, value], i) => {
      if (err) throw err;
      const h = value as Record<string, string>;
      if (!h || Object.keys(h).length === 0) return;
      const c: UsageCounters = emptyCounters();
      for (const name of COUNTER_NAMES) c[name] = Number(h[name] ?? 0);
      out.push({ ...order[i]!, ...c });
    });
    return out;
  }

  close(): Promise<void> {
    return closeRedisClient(this.client);
  }
}
