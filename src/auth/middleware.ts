import type { MiddlewareHandler } from 'hono';
import { ServiceError } from '../errors.ts';
import { sha256hex } from './digest.ts';
import type { AppEnv } from '../http/context.ts';
import type { KeyLookup } from './types.ts';

/** The one answer for a missing or unknown key: the same 403 whatever was wrong. */
export const forbidden = (): ServiceError => new ServiceError(403, 'forbidden', 'Forbidden');

/**
 * `X-API-Key` → the key's record on the context (`apiKey`), or 403 `forbidden` (body exactly
 * `{"message":"Forbidden"}`). Presented keys are compared only through their SHA-256, so the
 * time taken reveals nothing about how much of a value was right. The digest of a key that was
 * found is remembered (a few keys call all day), so a request pays a Map look-up instead of a
 * SHA-256; the look-up by digest still runs every time, so a revoked key stops at once. Unknown
 * keys are never remembered.
 */
export function apiKeyAuth({ keys, remember = 1000 }: { keys: KeyLookup; remember?: number }): MiddlewareHandler<AppEnv> {
  const digests = new Map<string, string>();
  return async (c, next) => {
    const presented = c.req.header('x-api-key');
    if (!presented) throw forbidden();
    const digest = digests.get(presented) ?? sha256hex(presented);
    const rec = await keys.findByHash(digest);
    if (!rec) throw forbidden();
    if (!digests.has(presented)) {
      if (digests.size >= remember) digests.clear();
      digests.set(presented, digest);
    }
    c.set('apiKey', rec);
    await next();
  };
}
