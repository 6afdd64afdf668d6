/**
 * The signature stage: which query the request is rendered from. The query that is rendered is
 * the one that was verified (an adapter may offer several spellings of one query; see
 * RequestTarget): the one the access decision verified (a key's secret, or a `signed` source's
 * token), else the one the routed source's signing rule verifies here, else the first spelling.
 */
import type { Context } from 'hono';
import { ServiceError } from '../../errors.ts';
import type { AppEnv } from '../context.ts';
import { checkSigning, type SigningRule } from '../access.ts';
import { checkExpires } from '../../request/signature.ts';
import type { ImageRoute } from './route.ts';

export interface SignedQuery {
  query: string;
  /** The source whose signing rule (or a key's secret) verified `query`. */
  verifiedSource?: string;
  /** `expires` of the query (unix seconds), as checkExpires read it. */
  expires?: number;
}

/**
 * The stage for a deployment's signing rules (per source name). Throws 403 `invalid_signature` /
 * 404 `expired` as checkSigning does, and 400 `missing_path` for an empty path when any source
 * signs. imgix enforces `expires` on every URL, signed or not (checkExpires: 404 `expired`).
 */
export function signatureStage(signing: Record<string, SigningRule>): (c: Context<AppEnv>, route: ImageRoute) => SignedQuery {
  const anySigned = Object.keys(signing).length > 0;
  return (c, { target, relative, source }) => {
    const verifiedQuery = c.get('verifiedQuery');
    if (verifiedQuery !== undefined) return signed(verifiedQuery, c.get('source'));
    const query = target.rawQueries[0] ?? '';
    if (!anySigned) return signed(query, undefined);
    if (relative === '') throw new ServiceError(400, 'missing_path', 'Missing image path');
    const rule = source !== undefined ? signing[source] : undefined;
    const verified = rule && checkSigning(rule, rule.path === 'afterBasePath' ? `/${relative}` : target.clientPath, target.rawQueries);
    return verified === undefined ? signed(query, undefined) : signed(verified, source);
  };
}

function signed(query: string, verifiedSource: string | undefined): SignedQuery {
  return { query, verifiedSource, expires: checkExpires(query) };
}
