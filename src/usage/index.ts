import { randomBytes } from 'node:crypto';
import { ServiceError } from '../errors.ts';
import type { PlanConfig, UsageConfig } from '../config/usage.ts';
import { MemoryUsageStore } from './memory.ts';
import { quotaPeriod, utcDay } from './periods.ts';
import { DynamoUsageStore } from './dynamodb.ts';
import { RedisUsageStore } from './redis.ts';
import { Leases } from './lease.ts';
import { addCounters, emptyCounters, type ConsumeResult, type StoreEvents, type QuotaCharge, type UsageBatch, type UsageCounters, type UsageDay, type UsageDelta, type UsageStore } from './types.ts';

/** pino-compatible subset. */
export interface UsageLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

const consoleLogger: UsageLogger = {
  info: (obj, msg) => console.error(JSON.stringify({ level: 'info', msg, ...obj })),
  warn: (obj, msg) => console.error(JSON.stringify({ level: 'warn', msg, ...obj })),
  error: (obj, msg) => console.error(JSON.stringify({ level: 'error', msg, ...obj })),
};

/** The outcome of one keyed request against its plan, with what the rate-limit headers need. */
export interface Decision {
  allowed: boolean;
  reason?: 'rate' | 'quota';
  /** When a rejected request may be retried, milliseconds (0 when allowed). */
  retryAfterMs: number;
  /** Token bucket after this request (absent when the plan has no rate). */
  rate?: { limit: number; remaining: number; perSecond: number; windowSeconds: number; fullInSeconds: number };
  /** Quota after this request (absent when the plan has no quota). */
  quota?: {
    limit: number;
    used: number;
    remaining: number;
    period: 'day' | 'week' | 'month';
    windowSeconds: number;
    /** Start of the next period, epoch milliseconds. */
    resetAt: number;
  };
  /** Decided by this process alone because the shared store was unreachable (failOpen). */
  degraded?: boolean;
}

/** What an unreachable store means for a keyed request: serve, counting in this process, or 503. */
type FallbackPolicy = 'failOpen' | 'failClosed';

/** How often buffered usage records reach an in-process store (reads write them first). */
const MEMORY_FLUSH_MS = 1000;

/**
 * Usage plans over one UsageStore, whichever it is. Checks go to the store; when it cannot be
 * reached the fallback policy decides: `failOpen` counts in this process alone (a memory store)
 * and logs loudly, `failClosed` answers 503 `usage_store_unavailable`. Usage records are summed
 * in memory and written in one batch per flush interval; while the store is down they stay in
 * memory and are written when it returns, with the requests failOpen served added to their
 * quota counters. A batch that failed is sent again unchanged (same id), never merged. On
 * Redis and DynamoDB a busy key's checks are answered from blocks of units this process takes
 * from the store ahead of time (lease.ts), at once rather than after a round trip each.
 */
export class UsageService {
  readonly storeKind: UsageStore['kind'];
  /** For log lines: "usage store (Redis) unavailable". */
  private readonly storeName: string;
  private readonly store: UsageStore;
  private readonly policy: FallbackPolicy;
  private readonly flushIntervalMs: number;
  /** failOpen: limits this process enforces alone while the store is unreachable. */
  private local: MemoryUsageStore | undefined;
  /** Usage records not yet written: day → key → counters (nested, so a request builds no string). */
  private pending = new Map<string, Map<string, UsageCounters>>();
  /** failOpen: requests served while the store was down, owed to their quota counters (key + period → charge). */
  private charges = new Map<string, QuotaCharge>();
  /** A batch the store did not confirm: sent again as it is (same id) before anything newer. */
  private unsent: UsageBatch | undefined;
  private flushing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Redis and DynamoDB with `lease.maxUnits` above 1: blocks of units per busy key (lease.ts). */
  private readonly leases: Leases | undefined;
  private down = false;
  private degradedCount = 0;
  private lastLoud = 0;
  private closed = false;

  constructor(
    readonly config: UsageConfig,
    openStore: (events: StoreEvents) => UsageStore,
    private readonly clock: () => number,
    private readonly logger: UsageLogger,
  ) {
    this.store = openStore({ down: (err) => this.unavailable(err), up: () => this.recovered() });
    this.storeKind = this.store.kind;
    this.storeName = STORE_NAMES[this.storeKind];
    this.policy = config.store === 'memory' ? 'failOpen' : config.onUnavailable;
    this.flushIntervalMs = config.store === 'memory' ? MEMORY_FLUSH_MS : config.flushIntervalMs;
    if (this.flushIntervalMs > 0) {
      this.timer = setInterval(() => void this.flush(), this.flushIntervalMs);
      this.timer.unref();
    }
    // The memory store answers at once already: it needs no blocks.
    const { take, giveBack } = this.store;
    if (config.store !== 'memory' && config.lease.maxUnits > 1 && take && giveBack) {
      const store = this.store;
      this.leases = new Leases(
        { consume: store.consume.bind(store), take: take.bind(store), giveBack: giveBack.bind(store) },
        config.lease.maxUnits,
        config.lease.idleMs,
        clock,
        {
          decide,
          answered: () => this.recovered(),
          failed: (err) => this.unavailable(err),
          fallback: (keyId, plan, now, err) => this.fallback(keyId, plan, now, err),
        },
      );
    }
  }

  now(): number {
    return this.clock();
  }

  /** Waits for the store's connection, at most `timeoutMs`; true when connected. */
  ready(timeoutMs = 5000): Promise<boolean> {
    return this.store.ready(timeoutMs);
  }

  /** False while the store is unreachable. */
  available(): boolean {
    return !this.down;
  }

  private unavailable(err: unknown): void {
    const wall = Date.now();
    if (!this.down || wall - this.lastLoud >= 10_000) {
      this.lastLoud = wall;
      this.logger.error(
        { err: String((err as Error)?.message ?? err), policy: this.policy, degradedRequests: this.degradedCount, pendingRecords: this.pendingRecords() },
        this.policy === 'failOpen'
          ? `usage store (${this.storeName}) unavailable: serving with limits counted in this process only (failOpen); usage records kept in memory until ${this.storeName} returns`
          : `usage store (${this.storeName}) unavailable: keyed requests answered 503 usage_store_unavailable (failClosed)`,
      );
    }
    this.down = true;
  }

  private recovered(): void {
    if (!this.down) return;
    this.down = false;
    this.logger.warn({ degradedRequests: this.degradedCount }, `usage store (${this.storeName}) available again`);
    this.degradedCount = 0;
    void this.flush();
  }

  /**
   * Counts one request against the key's plan: at once when the store answers at once (memory),
   * else a promise. Rejects with ServiceError 503 `usage_store_unavailable` when the store is
   * down and the policy is failClosed.
   */
  check(keyId: string, plan: PlanConfig): Decision | Promise<Decision> {
    if (!needsCheck(plan)) return { allowed: true, retryAfterMs: 0 };
    const now = this.clock();
    // A busy key answered from its block at once (a promise only when the block is empty).
    if (this.leases) return this.leases.check(keyId, plan, now);
    let r: ConsumeResult | Promise<ConsumeResult>;
    try {
      r = this.store.consume(keyId, plan, now);
    } catch (err) {
      return this.fallback(keyId, plan, now, err);
    }
    if (r instanceof Promise) return r.then((v) => this.decided(plan, v, now), (err: unknown) => this.fallback(keyId, plan, now, err));
    return this.decided(plan, r, now);
  }

  private decided(plan: PlanConfig, r: ConsumeResult, now: number): Decision {
    this.recovered();
    return decide(plan, r, now);
  }

  private async fallback(keyId: string, plan: PlanConfig, now: number, err: unknown): Promise<Decision> {
    this.unavailable(err);
    if (this.policy === 'failClosed') {
      throw new ServiceError(503, 'usage_store_unavailable', 'usage plans cannot be checked right now; try again shortly', {
        cause: err,
        headers: { 'Retry-After': '1' },
      });
    }
    this.degradedCount++;
    this.local ??= new MemoryUsageStore();
    const d = decide(plan, await this.local.consume(keyId, plan, now), now);
    d.degraded = true;
    if (d.allowed && plan.quota) this.charge(keyId, quotaPeriod(plan.quota, now));
    return d;
  }

  /** Owes one request to the shared quota counter: written with the next batch of usage records, so it is counted once. */
  private charge(key: string, period: { id: string; end: number }): void {
    const id = `${key}\u0000${period.id}`;
    const c = this.charges.get(id);
    if (c) c.n++;
    else this.charges.set(id, { key, periodId: period.id, periodEnd: period.end, n: 1 });
  }

  /** Adds to today's (UTC) usage record of the key; never throws, never waits on the store. */
  record(keyId: string, delta: Partial<UsageCounters>): void {
    this.pend(utcDay(this.clock()), keyId, delta);
    if (this.flushIntervalMs === 0) void this.flush();
  }

  private pend(day: string, keyId: string, delta: Partial<UsageCounters>): void {
    let perKey = this.pending.get(day);
    if (!perKey) {
      perKey = new Map();
      this.pending.set(day, perKey);
    }
    const counters = perKey.get(keyId);
    if (counters) addCounters(counters, delta);
    else perKey.set(keyId, addCounters(emptyCounters(), delta));
  }

  private pendingRecords(): number {
    let n = this.unsent?.entries.length ?? 0;
    for (const perKey of this.pending.values()) n += perKey.size;
    return n;
  }

  /** Writes buffered usage records now. */
  flush(): Promise<void> {
    if (this.flushing) return this.flushing.then(() => (this.unsent || this.pending.size || this.charges.size ? this.flush() : undefined));
    if (!this.unsent && this.pending.size === 0 && this.charges.size === 0) return Promise.resolve();
    this.flushing = this.writeOut()
      .then(() => this.recovered())
      .catch((err) => this.unavailable(err))
      .finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  /** The unconfirmed batch first (as it was), then what is pending as a new batch. */
  private async writeOut(): Promise<void> {
    if (this.unsent) {
      await this.store.addUsage(this.unsent, this.clock());
      this.unsent = undefined;
    }
    if (this.pending.size === 0 && this.charges.size === 0) return;
    const entries: UsageDelta[] = [];
    for (const [day, perKey] of this.pending) for (const [key, delta] of perKey) entries.push({ key, day, delta });
    this.pending = new Map();
    const charges = [...this.charges.values()];
    this.charges = new Map();
    this.unsent = { id: randomBytes(12).toString('base64url'), entries, ...(charges.length ? { charges } : {}) };
    await this.store.addUsage(this.unsent, this.clock());
    this.unsent = undefined;
  }

  /** Usage records for one key (or all) between two `YYYY-MM-DD` days, both included. */
  async read(query: { key?: string; days: string[] }): Promise<UsageDay[]> {
    await this.flush();
    try {
      return await this.store.readUsage(query.key === undefined ? undefined : [query.key], query.days);
    } catch (err) {
      this.unavailable(err);
      throw new ServiceError(503, 'usage_store_unavailable', 'usage records cannot be read right now; try again shortly', { cause: err });
    }
  }

  /** Units of the key's block held by this process (0 without leases). */
  heldUnits(keyId: string): number {
    return this.leases?.held(keyId) ?? 0;
  }

  /** Gives back to the store the unspent units of keys quiet for `lease.idleMs` (a timer does this too). */
  returnIdleUnits(): Promise<void> {
    return this.leases?.returnIdle() ?? Promise.resolve();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    // Unspent units go back before the store closes (the server's drain comes here).
    await this.leases?.close();
    await this.flush();
    if (this.unsent || this.pending.size || this.charges.size) {
      this.logger.error({ pendingRecords: this.pendingRecords() }, 'usage records could not be written before shutdown');
    }
    await this.store.close();
  }
}

const STORE_NAMES: Record<UsageStore['kind'], string> = { memory: 'memory', redis: 'Redis', dynamodb: 'DynamoDB' };

/** The store for `usage:`: in this process, or Redis or DynamoDB shared by every replica. */
function openUsageStore(cfg: UsageConfig, events: StoreEvents): UsageStore {
  if (cfg.store === 'memory') return new MemoryUsageStore({ retentionDays: cfg.retentionDays });
  if (cfg.store === 'dynamodb') {
    // resolveConfig names the table of `tableFromEnv`; none here means it was skipped (a bug, not a setting).
    if (!cfg.table) throw new Error('usage.table: not named; resolveConfig reads usage.tableFromEnv');
    return new DynamoUsageStore({ ...cfg, table: cfg.table });
  }
  return new RedisUsageStore({ url: cfg.url, prefix: cfg.prefix, retentionDays: cfg.retentionDays, commandTimeoutMs: cfg.commandTimeoutMs, events });
}

/** Builds the usage service for `usage:`; `clock` (epoch ms) lets tests move time. */
export function createUsageService(
  usageCfg: UsageConfig | undefined,
  options: { clock?: () => number; logger?: UsageLogger } = {},
): UsageService {
  const cfg: UsageConfig = usageCfg ?? { store: 'memory', headers: 'draft', retentionDays: 400 };
  return new UsageService(cfg, (events) => openUsageStore(cfg, events), options.clock ?? Date.now, options.logger ?? consoleLogger);
}

function decide(plan: PlanConfig, { outcome, tokens, quotaUsed }: ConsumeResult, now: number): Decision {
  const d: Decision = { allowed: outcome === 0, retryAfterMs: 0 };
  if (plan.rate !== undefined) {
    const burst = plan.burst ?? Math.ceil(plan.rate);
    const t = Math.max(0, tokens);
    d.rate = {
      limit: burst,
      remaining: Math.max(0, Math.floor(t)),
      perSecond: plan.rate,
      windowSeconds: Math.max(1, Math.ceil(burst / plan.rate)),
      fullInSeconds: Math.max(0, Math.ceil((burst - t) / plan.rate)),
    };
  }
  if (plan.quota) {
    const period = quotaPeriod(plan.quota, now);
    d.quota = {
      limit: plan.quota.limit,
      used: quotaUsed,
      remaining: Math.max(0, plan.quota.limit - quotaUsed),
      period: plan.quota.period,
      windowSeconds: Math.round((period.end - period.start) / 1000),
      resetAt: period.end,
    };
  }
  if (outcome === 1) {
    d.reason = 'rate';
    d.retryAfterMs = Math.max(1, Math.ceil(((1 - Math.max(0, tokens)) / plan.rate!) * 1000));
  } else if (outcome === 2) {
    d.reason = 'quota';
    d.retryAfterMs = Math.max(1, d.quota!.resetAt - now);
  }
  return d;
}

function needsCheck(plan: PlanConfig): boolean {
  return plan.rate !== undefined || plan.quota !== undefined;
}
