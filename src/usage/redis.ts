import { Redis } from 'ioredis';
import type { PlanConfig } from './config.ts';
import { quotaPeriod } from './periods.ts';
import { COUNTER_NAMES, emptyCounters, type ConsumeResult, type UsageCounters, type UsageDay, type UsageDelta, type UsageStore } from './types.ts';

/**
 * Token bucket + quota in one script, so every replica sharing the Redis sees one bucket and
 * one counter per key and no request slips between a read and a write. Time comes from the
 * caller (replicas keep their clocks in sync with NTP; the bucket never refills backwards).
 * KEYS: bucket hash, quota counter. ARGV: now ms, rate (-1: none), burst, limit (-1: none),
 * quota counter TTL ms, bucket TTL ms. Returns {outcome, tokens (string), quota used}.
 */
const CONSUME_LUA = `
local now = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local limit = tonumber(ARGV[4])
local tokens = -1
local ts = now
if rate > 0 then
  local b = redis.call('HMGET', KEYS[1], 't', 'ts')
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
    if limit >= 0 then used = tonumber(redis.call('GET', KEYS[2]) or '0') end
    redis.call('HSET', KEYS[1], 't', tostring(tokens), 'ts', tostring(ts))
    redis.call('PEXPIRE', KEYS[1], ARGV[6])
    return {1, tostring(tokens), used}
  end
end
local used = 0
if limit >= 0 then
  used = tonumber(redis.call('GET', KEYS[2]) or '0')
  if used >= limit then return {2, tostring(tokens), used} end
  used = redis.call('INCR', KEYS[2])
  if used == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[5]) end
end
if rate > 0 then
  tokens = tokens - 1
  redis.call('HSET', KEYS[1], 't', tostring(tokens), 'ts', tostring(ts))
  redis.call('PEXPIRE', KEYS[1], ARGV[6])
end
return {0, tostring(tokens), used}
`;

type ConsumeFn = (bucketKey: string, quotaKey: string, ...args: (string | number)[]) => Promise<[number, string, number]>;

/**
 * An ioredis client that fails fast while Redis is down (no offline queue, one try, a command
 * timeout) and reconnects by itself, so the caller's policy applies at once and recovery needs
 * no restart.
 */
export function createRedisClient(url: string, commandTimeoutMs: number, onError: (err: Error) => void): Redis {
  const client = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: commandTimeoutMs,
    connectTimeout: Math.max(1000, commandTimeoutMs * 2),
    autoResendUnfulfilledCommands: false,
    retryStrategy: (times: number) => Math.min(50 * times, 1000),
    lazyConnect: false,
  });
  client.on('error', onError);
  return client;
}

/** Waits until the client is connected, at most `timeoutMs`; false when it is not. */
export async function waitReady(client: Redis, timeoutMs: number): Promise<boolean> {
  if (client.status === 'ready') return true;
  return new Promise<boolean>((resolve) => {
    const done = (ok: boolean) => {
      clearTimeout(timer);
      client.off('ready', onReady);
      resolve(ok);
    };
    const onReady = () => done(true);
    const timer = setTimeout(() => done(false), timeoutMs);
    client.on('ready', onReady);
  });
}

/** Usage plans shared by every replica through one Redis. */
export class RedisUsageStore implements UsageStore {
  readonly kind = 'redis' as const;
  readonly client: Redis;
  private readonly prefix: string;
  private readonly retentionDays: number;
  private readonly commandTimeoutMs: number;
  private everReady = false;
  private readonly consumeScript: ConsumeFn;

  constructor(options: { url: string; prefix: string; retentionDays: number; commandTimeoutMs: number; onError: (err: Error) => void }) {
    this.prefix = options.prefix;
    this.retentionDays = options.retentionDays;
    this.commandTimeoutMs = options.commandTimeoutMs;
    this.client = createRedisClient(options.url, options.commandTimeoutMs, options.onError);
    this.client.defineCommand('imagegateConsume', { numberOfKeys: 2, lua: CONSUME_LUA });
    this.consumeScript = (this.client as unknown as { imagegateConsume: ConsumeFn }).imagegateConsume.bind(this.client);
    this.client.once('ready', () => (this.everReady = true));
  }

  /** Resolves when connected (false after `timeoutMs`). */
  async ready(timeoutMs = 5000): Promise<boolean> {
    const ok = await waitReady(this.client, timeoutMs);
    if (ok) this.everReady = true;
    return ok;
  }

  private firstWait: Promise<boolean> | undefined;

  private async connected(): Promise<void> {
    // Only the first commands after start wait for the connection (once, at most
    // commandTimeoutMs); afterwards a down Redis fails fast.
    if (this.everReady || this.client.status === 'ready') return;
    this.firstWait ??= this.ready(this.commandTimeoutMs);
    await this.firstWait;
  }

  async consume(keyId: string, plan: PlanConfig, now: number): Promise<ConsumeResult> {
    if (!this.everReady && this.client.status !== 'ready') await this.connected();
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
    const args: (string | number)[] = [
      `${this.prefix}bucket:{${keyId}}`,
      quotaKey,
      Math.floor(now),
      rate,
      burst,
      plan.quota ? plan.quota.limit : -1,
      Math.max(1, Math.ceil(quotaTtl)),
      bucketTtl,
    ];
    const [outcome, tokens, used] = await this.enqueue(args);
    return { outcome: outcome as 0 | 1 | 2, tokens: Number(tokens), quotaUsed: Number(used) };
  }

  private queue: { args: (string | number)[]; resolve: (v: [number, string, number]) => void; reject: (e: unknown) => void }[] = [];
  private scheduled = false;

  /**
   * Requests that arrive in the same turn of the event loop (one poll phase can parse many
   * HTTP requests) go to Redis as one pipeline: one write and one read instead of one per
   * request. Each script call stays atomic on its own.
   */
  private enqueue(args: (string | number)[]): Promise<[number, string, number]> {
    return new Promise((resolve, reject) => {
      this.queue.push({ args, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(this.drain);
      }
    });
  }

  private readonly drain = (): void => {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 1) {
      const one = batch[0]!;
      this.consumeScript(...(one.args as [string, string, ...(string | number)[]])).then(one.resolve, one.reject);
      return;
    }
    const pipe = this.client.pipeline() as unknown as { imagegateConsume: ConsumeFn; exec(): Promise<[Error | null, unknown][] | null> };
    for (const item of batch) pipe.imagegateConsume(...(item.args as [string, string, ...(string | number)[]]));
    pipe.exec().then(
      (res) => {
        batch.forEach((item, i) => {
          const r = res?.[i];
          if (!r) item.reject(new Error('usage store: no reply'));
          else if (r[0]) item.reject(r[0]);
          else item.resolve(r[1] as [number, string, number]);
        });
      },
      (err) => {
        for (const item of batch) item.reject(err);
      },
    );
  };

  private recordKey(day: string, key: string): string {
    return `${this.prefix}usage:${day}:${key}`;
  }

  /** One MULTI: every counter of the batch lands, or none does. */
  async addUsage(entries: UsageDelta[]): Promise<void> {
    if (entries.length === 0) return;
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
    multi.sadd(`${this.prefix}usage:keys`, ...keys);
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

  async close(): Promise<void> {
    try {
      if (this.client.status === 'ready') await this.client.quit();
      else this.client.disconnect();
    } catch {
      this.client.disconnect();
    }
  }
}
