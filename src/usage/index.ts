import { ServiceError } from '../errors.ts';
import type { PlanConfig, UsageConfig } from './config.ts';
import { MemoryUsageStore } from './memory.ts';
import { quotaPeriod, utcDay } from './periods.ts';
import { RedisUsageStore } from './redis.ts';
import { addCounters, emptyCounters, type UsageCounters, type UsageDay, type UsageDelta, type UsageStore } from './types.ts';

export type { UsageCounters, UsageDay } from './types.ts';
export type { PlanConfig, PlansConfig, UsageConfig } from './config.ts';
export { plansConfigSchema, usageConfigSchema } from './config.ts';
export { quotaPeriod, utcDay, parseUtcDay, daysBetween } from './periods.ts';

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

export interface UsageService {
  readonly storeKind: 'memory' | 'redis';
  readonly config: UsageConfig;
  now(): number;
  /** Waits for the store's connection (Redis), at most `timeoutMs`; true when connected. */
  ready(timeoutMs?: number): Promise<boolean>;
  /**
   * Counts one request against the key's plan. Throws ServiceError 503
   * `usage_store_unavailable` when Redis is down and the policy is failClosed.
   */
  check(keyId: string, plan: PlanConfig): Promise<Decision> | Decision;
  /** Adds to today's (UTC) usage record of the key; never throws, never waits on the store. */
  record(keyId: string, delta: Partial<UsageCounters>): void;
  /** Usage records for one key (or all) between two `YYYY-MM-DD` days, both included. */
  read(query: { key?: string; days: string[] }): Promise<UsageDay[]>;
  /** Writes buffered usage records now. */
  flush(): Promise<void>;
  /** False while the shared store is unreachable. */
  available(): boolean;
  close(): Promise<void>;
}

/** Builds the usage service for `usage:`; `clock` (epoch ms) lets tests move time. */
export function createUsageService(
  usageCfg: UsageConfig | undefined,
  options: { clock?: () => number; logger?: UsageLogger } = {},
): UsageService {
  const cfg: UsageConfig = usageCfg ?? { store: 'memory', headers: 'draft', retentionDays: 400 };
  const clock = options.clock ?? Date.now;
  const logger = options.logger ?? consoleLogger;
  if (cfg.store === 'memory') return new LocalUsageService(cfg, clock);
  return new SharedUsageService(cfg, clock, logger);
}

function decide(plan: PlanConfig, outcome: 0 | 1 | 2, tokens: number, quotaUsed: number, now: number): Decision {
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

/** `usage: { store: memory }`: one process, exact, lost on restart. */
class LocalUsageService implements UsageService {
  readonly storeKind = 'memory' as const;
  private readonly store: MemoryUsageStore;
  constructor(
    readonly config: UsageConfig,
    private readonly clock: () => number,
  ) {
    this.store = new MemoryUsageStore({ retentionDays: config.retentionDays });
  }
  now(): number {
    return this.clock();
  }
  async ready(): Promise<boolean> {
    return true;
  }
  /** Synchronous: no promise per request for the in-process store. */
  check(keyId: string, plan: PlanConfig): Decision {
    if (!needsCheck(plan)) return { allowed: true, retryAfterMs: 0 };
    const now = this.clock();
    const r = this.store.consumeSync(keyId, plan, now);
    return decide(plan, r.outcome, r.tokens, r.quotaUsed, now);
  }
  record(keyId: string, delta: Partial<UsageCounters>): void {
    const now = this.clock();
    this.store.addOne(keyId, utcDay(now), delta, now);
  }
  read(query: { key?: string; days: string[] }): Promise<UsageDay[]> {
    return this.store.readUsage(query.key === undefined ? undefined : [query.key], query.days);
  }
  async flush(): Promise<void> {}
  available(): boolean {
    return true;
  }
  async close(): Promise<void> {}
}

/**
 * `usage: { store: redis }`: one bucket, one quota counter and one set of records per key for
 * every replica. Usage records are summed locally and written in one transaction per
 * `flushIntervalMs`; while Redis is down they stay in memory and are written when it returns.
 */
class SharedUsageService implements UsageService {
  readonly storeKind = 'redis' as const;
  private readonly store: RedisUsageStore;
  /** failOpen: limits this process enforces alone while Redis is unreachable. */
  private readonly local = new MemoryUsageStore();
  private pending = new Map<string, UsageDelta>();
  private flushing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private down = false;
  private degradedCount = 0;
  private lastLoud = 0;
  private closed = false;

  constructor(
    readonly config: Extract<UsageConfig, { store: 'redis' }>,
    private readonly clock: () => number,
    private readonly logger: UsageLogger,
  ) {
    this.store = new RedisUsageStore({
      url: config.url,
      prefix: config.prefix,
      retentionDays: config.retentionDays,
      commandTimeoutMs: config.commandTimeoutMs,
      onError: (err) => this.unavailable(err),
    });
    // (Re)connected: leave the degraded mode even before the next request.
    this.store.client.on('ready', () => this.recovered());
    if (config.flushIntervalMs > 0) {
      this.timer = setInterval(() => void this.flush(), config.flushIntervalMs);
      this.timer.unref();
    }
  }

  now(): number {
    return this.clock();
  }

  ready(timeoutMs = 5000): Promise<boolean> {
    return this.store.ready(timeoutMs);
  }

  available(): boolean {
    return !this.down;
  }

  private unavailable(err: unknown): void {
    const wall = Date.now();
    if (!this.down || wall - this.lastLoud >= 10_000) {
      this.lastLoud = wall;
      const policy = this.config.onUnavailable;
      this.logger.error(
        { err: String((err as Error)?.message ?? err), policy, degradedRequests: this.degradedCount, pendingRecords: this.pending.size },
        policy === 'failOpen'
          ? 'usage store (Redis) unavailable: serving with limits counted in this process only (failOpen); usage records kept in memory until Redis returns'
          : 'usage store (Redis) unavailable: keyed requests answered 503 usage_store_unavailable (failClosed)',
      );
    }
    this.down = true;
  }

  private recovered(): void {
    if (!this.down) return;
    this.down = false;
    this.logger.warn({ degradedRequests: this.degradedCount }, 'usage store (Redis) available again');
    this.degradedCount = 0;
    void this.flush();
  }

  async check(keyId: string, plan: PlanConfig): Promise<Decision> {
    if (!needsCheck(plan)) return { allowed: true, retryAfterMs: 0 };
    const now = this.clock();
    try {
      const r = await this.store.consume(keyId, plan, now);
      this.recovered();
      return decide(plan, r.outcome, r.tokens, r.quotaUsed, now);
    } catch (err) {
      this.unavailable(err);
      if (this.config.onUnavailable === 'failClosed') {
        throw new ServiceError(503, 'usage_store_unavailable', 'usage plans cannot be checked right now; try again shortly', {
          cause: err,
          headers: { 'Retry-After': '1' },
        });
      }
      this.degradedCount++;
      const r = this.local.consumeSync(keyId, plan, now);
      return { ...decide(plan, r.outcome, r.tokens, r.quotaUsed, now), degraded: true };
    }
  }

  record(keyId: string, delta: Partial<UsageCounters>): void {
    const day = utcDay(this.clock());
    const id = `${day}\u0000${keyId}`;
    let entry = this.pending.get(id);
    if (!entry) {
      entry = { key: keyId, day, delta: emptyCounters() };
      this.pending.set(id, entry);
    }
    addCounters(entry.delta as UsageCounters, delta);
    if (this.config.flushIntervalMs === 0) void this.flush();
  }

  flush(): Promise<void> {
    if (this.flushing) return this.flushing.then(() => (this.pending.size ? this.flush() : undefined));
    if (this.pending.size === 0) return Promise.resolve();
    const batch = this.pending;
    this.pending = new Map();
    this.flushing = this.store
      .addUsage([...batch.values()])
      .then(() => this.recovered())
      .catch((err) => {
        // Put the batch back: written with the next flush once Redis answers again.
        for (const [id, e] of batch) {
          const cur = this.pending.get(id);
          if (cur) addCounters(cur.delta as UsageCounters, e.delta);
          else this.pending.set(id, e);
        }
        this.unavailable(err);
      })
      .finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  async read(query: { key?: string; days: string[] }): Promise<UsageDay[]> {
    await this.flush();
    try {
      return await this.store.readUsage(query.key === undefined ? undefined : [query.key], query.days);
    } catch (err) {
      this.unavailable(err);
      throw new ServiceError(503, 'usage_store_unavailable', 'usage records cannot be read right now; try again shortly', { cause: err });
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.flush();
    if (this.pending.size) {
      this.logger.error({ pendingRecords: this.pending.size }, 'usage records could not be written before shutdown');
    }
    await this.store.close();
  }
}
