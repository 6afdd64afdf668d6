import type { PlanConfig } from '../config/usage.ts';

/** Counters kept per key per UTC day. */
export interface UsageCounters {
  requests: number;
  s2xx: number;
  s3xx: number;
  s4xx: number;
  s5xx: number;
  /** Response body bytes, from Content-Length (HEAD and bodiless responses count 0). */
  bytes: number;
  transformations: number;
  cacheHits: number;
  /** Requests answered 429 by the token bucket. */
  rateLimited: number;
  /** Requests answered 429 because the quota was used up. */
  quotaExceeded: number;
  /** Requests let in by a signed URL rather than X-API-Key. */
  signed: number;
}

/** The usage record of requests without a key (public sources, source-token signatures); `~` is in no key id. */
export const ANONYMOUS_KEY = '~anonymous';

export const COUNTER_NAMES: readonly (keyof UsageCounters)[] = [
  'requests',
  's2xx',
  's3xx',
  's4xx',
  's5xx',
  'bytes',
  'transformations',
  'cacheHits',
  'rateLimited',
  'quotaExceeded',
  'signed',
];

export function emptyCounters(): UsageCounters {
  return { requests: 0, s2xx: 0, s3xx: 0, s4xx: 0, s5xx: 0, bytes: 0, transformations: 0, cacheHits: 0, rateLimited: 0, quotaExceeded: 0, signed: 0 };
}

export function addCounters(into: UsageCounters, delta: Partial<UsageCounters>): UsageCounters {
  for (const name of COUNTER_NAMES) {
    const v = delta[name];
    if (v) into[name] += v;
  }
  return into;
}

/** One usage record: one key, one UTC day. */
export interface UsageDay extends UsageCounters {
  key: string;
  date: string;
}

export interface UsageDelta {
  key: string;
  day: string;
  delta: Partial<UsageCounters>;
}

/**
 * Usage records written together. A batch that failed is sent again as it was, with the same
 * `id`, so a store that can deduplicate (DynamoDB's idempotent transactions) never counts a
 * batch twice when only its answer was lost.
 */
export interface UsageBatch {
  id: string;
  entries: UsageDelta[];
  /** Requests served while the store was unreachable (failOpen), added to their quota period's counter. */
  charges?: QuotaCharge[];
}

/** Requests to add to a key's quota counter of one period (`Period.id`, ending at `periodEnd`). */
export interface QuotaCharge {
  key: string;
  periodId: string;
  periodEnd: number;
  n: number;
}

/** What a store answers for one request: 0 allowed, 1 over the rate, 2 over the quota. */
export interface ConsumeResult {
  outcome: 0 | 1 | 2;
  /** Tokens left in the bucket after this request (fractional); -1 when the plan has no rate. */
  tokens: number;
  /** Requests counted in the current quota period after this request; 0 when the plan has no quota. */
  quotaUsed: number;
}

/** What a shared store answers when a replica takes a block of units for a key. */
export interface TakeResult extends ConsumeResult {
  /**
   * Units taken (tokens and quota alike), 0 when refused: then `outcome` says which limit
   * refused it. `tokens` and `quotaUsed` are the store's figures after the taking.
   */
  granted: number;
}

/** How a shared store tells its service that it went down or came back (the memory store never does). */
export interface StoreEvents {
  down(err: unknown): void;
  up(): void;
}

/**
 * The state behind usage plans, implemented in full by the memory, Redis and DynamoDB stores; the
 * usage service reaches a store only through these methods. Every method is atomic per key.
 */
export interface UsageStore {
  readonly kind: 'memory' | 'redis' | 'dynamodb';
  /** Resolves true once the store answers, false after `timeoutMs`. */
  ready(timeoutMs: number): Promise<boolean>;
  /** Take one token and one unit of quota if both are available; otherwise take nothing. (The memory store answers at once.) */
  consume(keyId: string, plan: PlanConfig, now: number): ConsumeResult | Promise<ConsumeResult>;
  /**
   * Take up to `n` tokens and `n` units of quota at once (as many as both allow, at least 1 or
   * none): a block this replica spends without asking again. Only the shared stores have it.
   */
  take?(keyId: string, plan: PlanConfig, now: number, n: number): Promise<TakeResult>;
  /**
   * Return the quota of `n` unspent units of a block: the key's counter of `quotaPeriodId`, the
   * period they were taken in, lowered by `n`. Tokens are never given back: the bucket refills
   * them (src/usage/lease.ts).
   */
  giveBack?(keyId: string, quotaPeriodId: string, n: number): Promise<void>;
  addUsage(batch: UsageBatch, now: number): Promise<void>;
  /** Records for the given keys (all keys when undefined) on the given days; days without traffic are left out. */
  readUsage(keys: string[] | undefined, days: string[]): Promise<UsageDay[]>;
  close(): Promise<void>;
}
