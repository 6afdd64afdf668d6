/**
 * The one access decision: route match + the source's signing rule. Every object a request
 * reads — the original and anything a parameter pulls in (`mark=`, `mark64=`) — is named by a
 * RouteMatch that came out of this module, so no fetch can skip the signing rule of its source.
 */
import { invalidParameter, ServiceError } from '../errors.ts';
import { matchRoute, type CompiledRoute, type RouteMatch } from '../routes/match.ts';
import { normaliseImagePath } from '../routes/path.ts';
import { verifyAny } from '../request/signature.ts';

export interface SigningRule {
  token: string;
  required: boolean;
  path: 'request' | 'afterBasePath';
}

export interface AccessRules {
  routes: CompiledRoute[];
  /** Signing rule per source name, for sources with `signing:`. */
  signing: Record<string, SigningRule>;
  basePath: string;
  maxPathLength: number;
  /** `sources.<name>.access` per source name (absent: `key`). */
  access?: Record<string, 'key' | 'signed' | 'public'>;
}

/** Who is asking for a mark: the source the request routes to, and whether it carries a key (X-API-Key or a key's signature). */
export interface MarkRequester {
  source: string;
  keyed: boolean;
}

/**
 * A source's signing rule applied to a request: nothing to check when the source has no rule, or
 * when it does not require a signature and none was sent; otherwise one of `queries` (the
 * spellings the adapter could have received) must carry a valid signature. Returns the query
 * that was verified: it is the one the renderer parses, so what is verified is what is rendered.
 * Throws 403 `invalid_signature` or 404 `expired`.
 */
export function checkSigning(rule: SigningRule | undefined, signedPath: string, queries: string[]): string | undefined {
  if (!rule) return undefined;
  const signed = queries.some((q) => /(^|&)s=/.test(q));
  if (!rule.required && !signed) return undefined;
  return verifyAny(signedPath, queries, [rule.token]);
}

/**
 * May this request read the watermark `value` (the decoded `mark` / `mark64` parameter)? Returns
 * its route match, or undefined when it names no object any route publishes (the caller answers
 * 400, as for any missing mark). A mark on a source with `signing:` is read:
 * - when the request was verified for that same source (its signature covers the `mark` value), or
 * - when the mark path carries its own valid signature for that source (`/path?s=…`, imgix's
 *   scheme over the path as written in the parameter), or
 * - when the source does not require signatures.
 * Otherwise 403 `invalid_signature`, decided before any storage is asked, so the answer is the
 * same whether the object exists or not. A request without a key (`from.keyed` false: a public
 * source, a source-token signature) reads marks only from its own source or a `public` one,
 * else 403 `forbidden`: a parameter never opens a source its credential does not.
 */
export function markAccess(rules: AccessRules, value: string, verifiedSource: string | undefined, from?: MarkRequester): RouteMatch | undefined {
  const q = value.indexOf('?');
  const written = `/${(q < 0 ? value : value.slice(0, q)).replace(/^\/+/, '')}`;
  const query = q < 0 ? undefined : value.slice(q + 1);
  if (query !== undefined) {
    // Only a signature (and its expiry) may ride on a mark path: other parameters would not be applied.
    for (const k of new URLSearchParams(query).keys()) {
      if (k !== 's' && k !== 'expires') throw invalidParameter('mark', value, 'an image path, optionally signed (path?s=…)');
    }
  }
  let rel = written.slice(1);
  const base = rules.basePath.replace(/^\//, '');
  if (base && rel.startsWith(`${base}/`)) rel = rel.slice(base.length + 1);
  let path: string;
  try {
    path = normaliseImagePath(rel, rules.maxPathLength);
  } catch {
    return undefined;
  }
  const match = matchRoute(rules.routes, path);
  if (!match) return undefined;
  if (from && !from.keyed && match.source !== from.source && rules.access?.[match.source] !== 'public') {
    throw new ServiceError(403, 'forbidden', 'Forbidden');
  }
  const rule = rules.signing[match.source];
  if (!rule) return match;
  if (query !== undefined && /(^|&)s=/.test(query)) {
    checkSigning(rule, rule.path === 'afterBasePath' ? `/${rel}` : written, [query]);
  } else if (rule.required && verifiedSource !== match.source) {
    throw new ServiceError(403, 'invalid_signature', "Forbidden: mark: the watermark's source requires a signed URL");
  }
  return match;
}
