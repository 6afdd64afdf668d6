import type { Context, Handler, MiddlewareHandler } from 'hono';
import { isServiceError, ServiceError } from '../errors.ts';
import { addResponseHeaders, applyResponseHeaders, type AppEnv } from '../http/context.ts';
import { afterAnswer, afterNext, asMiddleware, isPromise, type Next } from '../http/chain.ts';
import type { PlansConfig, UsageConfig } from '../config/usage.ts';
import type { Decision, UsageService } from './index.ts';
import { parseUsageQuery, usageReport } from './report.ts';
import { ANONYMOUS_KEY, type UsageCounters } from './types.ts';

type HeaderMode = UsageConfig['headers'];

/** Seconds as rate-limit headers state them: whole, at least 0. */
const secs = (ms: number) => Math.max(0, Math.ceil(ms / 1000));

/**
 * The IETF draft rate-limit fields for a decision. `draft`: `RateLimit-Policy` lists the
 * plan's policies (`"burst"` for the token bucket, `"day"`/`"week"`/`"month"` for the quota) and
 * `RateLimit` their remaining units and seconds until reset; `legacy`: `RateLimit-Limit`,
 * `-Remaining`, `-Reset` for the tightest policy.
 */
export function rateLimitHeaders(d: Decision, now: number, mode: HeaderMode): Record<string, string> {
  if (mode === 'none' || (!d.rate && !d.quota)) return {};
  const r = d.rate;
  const q = d.quota;
  const qt = q ? secs(q.resetAt - now) : 0;
  const h: Record<string, string> = {};
  if (mode === 'draft' || mode === 'both') {
    h['RateLimit-Policy'] = policyField(d);
    const rs = r ? `"burst";r=${r.remaining};t=${r.fullInSeconds}` : '';
    const qs = q ? `"${q.period}";r=${q.remaining};t=${qt}` : '';
    h['RateLimit'] = r && q ? `${rs}, ${qs}` : rs || qs;
  }
  if (mode === 'legacy' || mode === 'both') {
    // The tightest policy: fewer units left, or as many but a longer wait.
    const useQuota = !!q && (!r || q.remaining < r.remaining || (q.remaining === r.remaining && qt > r.fullInSeconds));
    h['RateLimit-Limit'] = String(useQuota ? q!.limit : r!.limit);
    h['RateLimit-Remaining'] = String(useQuota ? q!.remaining : r!.remaining);
    h['RateLimit-Reset'] = String(useQuota ? qt : r!.fullInSeconds);
  }
  return h;
}

const policyCache = new Map<string, string>();

/** `RateLimit-Policy` is the same for every response of a plan: built once per shape. */
function policyField(d: Decision): string {
  const r = d.rate;
  const q = d.quota;
  const id = `${r ? `${r.limit}/${r.windowSeconds}` : ''}|${q ? `${q.period}/${q.limit}/${q.windowSeconds}` : ''}`;
  let v = policyCache.get(id);
  if (v === undefined) {
    const parts: string[] = [];
    if (r) parts.push(`"burst";q=${r.limit};w=${r.windowSeconds}`);
    if (q) parts.push(`"${q.period}";q=${q.limit};w=${q.windowSeconds}`);
    v = parts.join(', ');
    if (policyCache.size > 1000) policyCache.clear();
    policyCache.set(id, v);
  }
  return v;
}

function statusClass(status: number): 's2xx' | 's3xx' | 's4xx' | 's5xx' {
  if (status >= 500) return 's5xx';
  if (status >= 400) return 's4xx';
  if (status >= 300) return 's3xx';
  return 's2xx';
}

/** 429 for a refused decision: the body says which limit and when to retry; the headers carry the rate-limit fields. */
function refusal(d: Decision, now: number, headers: Record<string, string>): ServiceError {
  const h = { 'Retry-After': String(Math.max(1, secs(d.retryAfterMs))), ...headers };
  if (d.reason === 'quota') {
    const q = d.quota!;
    const resetAt = new Date(q.resetAt).toISOString();
    return new ServiceError(429, 'quota_exceeded', `Limit Exceeded: quota of ${q.limit} requests per ${q.period} (UTC) used up; it resets at ${resetAt}`, {
      headers: h,
      details: { quota: { limit: q.limit, period: q.period, used: q.used, resetAt, resetInSeconds: secs(q.resetAt - now) } },
    });
  }
  const r = d.rate!;
  const retry = secs(d.retryAfterMs);
  return new ServiceError(429, 'rate_limited', `Too Many Requests: rate of ${r.perSecond} requests per second (burst ${r.limit}) exceeded; retry after ${retry} s`, {
    headers: h,
    details: { rate: { perSecond: r.perSecond, burst: r.limit }, retryAfterSeconds: retry },
  });
}

/**
 * Usage plans; mount after the access decision. Keyed requests (X-API-Key, or a URL signed with
 * a key's secret) count against their key; anonymous ones (public sources, source-token
 * signatures) against `anonymousPlan` per client address, recorded under `~anonymous`. Before the handler: the key's
 * token bucket (429 `rate_limited` + Retry-After) and quota (429 `quota_exceeded`, the body says
 * the quota and when it resets); on every keyed response the rate-limit headers (`headers`,
 * default the usage config's); after the handler, one usage record update per request
 * (requests, status class, body bytes, transformation, cache hit, signed). Requests the access
 * decision did not let in pass untouched. A key whose plan is not configured is refused (403 `unknown_plan`). Refusals
 * are thrown as ServiceErrors for the app's one error handler.
 */
export function usageMiddleware({
  usage,
  plans,
  headers,
  anonymousPlan,
}: {
  usage: UsageService;
  plans: PlansConfig;
  headers?: HeaderMode;
  /** The plan of requests without a key, counted per client address (`anonymous.plan`). */
  anonymousPlan?: string;
}): MiddlewareHandler<AppEnv> {
  const mode: HeaderMode = headers ?? usage.config.headers;

  /** After the handler: the rate-limit fields on whatever response it gave, and one record update once it is out. */
  const answered = (c: Context<AppEnv>, recordAs: string): void => {
    applyResponseHeaders(c);
    afterAnswer(() => recordAnswer(c, recordAs));
  };
  // (record never throws: it adds to counters in memory.)
  const recordAnswer = (c: Context<AppEnv>, recordAs: string): void => {
    const status = c.res.status;
    const len = c.req.method === 'HEAD' || status === 204 || status === 304 ? 0 : (c.get('responseBytes') ?? (Number(c.res.headers.get('content-length') ?? 0) || 0));
    const extra: Partial<UsageCounters> = {};
    if (c.get('transformed')) extra.transformations = 1;
    if (c.get('cacheHit')) extra.cacheHits = 1;
    if (c.get('credential') === 'signed') extra.signed = 1;
    record(usage, recordAs, status, extra, len);
  };

  /** The plan's decision (429 when refused; its rate-limit fields for the response), then the request: at once when the store answers at once. */
  const planned = (c: Context<AppEnv>, next: Next, planName: string, recordAs: string, limitAs: string): void | Promise<void> => {
    const plan = Object.hasOwn(plans, planName) ? plans[planName] : undefined;
    if (!plan) {
      record(usage, recordAs, 403, undefined, 0);
      throw new ServiceError(403, 'unknown_plan', `Forbidden: the key's plan '${planName}' is not configured`);
    }
    const failed = (err: unknown): never => {
      if (isServiceError(err)) record(usage, recordAs, err.status, undefined, 0);
      throw err;
    };
    let decision: Decision | Promise<Decision>;
    try {
      decision = usage.check(limitAs, plan);
    } catch (err) {
      return failed(err);
    }
    if (isPromise(decision)) return decision.then((d) => admitted(c, next, d, recordAs), failed);
    return admitted(c, next, decision, recordAs);
  };

  /** A decision taken: 429 when refused, else its rate-limit fields, the request, and its record. */
  const admitted = (c: Context<AppEnv>, next: Next, decision: Decision, recordAs: string): void | Promise<void> => {
    const now = usage.now();
    const fields = rateLimitHeaders(decision, now, mode);
    if (!decision.allowed) {
      const err = refusal(decision, now, fields);
      // A 429's body counts towards the key's bytes (other refusals, like every JSON error, count none).
      record(usage, recordAs, 429, decision.reason === 'rate' ? { rateLimited: 1 } : { quotaExceeded: 1 }, Buffer.byteLength(JSON.stringify(err.body())));
      throw err;
    }
    addResponseHeaders(c, fields);
    return afterNext(next, () => answered(c, recordAs));
  };

  // A chain layer (chain.ts): a key without a plan, or whose plan the store checks at once (memory), waits for nothing before the handler.
  return asMiddleware((c, next) => {
    const key = c.get('apiKey');
    const client = c.get('clientAddress');
    const anonymous = !key && c.get('credential') !== undefined;
    if (!key && !anonymous) return next();
    // Keyed requests count against their key; anonymous ones share one usage record, and the
    // anonymous plan limits each client address on its own.
    const recordAs = key ? key.id : ANONYMOUS_KEY;
    const planName = key ? key.plan : anonymousPlan;
    const limitAs = key ? key.id : `${ANONYMOUS_KEY}:${client ?? 'unknown'}`;

    // A key without a plan is counted but never limited: nothing to check (no store round trip)
    // and no rate-limit fields.
    if (planName !== undefined) return planned(c, next, planName, recordAs, limitAs);
    return afterNext(next, () => answered(c, recordAs));
  });
}

/** One request into the key's usage record of today (a plain function: no closure per request). */
function record(usage: UsageService, keyId: string, status: number, extra: Partial<UsageCounters> | undefined, bytes: number): void {
  const delta: Partial<UsageCounters> = extra ?? {};
  delta.requests = 1;
  delta.bytes = bytes;
  delta[statusClass(status)] = 1;
  usage.record(keyId, delta);
}

/**
 * `GET /_admin/usage?key=dev&from=YYYY-MM-DD&to=YYYY-MM-DD` (UTC days, both included; default
 * this month; no key = every key). Mount behind the admin guard.
 */
export function adminUsageHandler(usage: UsageService): Handler<AppEnv> {
  return async (c) => {
    c.set('routeLabel', 'admin');
    const q = parseUsageQuery({ key: c.req.query('key'), from: c.req.query('from'), to: c.req.query('to') }, usage.now());
    return c.json(await usageReport(usage, q));
  };
}
