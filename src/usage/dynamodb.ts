import {
  GetItemCommand,
  TransactWriteItemsCommand,
  UpdateItemCommand,
  type AttributeValue,
  type DynamoDBClient,
  type TransactWriteItem,
} from '@aws-sdk/client-dynamodb';
import { batchGet, createDynamoClient, isConditionFailed, itemKey, N, num, queryPartition } from '../dynamodb.ts';
import type { DynamoUsageConfig, PlanConfig } from '../config/usage.ts';
import { parseUtcDay, quotaPeriod } from './periods.ts';
import { COUNTER_NAMES, emptyCounters, type ConsumeResult, type QuotaCharge, type TakeResult, type UsageBatch, type UsageDay, type UsageDelta, type UsageStore } from './types.ts';

/** Most conditional writes one request makes before giving up (each retry means another writer moved first). */
const MAX_ATTEMPTS = 8;

/** What a plan's item held when a conditional update on it failed. */
interface ItemState {
  tokens: number;
  used: number;
  /** The bucket is on its busy branch (`tat` ahead of now). */
  busy: boolean;
}

/** The plan's token bucket as the item keeps it: its size, and the milliseconds one token takes to come back (0: no rate). */
function bucketOf(plan: PlanConfig): { burst: number; interval: number } {
  const rate = plan.rate;
  return { burst: plan.burst ?? (rate ? Math.ceil(rate) : 0), interval: rate ? 1000 / rate : 0 };
}
/** Items per TransactWriteItems (DynamoDB's limit). */
const TRANSACT_MAX = 100;
/** Usage-record days queried at once when every key is asked for. */
const QUERY_CONCURRENCY = 8;
const DAY_MS = 86_400_000;

/**
 * Usage plans shared by every replica and every Lambda instance through one DynamoDB table
 * (layout in src/dynamodb.ts). One request is one UpdateItem on the key's plan item, whose
 * condition checks the token bucket and the quota and whose update takes from both, so any
 * number of writers never let more through than the plan allows:
 *
 * - the token bucket is kept as its "theoretical arrival time" `tat` (GCRA: the instant the
 *   bucket would be full again). A request may pass when `tat ≤ now + (burst − 1)/rate`; it moves
 *   `tat` to `max(tat, now) + 1/rate`. DynamoDB has no max(), so the update is written for the
 *   branch this process last saw (`tat` in the past: set it; in the future: add to it) and the
 *   condition pins that branch; a wrong guess fails the condition and is retried on the other;
 * - the quota is a counter attribute named after the period (`qd2026-11-26`, `qw…`, `qm2026-11`):
 *   `ADD 1` under the condition that it is below the limit, so a new period starts at 0 by itself
 *   and the previous period's counter is removed in the same update.
 *
 * A refused request writes nothing: the refused condition returns the item (ALL_OLD), which says
 * whether the rate or the quota refused it. Usage records are summed by the service and written
 * once per flush in idempotent transactions (the batch id is the ClientRequestToken), so a batch
 * sent again after a lost answer is not counted twice.
 */
export class DynamoUsageStore implements UsageStore {
  readonly kind = 'dynamodb' as const;
  private readonly client: DynamoDBClient;
  private readonly table: string;
  private readonly prefix: string;
  private readonly retentionDays: number;
  /** The last `tat` seen per key: which branch the next update takes. */
  private readonly lastTat = new Map<string, number>();
  /** Period id → the previous period's counter attribute. */
  private readonly previousIds = new Map<string, string>();

  constructor(cfg: Pick<DynamoUsageConfig, 'region' | 'endpoint' | 'prefix' | 'retentionDays' | 'commandTimeoutMs'> & { table: string }, client?: DynamoDBClient) {
    this.table = cfg.table;
    this.prefix = cfg.prefix;
    this.retentionDays = cfg.retentionDays;
    this.client = client ?? createDynamoClient({ region: cfg.region, endpoint: cfg.endpoint, timeoutMs: cfg.commandTimeoutMs });
  }

  /** Resolves true once one read of the table succeeds, false after `timeoutMs`. */
  async ready(timeoutMs: number): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      try {
        await this.client.send(new GetItemCommand({ TableName: this.table, Key: itemKey(`${this.prefix}ready`) }));
        return true;
      } catch {
        if (Date.now() >= end) return false;
        await new Promise((r) => setTimeout(r, Math.min(200, Math.max(0, end - Date.now()))));
      }
    }
  }

  async consume(keyId: string, plan: PlanConfig, now: number): Promise<ConsumeResult> {
    const t = Math.floor(now);
    let busy = plan.rate ? (this.lastTat.get(keyId) ?? 0) > t : false;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const r = await this.takeBlock(keyId, plan, t, 1, busy);
      if ('granted' in r) return { outcome: 0, tokens: r.tokens, quotaUsed: r.quotaUsed };
      // A refusal (nothing written), or the other branch of the bucket: once more on that one.
      if (plan.rate && r.tokens < 1) return { outcome: 1, tokens: r.tokens, quotaUsed: r.used };
      if (plan.quota && r.used >= plan.quota.limit) return { outcome: 2, tokens: r.tokens, quotaUsed: r.used };
      busy = r.busy;
    }
    throw new Error(`usage plan of key '${keyId}': too many concurrent updates`);
  }

  /**
   * A block of `n` units in one conditional update: the bucket must hold `n` tokens (`tat` at
   * most `(burst − n)/rate` ahead) and the quota `n` units, on the branch of the bucket this
   * process last saw. The update is all or nothing, so when its condition fails the item as it
   * was (returned with the failure) says what is available: a second update takes that much,
   * on the right branch, when it is at least 2; otherwise (or if that one fails too) one unit
   * (`consume`, which retries branches and tells a refusal apart). A block is never more than
   * the burst or the quota limit: no condition could ever hold for it.
   */
  async take(keyId: string, plan: PlanConfig, now: number, n: number): Promise<TakeResult> {
    const t = Math.floor(now);
    n = Math.floor(n);
    if (plan.rate) n = Math.min(n, bucketOf(plan).burst);
    if (plan.quota) n = Math.min(n, plan.quota.limit);
    if (n <= 1) return this.one(keyId, plan, now);
    const first = await this.takeBlock(keyId, plan, t, n, plan.rate ? (this.lastTat.get(keyId) ?? 0) > t : false);
    if ('granted' in first) return first;
    let available = n;
    if (plan.rate) available = Math.min(available, Math.floor(first.tokens));
    if (plan.quota) available = Math.min(available, plan.quota.limit - first.used);
    if (available >= 2) {
      const second = await this.takeBlock(keyId, plan, t, available, first.busy);
      if ('granted' in second) return second;
    }
    return this.one(keyId, plan, now);
  }

  /**
   * One conditional update taking `n` units on the given branch of the bucket: the result, or,
   * when the condition failed, what the item held then (tokens, quota used, which branch).
   */
  private async takeBlock(keyId: string, plan: PlanConfig, t: number, n: number, busy: boolean): Promise<TakeResult | ItemState> {
    const rate = plan.rate;
    const { burst, interval } = bucketOf(plan);
    const period = plan.quota ? quotaPeriod(plan.quota, t) : undefined;
    const names: Record<string, string> = {};
    const values: Record<string, AttributeValue> = {};
    const set: string[] = [];
    const conditions: string[] = [];
    let quotaName: string | undefined;
    if (period) {
      quotaName = `q${period.id}`;
      names['#q'] = quotaName;
      names['#prev'] = this.previousCounter(plan, period);
      values[':most'] = N(plan.quota!.limit - n);
      values[':n'] = N(n);
      conditions.push('(attribute_not_exists(#q) OR #q <= :most)');
    }
    // Past the end of the period (and once the bucket is full again) the item may go.
    const keepUntil = Math.max(period ? period.end : t, rate ? t + burst * interval : t) + DAY_MS;
    values[':ttl'] = N(Math.ceil(keepUntil / 1000));
    set.push('expiresAt = :ttl');
    if (rate) {
      values[':now'] = N(t);
      if (busy) {
        values[':max'] = N(t + (burst - n) * interval);
        values[':step'] = N(n * interval);
        conditions.push('(tat > :now AND tat <= :max)');
        set.push('tat = tat + :step');
      } else {
        values[':next'] = N(t + n * interval);
        conditions.push('(attribute_not_exists(tat) OR tat <= :now)');
        set.push('tat = :next');
      }
    }
    let update = `SET ${set.join(', ')}`;
    if (period) update += ' ADD #q :n REMOVE #prev';
    let item: Record<string, AttributeValue>;
    let granted = 0;
    try {
      const res = await this.client.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: itemKey(`${this.prefix}plan#${keyId}`),
          UpdateExpression: update,
          ConditionExpression: conditions.join(' AND '),
          ExpressionAttributeNames: Object.keys(names).length ? names : undefined,
          ExpressionAttributeValues: values,
          ReturnValues: 'UPDATED_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      item = res.Attributes ?? {};
      granted = n;
    } catch (err) {
      if (!isConditionFailed(err)) throw err;
      item = err.Item ?? {};
    }
    // The bucket and the quota as the item holds them: after the update, or as it was (no `tat`: a full bucket).
    const tat = num(item.tat) ?? (granted ? undefined : -Infinity);
    if (rate && tat !== undefined) this.remember(keyId, tat);
    const tokens = rate && tat !== undefined ? burst - Math.max(0, tat - t) / interval : -1;
    const used = quotaName ? (num(item[quotaName]) ?? 0) : 0;
    if (granted) return { outcome: 0, tokens, quotaUsed: used, granted };
    return { tokens, used, busy: tat! > t };
  }

  private async one(keyId: string, plan: PlanConfig, now: number): Promise<TakeResult> {
    const r = await this.consume(keyId, plan, now);
    return { ...r, granted: r.outcome === 0 ? 1 : 0 };
  }

  /**
   * Unspent quota back: the counter of the period the units were taken in lowered by `n`, only
   * while it holds that many (a new period removed it). One conditional update, done or not: a
   * give-back that fails leaves the units taken, so the plan is under-used, never exceeded.
   * Tokens are never given back: the bucket refills them (src/usage/lease.ts).
   */
  async giveBack(keyId: string, quotaPeriodId: string, n: number): Promise<void> {
    if (n < 1) return;
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.table,
          Key: itemKey(`${this.prefix}plan#${keyId}`),
          UpdateExpression: 'ADD #q :back',
          ConditionExpression: '#q >= :n',
          ExpressionAttributeNames: { '#q': `q${quotaPeriodId}` },
          ExpressionAttributeValues: { ':back': N(-n), ':n': N(n) },
        }),
      );
    } catch (err) {
      if (!isConditionFailed(err)) throw err;
    }
  }

  /** The counter attribute of the period before `period` (removed by the update), computed once per period. */
  private previousCounter(plan: PlanConfig, period: { id: string; start: number }): string {
    let prev = this.previousIds.get(period.id);
    if (prev === undefined) {
      // A fresh settings object: quotaPeriod's per-settings cache keeps serving the current period.
      prev = `q${quotaPeriod({ ...plan.quota! }, period.start - 1).id}`;
      if (this.previousIds.size > 1000) this.previousIds.clear();
      this.previousIds.set(period.id, prev);
    }
    return prev;
  }

  private remember(keyId: string, tat: number): void {
    if (this.lastTat.size > 10_000) this.lastTat.clear();
    this.lastTat.set(keyId, tat);
  }

  private recordPk(day: string): string {
    return `${this.prefix}usage#${day}`;
  }

  /**
   * One ADD per key and day (and per quota owed for requests served while DynamoDB was down), up
   * to 100 in one transaction whose ClientRequestToken is the batch id and the chunk number:
   * DynamoDB applies a token once (for 10 minutes), so a batch sent again after a timeout is not
   * counted twice.
   */
  async addUsage(batch: UsageBatch): Promise<void> {
    const items = [...batch.entries.map((e) => this.recordUpdate(e)), ...(batch.charges ?? []).map((c) => this.chargeUpdate(c))];
    for (let i = 0; i < items.length; i += TRANSACT_MAX) {
      await this.client.send(new TransactWriteItemsCommand({ TransactItems: items.slice(i, i + TRANSACT_MAX), ClientRequestToken: `${batch.id}-${i / TRANSACT_MAX}` }));
    }
  }

  /** Requests served while DynamoDB was unreachable, added to the key's quota counter of their period. */
  private chargeUpdate(c: QuotaCharge): TransactWriteItem {
    return {
      Update: {
        TableName: this.table,
        Key: itemKey(`${this.prefix}plan#${c.key}`),
        UpdateExpression: 'ADD #q :n SET expiresAt = if_not_exists(expiresAt, :ttl)',
        ExpressionAttributeNames: { '#q': `q${c.periodId}` },
        ExpressionAttributeValues: { ':n': N(c.n), ':ttl': N(Math.ceil((c.periodEnd + DAY_MS) / 1000)) },
      },
    };
  }

  private recordUpdate({ key, day, delta }: UsageDelta): TransactWriteItem {
    const names: Record<string, string> = {};
    const values: Record<string, AttributeValue> = {};
    const adds: string[] = [];
    for (const name of COUNTER_NAMES) {
      const v = delta[name];
      if (!v) continue;
      names[`#${name}`] = name;
      values[`:${name}`] = N(v);
      adds.push(`#${name} :${name}`);
    }
    const dayStart = parseUtcDay(day) ?? 0;
    values[':ttl'] = N(Math.ceil((dayStart + (this.retentionDays + 1) * DAY_MS) / 1000));
    return {
      Update: {
        TableName: this.table,
        Key: itemKey(this.recordPk(day), key),
        UpdateExpression: `SET expiresAt = :ttl${adds.length ? ` ADD ${adds.join(', ')}` : ''}`,
        ...(adds.length ? { ExpressionAttributeNames: names } : {}),
        ExpressionAttributeValues: values,
      },
    };
  }

  async readUsage(keys: string[] | undefined, days: string[]): Promise<UsageDay[]> {
    const valid = days.filter((d) => parseUtcDay(d) !== undefined);
    const found = new Map<string, Map<string, UsageDay>>();
    const put = (item: Record<string, AttributeValue>) => {
      const date = item.pk!.S!.slice(this.recordPk('').length);
      const key = item.sk!.S!;
      const c = emptyCounters();
      for (const name of COUNTER_NAMES) c[name] = num(item[name]) ?? 0;
      let perKey = found.get(date);
      if (!perKey) found.set(date, (perKey = new Map()));
      perKey.set(key, { key, date, ...c });
    };
    if (keys === undefined) {
      // Every key: one query per day, a few days at a time.
      let next = 0;
      const worker = async () => {
        while (next < valid.length) for (const item of await queryPartition(this.client, this.table, this.recordPk(valid[next++]!))) put(item);
      };
      await Promise.all(Array.from({ length: Math.min(QUERY_CONCURRENCY, valid.length) }, worker));
    } else {
      const wanted: Record<string, AttributeValue>[] = [];
      for (const day of valid) for (const key of keys) wanted.push(itemKey(this.recordPk(day), key));
      for (const item of await batchGet(this.client, this.table, wanted)) put(item);
    }
    const out: UsageDay[] = [];
    for (const date of valid) {
      const perKey = found.get(date);
      if (!perKey) continue;
      for (const key of keys ?? [...perKey.keys()].sort()) {
        const rec = perKey.get(key);
        if (rec) out.push(rec);
      }
    }
    return out;
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
