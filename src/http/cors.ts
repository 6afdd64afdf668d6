import type { Handler, MiddlewareHandler } from 'hono';
import { addResponseHeaders, type AppEnv } from './context.ts';
import { asMiddleware } from './chain.ts';

/** What a page may read from a cross-origin response: the rate-limit fields, the validator, the request id. */
const EXPOSE = 'ETag, RateLimit, RateLimit-Policy, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, Retry-After, X-Request-Id, Content-Length';
/** Request headers a page may send (X-API-Key for pages that hold a key; conditionals for revalidation). */
const ALLOW_HEADERS = ['x-api-key', 'if-none-match', 'if-modified-since', 'x-request-id'];

/** The allowed origins of each source with `cors:` (`*` for any). */
export type CorsRules = Record<string, { origins: string[] }>;

/** The `Access-Control-Allow-Origin` value for `origin` on `source`, or undefined when it is not allowed. */
function allowedOrigin(rules: CorsRules, source: string | undefined, origin: string | undefined): { allow?: string; vary: boolean } | undefined {
  if (source === undefined || !Object.hasOwn(rules, source)) return undefined;
  const { origins } = rules[source]!;
  if (origins.includes('*')) return { allow: '*', vary: false };
  // The answer depends on Origin, so a shared cache must key on it, allowed or not.
  return { allow: origin !== undefined && origins.includes(origin) ? origin : undefined, vary: true };
}

/**
 * CORS headers for image responses (errors and 429s included, so a page can read why), from the
 * `cors:` of the source the path routes to (`source` on the context): the allowed origin, `Vary:
 * Origin` unless every origin is allowed, the exposed headers, `Timing-Allow-Origin`, and
 * `Cross-Origin-Resource-Policy: cross-origin` (the source is meant to be embedded elsewhere).
 * Sources without `cors:` get none of these.
 */
export function corsHeaders(rules: CorsRules): MiddlewareHandler<AppEnv> {
  // A chain layer (chain.ts): nothing to do after `next`.
  return asMiddleware((c, next) => {
    const decided = allowedOrigin(rules, c.get('source'), c.req.header('origin'));
    if (decided) {
      const h: Record<string, string> = { 'Cross-Origin-Resource-Policy': 'cross-origin' };
      if (decided.vary) h.Vary = 'Origin';
      if (decided.allow !== undefined) {
        h['Access-Control-Allow-Origin'] = decided.allow;
        h['Access-Control-Expose-Headers'] = EXPOSE;
        h['Timing-Allow-Origin'] = decided.allow;
      }
      addResponseHeaders(c, h);
    }
    return next();
  });
}

/**
 * A CORS preflight (`OPTIONS` with `Access-Control-Request-Method`) on an image path: answered
 * here, from config alone — no source, key or usage record is touched. 204 with the grant when
 * the origin, method and headers are allowed; 204 without it otherwise (the browser then refuses).
 * Any other OPTIONS goes on (405).
 */
export function corsPreflight(rules: CorsRules): Handler<AppEnv> {
  return (c, next) => {
    const method = c.req.header('access-control-request-method');
    if (method === undefined) return next();
    c.set('routeLabel', 'preflight');
    const decided = allowedOrigin(rules, c.get('source'), c.req.header('origin'));
    const headers: Record<string, string> = {};
    if (decided?.vary) headers.Vary = 'Origin';
    const asked = (c.req.header('access-control-request-headers') ?? '')
      .split(',')
      .map((h) => h.trim().toLowerCase())
      .filter(Boolean);
    if (decided?.allow !== undefined && (method === 'GET' || method === 'HEAD') && asked.every((h) => ALLOW_HEADERS.includes(h))) {
      headers['Access-Control-Allow-Origin'] = decided.allow;
      headers['Access-Control-Allow-Methods'] = 'GET, HEAD';
      if (asked.length) headers['Access-Control-Allow-Headers'] = asked.join(', ');
      headers['Access-Control-Max-Age'] = '86400';
    }
    return c.body(null, 204, headers);
  };
}
