import type { QuotaConfig } from '../config/usage.ts';

const DAY_MS = 86_400_000;

/** One quota period: [start, end) in epoch milliseconds, and a stable id for counter keys. */
export interface Period {
  id: string;
  start: number;
  end: number;
}

let dayCache = { start: 0, end: -1, day: '' };

/** `YYYY-MM-DD` of a UTC instant: the day a usage record belongs to (cached for the current day). */
export function utcDay(ms: number): string {
  if (ms >= dayCache.start && ms < dayCache.end) return dayCache.day;
  const day = new Date(ms).toISOString().slice(0, 10);
  const start = Date.UTC(Number(day.slice(0, 4)), Number(day.slice(5, 7)) - 1, Number(day.slice(8, 10)));
  dayCache = { start, end: start + DAY_MS, day };
  return day;
}

/** Epoch milliseconds of 00:00 UTC on a `YYYY-MM-DD` day, or undefined when it is not a real date. */
export function parseUtcDay(day: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day);
  if (!m) return undefined;
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  return utcDay(ms) === day ? ms : undefined;
}

/** Every `YYYY-MM-DD` from `from` to `to`, both included. */
export function daysBetween(from: string, to: string): string[] {
  const a = parseUtcDay(from);
  const b = parseUtcDay(to);
  if (a === undefined || b === undefined) return [];
  const out: string[] = [];
  for (let t = a; t <= b; t += DAY_MS) out.push(utcDay(t));
  return out;
}

/**
 * The quota period containing `now`, as API Gateway defines them: a UTC day; a week from
 * 00:00 UTC on Sunday (or Monday); a calendar month in UTC.
 */
export function quotaPeriod(quota: Pick<QuotaConfig, 'period' | 'weekStart'>, now: number): Period {
  const cached = periodCache.get(quota);
  if (cached && now >= cached.start && now < cached.end) return cached;
  const p = computePeriod(quota, now);
  periodCache.set(quota, p);
  return p;
}

/** The last period computed per quota setting: most requests fall in the same one. */
const periodCache = new WeakMap<object, Period>();

function computePeriod(quota: Pick<QuotaConfig, 'period' | 'weekStart'>, now: number): Period {
  const d = new Date(now);
  const y = d.getUTCFullYear();
  const mo = d.getUTCMonth();
  const dayStart = Date.UTC(y, mo, d.getUTCDate());
  switch (quota.period) {
    case 'day':
      return { id: `d${utcDay(dayStart)}`, start: dayStart, end: dayStart + DAY_MS };
    case 'week': {
      const first = quota.weekStart === 'monday' ? 1 : 0;
      const back = (d.getUTCDay() - first + 7) % 7;
      const start = dayStart - back * DAY_MS;
      return { id: `w${utcDay(start)}`, start, end: start + 7 * DAY_MS };
    }
    case 'month': {
      const start = Date.UTC(y, mo, 1);
      return { id: `m${utcDay(start).slice(0, 7)}`, start, end: Date.UTC(y, mo + 1, 1) };
    }
  }
}
