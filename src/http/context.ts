import type { Context } from 'hono';
import type { KeyRecord } from '../auth/types.ts';
import type { RequestTarget } from './target.ts';

/** How a request was let in: its X-API-Key, a signature (a key's secret or the source's token), or nothing (a public source). */
export type Credential = 'key' | 'signed' | 'anonymous';

/** Request-scoped values shared by the middlewares (Hono `c.get` / `c.set`). */
export interface AppVariables {
  requestId: string;
  /** Set by the auth middleware for keyed requests (and URLs signed with a key's secret). */
  apiKey?: KeyRecord;
  /** Where the request points (set once, before the access decision). */
  target?: RequestTarget;
  /** The source the path routes to, matched once before the access decision (absent: no route). */
  source?: string;
  /** Set by the auth middleware. */
  credential?: Credential;
  /** The query whose signature the auth middleware verified: the one the handler renders. */
  verifiedQuery?: string;
  /** Anonymous requests: the client address the anonymous plan counts against. */
  clientAddress?: string;
  /** Set by the image handler when a transformation ran for this response. */
  transformed?: boolean;
  /** Set by the image handler: which cache tier answered, if any. */
  cacheHit?: 'memory' | 'persistent';
  /** Set by the image handler: body bytes of its response (saves reading the header back). */
  responseBytes?: number;
  /** Route label for metrics: 'image', 'health', 'admin', … */
  routeLabel?: string;
  /** Headers every response to this request carries (request id, rate-limit fields); see addResponseHeaders. */
  responseHeaders?: Record<string, string>;
  /** Set once responseHeaders are on the response. */
  responseHeadersApplied?: boolean;
}

export type AppEnv = { Variables: AppVariables };

/**
 * Headers for whatever response this request gets (the request id, a plan's rate-limit fields).
 * The image handler writes them into its own plain header object (takeResponseHeaders), which
 * keeps a cache hit from building an undici `Headers`; every other response gets them from
 * applyResponseHeaders, called by the middlewares after the handler. Either way, once.
 */
export function addResponseHeaders(c: Context<AppEnv>, headers: Record<string, string>): void {
  const pending = c.get('responseHeaders');
  if (pending) Object.assign(pending, headers);
  else c.set('responseHeaders', headers); // the first set becomes the pending object: pass a fresh one
}

/** The pending headers, for a handler about to build its response; afterwards they count as applied. */
export function takeResponseHeaders(c: Context<AppEnv>): Record<string, string> | undefined {
  if (c.get('responseHeadersApplied')) return undefined;
  c.set('responseHeadersApplied', true);
  return c.get('responseHeaders');
}

/** Puts the pending headers on `c.res` unless the handler already wrote them. */
export function applyResponseHeaders(c: Context<AppEnv>): void {
  const headers = takeResponseHeaders(c);
  if (!headers) return;
  const names = Object.keys(headers);
  if (names.length === 0) return;
  try {
    for (const n of names) setHeader(c.res.headers, n, headers[n]!);
  } catch {
    // A response with immutable headers (e.g. passed through from fetch): copy it once.
    const res = new Response(c.res.body, c.res);
    for (const n of names) setHeader(res.headers, n, headers[n]!);
    c.res = res;
  }
}

/** Sets a header; `Vary` is added to (Accept from negotiation, Origin from CORS), never replaced. */
function setHeader(h: Headers, name: string, value: string): void {
  const before = name === 'Vary' ? h.get('vary') : null;
  h.set(name, before ? `${before}, ${value}` : value);
}

/** Pending headers into a handler's plain header object, `Vary` added to rather than replaced. */
export function mergeHeaders(into: Record<string, string>, pending: Record<string, string>): void {
  const vary = into.Vary;
  Object.assign(into, pending);
  if (vary !== undefined && pending.Vary !== undefined) into.Vary = `${vary}, ${pending.Vary}`;
}
