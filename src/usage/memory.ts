import type { PlanConfig } from '../config/usage.ts';
import { quotaPeriod, utcDay, parseUtcDay } from './periods.ts';
import { addCounters, emptyCounters, type ConsumeResult, type UsageBatch, type UsageCounters, type UsageDay, type UsageStore } from './types.ts';

interface Bucket {
  tokens: number;
  ts: number;
}

/**
 * Token bucket step shared by the memory store and (in Lua) the Redis store: refill by the time
 * since the last request, never above `burst`, never backwards when clocks disagree.
 */
export function refill(bucket: Bucket | undefined, rate: number, burst: number, now: number): Bucket {
  if (!bucket) return { tokens: burst, ts: now };
  if (now <= bucket.ts) return { tokens: Math.min(burst, bucket.tokens), ts: bucket.ts };
  return { tokens: Math.min(burst, bucket.tokens + ((now - bucket.ts) * rate) / 1000), ts: now };
}

/**
 * Usage plans for one process: exact, and lost on restart. Also the failOpen stand-in while a
 * shared store is unreachable. Each method runs to completion in one turn of the event loop, so
 * it is atomic without locks.
 */
export class MemoryUsageStore implements UsageStore {
  readonly kind = 'memory' as const;
  private readonly buckets = new Map<string, Bucket>();
  private readonly quotas = new Map<string, { period: string; used: number }>();
  private readonly days = new Map<string, Map<string, UsageCounters>>();
  private readonly retentionDays: number;

  constructor(options: { retentionDays?: number } = {}) {
    this.retentionDays = options.retentionDays ?? 400;
  }

  async ready(): Promise<boolean> {
    return true;
  }

  consume(keyId: string, plan: PlanConfig, now: number): ConsumeResult {
    let bucket: Bucket | undefined;
    if (plan.rate !== undefined) {
      bucket = refill(this.buckets.get(keyId), plan.rate, plan.burst ?? Math.ceil(plan.rate), now);
      if (bucket.tokens < 1) {
        this.buckets.set(keyId, bucket);
        return { outcome: 1, tokens: bucket.tokens, quotaUsed: this.quotaUsed(keyId, plan, now) };
      }
    }
    let used = 0;
    if (plan.quota) {
      const period = quotaPeriod(plan.quota, now).id;
      let q = this.quotas.get(keyId);
      if (!q || q.period !== period) {
        q = { period, used: 0 };
        this.quotas.set(keyId, q);
      }
      if (q.used >= plan.quota.limit) {
        if (bucket) this.buckets.set(keyId, bucket);
        return { outcome: 2, tokens: bucket ? bucket.tokens : -1, quotaUsed: q.used };
      }
      used = ++q.used;
    }
    if (bucket) {
      bucket.tokens -= 1;
      this.buckets.set(keyId, bucket);
    }
    return { outcome: 0, tokens: bucket ? bucket.tokens : -1, quotaUsed: used };
  }

  private quotaUsed(keyId: string, plan: PlanConfig, now: number): number {
    if (!plan.quota) return 0;
    const q = this.quotas.get(keyId);
    return q && q.period === quotaPeriod(plan.quota, now).id ? q.used : 0;
  }

  async addUsage({ entries }: UsageBatch, now: number): Promise<void> {
    for (const { key, day, delta } of entries) {
      let perKey = this.days.get(day);
      if (!perKey) {
        perKey = new Map();
        this.days.set(day, perKey);
        this.prune(now);
      }
      let c = perKey.get(key);
      if (!c) {
        c = emptyCounters();
        perKey.set(key, c);
      }
      addCounters(c, delta);
    }
  }

  private prune(now: number): void {
    const oldest = utcDay(now - this.retentionDays * 86_400_000);
    for (const day of this.days.keys()) if (day < oldest) this.days.delete(day);
  }

  async readUsage(keys: string[] | undefined, days: string[]): Promise<UsageDay[]> {
    const out: UsageDay[] = [];
    for (const date of days) {
      if (parseUtcDay(date) === undefined) continue;
      const perKey = this.days.get(date);
      if (!perKey) continue;
      const ids = keys ?? [...perKey.keys()].sort();
      for (const key of ids) {
        const c = perKey.get(key);
        if (c) out.push({ key, date, ...c });
      }
    }
    return out;
  }

  async close(): Promise<void> {}
}
