import { invalidParameter } from '../errors.ts';
import { daysBetween, parseUtcDay, utcDay } from './periods.ts';
import type { UsageService } from './index.ts';
import type { UsageDay } from './types.ts';
import { ID_RULE, isValidId } from '../ids.ts';
import { ANONYMOUS_KEY, emptyCounters } from './types.ts';

/** Longest range one usage query may cover, in days. */
const MAX_REPORT_DAYS = 366;

interface UsageRecordOut {
  key: string;
  date: string;
  requests: number;
  responses: { '2xx': number; '3xx': number; '4xx': number; '5xx': number };
  bytes: number;
  transformations: number;
  cacheHits: number;
  rateLimited: number;
  quotaExceeded: number;
  /** Requests let in by a signed URL (the rest of a key's came with X-API-Key). */
  signed: number;
}

export interface UsageReport {
  key: string | null;
  from: string;
  to: string;
  /** One record per key per UTC day with traffic, by date then key. */
  records: UsageRecordOut[];
  totals: Omit<UsageRecordOut, 'key' | 'date'>;
}

function shape(d: Pick<UsageDay, Exclude<keyof UsageDay, 'key' | 'date'>>): Omit<UsageRecordOut, 'key' | 'date'> {
  return {
    requests: d.requests,
    responses: { '2xx': d.s2xx, '3xx': d.s3xx, '4xx': d.s4xx, '5xx': d.s5xx },
    bytes: d.bytes,
    transformations: d.transformations,
    cacheHits: d.cacheHits,
    rateLimited: d.rateLimited,
    quotaExceeded: d.quotaExceeded,
    signed: d.signed,
  };
}

/**
 * Checks a usage query (`key`, `from`, `to` as `YYYY-MM-DD`, UTC). Defaults: `to` today,
 * `from` the first day of `to`'s month. Throws 400 `invalid_parameter` naming the parameter.
 */
export function parseUsageQuery(q: { key?: string | null; from?: string | null; to?: string | null }, now: number): {
  key?: string;
  from: string;
  to: string;
  days: string[];
} {
  const key = q.key ?? undefined;
  if (key !== undefined && key !== ANONYMOUS_KEY && !isValidId(key)) {
    throw invalidParameter('key', key, `a key id: ${ID_RULE}`);
  }
  const to = q.to ?? utcDay(now);
  if (parseUtcDay(to) === undefined) throw invalidParameter('to', to, 'a UTC date as YYYY-MM-DD');
  const from = q.from ?? `${to.slice(0, 7)}-01`;
  if (parseUtcDay(from) === undefined) throw invalidParameter('from', from, 'a UTC date as YYYY-MM-DD');
  if (from > to) throw invalidParameter('from', from, `a date on or before to (${to})`);
  const days = daysBetween(from, to);
  if (days.length > MAX_REPORT_DAYS) throw invalidParameter('from', from, `a range of at most ${MAX_REPORT_DAYS} days`);
  return { key, from, to, days };
}

/** Usage records for the admin endpoint and the CLI. */
export async function usageReport(usage: UsageService, query: { key?: string; from: string; to: string; days: string[] }): Promise<UsageReport> {
  const days = await usage.read({ key: query.key, days: query.days });
  const total = days.reduce(
    (t, d) => {
      t.requests += d.requests;
      t.s2xx += d.s2xx;
      t.s3xx += d.s3xx;
      t.s4xx += d.s4xx;
      t.s5xx += d.s5xx;
      t.bytes += d.bytes;
      t.transformations += d.transformations;
      t.cacheHits += d.cacheHits;
      t.rateLimited += d.rateLimited;
      t.quotaExceeded += d.quotaExceeded;
      t.signed += d.signed;
      return t;
    },
    emptyCounters(),
  );
  return {
    key: query.key ?? null,
    from: query.from,
    to: query.to,
    records: days.map((d) => ({ key: d.key, date: d.date, ...shape(d) })),
    totals: shape(total),
  };
}
