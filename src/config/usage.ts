import { z } from 'zod';
import { ID_PATTERN, ID_RULE } from '../ids.ts';

/**
 * Usage plans (`plans:`) and the usage store (`usage:`). A plan throttles one key with a token
 * bucket (`rate` requests per second, bucket of `burst`) and caps it with a quota per UTC day,
 * week or calendar month, the way API Gateway usage plans do.
 */

const planName = z.string().regex(ID_PATTERN, `plan names use ${ID_RULE}`);

const quotaSchema = z
  .object({
    /** Requests allowed per period. */
    limit: z
      .number({ error: 'expected a whole number of requests' })
      .int('expected a whole number of requests')
      .positive('must be at least 1'),
    /** UTC day; week (starting `weekStart`, 00:00 UTC); calendar month in UTC. */
    period: z.enum(['day', 'week', 'month'], { error: "expected 'day', 'week' or 'month'" }),
    /** First day of a `week` period; API Gateway's offset 0 is Sunday. */
    weekStart: z.enum(['sunday', 'monday'], { error: "expected 'sunday' or 'monday'" }).default('sunday'),
  })
  .strict();

const planSchema = z
  .object({
    /** Sustained requests per second (token refill rate). Omit for no throttling. */
    rate: z.number({ error: 'expected requests per second (a number)' }).positive('must be above 0').optional(),
    /** Token bucket size: the most requests accepted at once. Default: the rate rounded up. */
    burst: z
      .number({ error: 'expected a whole number of requests' })
      .int('expected a whole number of requests')
      .positive('must be at least 1')
      .optional(),
    quota: quotaSchema.optional(),
  })
  .strict()
  .superRefine((p, ctx) => {
    if (p.burst !== undefined && p.rate === undefined) {
      ctx.addIssue({ code: 'custom', path: ['burst'], message: 'needs a rate (requests per second) to refill the bucket' });
    }
  })
  .transform((p) => ({
    ...p,
    burst: p.rate === undefined ? undefined : (p.burst ?? Math.max(1, Math.ceil(p.rate))),
  }));

/** `plans:` — plan name → limits. Keys name their plan with `plan:`. */
export const plansConfigSchema = z
  .record(planName, planSchema, {
    error: (iss) =>
      iss.code === 'invalid_key'
        ? `plan name '${String(iss.input)}': use ${ID_RULE}`
        : 'expected a map of plan name → { rate, burst, quota }',
  })
  .default({});

const usageCommon = {
  /**
   * Rate-limit headers on keyed responses: `draft` = `RateLimit-Policy` + `RateLimit` (current
   * IETF draft, the default); `legacy` = `RateLimit-Limit`/`-Remaining`/`-Reset` (older drafts,
   * still read by many clients); `both`; `none`. Each header costs a little CPU per request.
   */
  headers: z.enum(['draft', 'legacy', 'both', 'none'], { error: "expected 'draft', 'legacy', 'both' or 'none'" }).default('draft'),
  /** Days that daily usage records are kept. */
  retentionDays: z
    .number({ error: 'expected a whole number of days' })
    .int('expected a whole number of days')
    .min(1, 'at least 1')
    .max(3660, 'at most 3660')
    .default(400),
};

/** Settings of the stores shared by every replica (Redis, DynamoDB). */
const sharedStore = {
  /** The store unreachable: `failOpen` serves (counting in this process, logging loudly); `failClosed` answers 503. */
  onUnavailable: z.enum(['failOpen', 'failClosed'], { error: "expected 'failOpen' or 'failClosed'" }).default('failOpen'),
  /** A store request slower than this counts as the store being unavailable, milliseconds. */
  commandTimeoutMs: z
    .number({ error: 'expected milliseconds' })
    .int('expected whole milliseconds')
    .min(10, 'at least 10')
    .max(60_000, 'at most 60000')
    .default(500),
  /** Usage records are summed in memory and written every this many milliseconds (0: on every request). */
  flushIntervalMs: z
    .number({ error: 'expected milliseconds' })
    .int('expected whole milliseconds')
    .min(0, 'at least 0')
    .max(60_000, 'at most 60000')
    .default(1000),
  /**
   * Leases: a replica takes a block of units for a busy key from the store in one atomic
   * operation and answers that key's next requests from it without a round trip; the quota of
   * unspent units goes back to the store; tokens never go back (the bucket refills them).
   * `maxUnits: 1` turns them off (one store round trip per request, exact limits).
   *
   * The quota stays exact across replicas; the token bucket is bounded instead: a key's instant
   * burst may exceed `burst` by what the replicas hold (each at most a block and half of the
   * previous one: 15% of the burst, 1.5 × `maxUnits`), its rate over any longer window does not (src/usage/lease.ts says why).
   * For quotas, Kong's rate-limiting plugin trades the other way round: with `sync_rate` above 0 each node
   * counts locally and syncs its counters every so often, so the nodes together can let more
   * through than the limit between syncs. Envoy answers most requests from a local token bucket
   * in front of its global rate-limit service, but that bucket is a separate limit per instance,
   * not a share of the global one. A block here is taken from the shared bucket and quota before
   * a unit of it is spent, so no number of replicas exceeds a quota; what it costs is that units
   * held by one replica are not available to another until spent or their quota given back. So a block is
   * small: at most `maxUnits` (1000: a key asked 10 000 times a second on one replica asks the
   * store about 20 times a second instead of 10 000; at 50 the store's round trips still cost a
   * cache hit at 2 clients a tenth of its throughput, bench/RESULTS.md), at most what this
   * replica saw of the key in the last second,
   * and at most a tenth of the plan's burst and of the quota left (a plan of burst 5 or a quota
   * nearly used up gets no block at all); `idleMs` (1000: a key that went quiet has its quota
   * units back in the store within about a second, short next to any quota period) bounds how long
   * they stay away from the other replicas.
   */
  lease: z
    .object({
      /** Most units one block takes (1: no leases). */
      maxUnits: z.number({ error: 'expected a whole number of units' }).int('expected a whole number of units').min(1, 'at least 1').max(100_000, 'at most 100000').default(1000),
      /** The quota of unspent units of a key not used for this long goes back to the store, milliseconds (tokens are never given back: the bucket refills them). */
      idleMs: z.number({ error: 'expected milliseconds' }).int('expected whole milliseconds').min(10, 'at least 10').max(60_000, 'at most 60000').default(1000),
    })
    .strict()
    .prefault({}),
};

const memoryUsageSchema = z.object({ store: z.literal('memory'), ...usageCommon }).strict();

const redisUsageSchema = z
  .object({
    store: z.literal('redis'),
    url: z.string({ error: 'expected redis://host:port/db or rediss://…' }).regex(/^rediss?:\/\/.+/, 'expected redis://host:port/db or rediss://…'),
    /** Prefix of every Redis key this service writes. */
    prefix: z.string().max(100, 'at most 100 characters').default('imagegate:'),
    ...sharedStore,
    ...usageCommon,
  })
  .strict();

/** A DynamoDB table name, as DynamoDB allows them. */
export const tableName = z
  .string({ error: 'expected a DynamoDB table name' })
  .regex(/^[A-Za-z0-9_.-]{3,255}$/, 'expected a DynamoDB table name (3–255 of A-Z a-z 0-9 _ . -)');

const dynamodbUsageSchema = z
  .object({
    store: z.literal('dynamodb'),
    /** The table (pk/sk strings, TTL on expiresAt; the CDK app creates it). */
    table: tableName.optional(),
    /** …or the environment variable holding its name (what the CDK app sets on the Lambda). */
    tableFromEnv: z.string().min(1).optional(),
    /** Default: the AWS region of the environment. */
    region: z.string().min(1).optional(),
    /** Another DynamoDB endpoint (a local emulator, a VPC endpoint URL). */
    endpoint: z.url({ error: 'expected a URL' }).optional(),
    /** Prefix of every partition key this service writes (several deployments in one table). */
    prefix: z.string().max(100, 'at most 100 characters').default(''),
    ...sharedStore,
    ...usageCommon,
  })
  .strict()
  .refine((u) => (u.table ? 1 : 0) + (u.tableFromEnv ? 1 : 0) === 1, { message: 'set exactly one of table or tableFromEnv', path: ['table'] });

/** `usage:` — where throttle state, quota counters and usage records live. Default: memory. */
export const usageConfigSchema = z
  .discriminatedUnion('store', [memoryUsageSchema, redisUsageSchema, dynamodbUsageSchema], {
    error: "expected 'memory', 'redis' or 'dynamodb'",
  })
  .prefault({ store: 'memory' });

export type PlanConfig = z.infer<typeof planSchema>;
export type PlansConfig = z.infer<typeof plansConfigSchema>;
export type QuotaConfig = z.infer<typeof quotaSchema>;
export type UsageConfig = z.infer<typeof usageConfigSchema>;
export type DynamoUsageConfig = z.infer<typeof dynamodbUsageSchema>;
