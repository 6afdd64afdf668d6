/**
 * Result cache (memory LRU + optional fs/S3 tier), request coalescing and bounded work.
 * The caller builds the cache key from the source identity (key + ETag), the canonical options
 * and the negotiated format; the response ETag derives from that key (see `etagFor`).
 */
import { createHash } from 'node:crypto';

export type { CachedResult, CacheObserver } from './types.ts';
export { createResultCache, type ResultCache } from './result-cache.ts';
export { SingleFlight } from './single-flight.ts';
export { ByteBudget, WorkLimiter, deadlineSignal, type LimiterObserver } from './limiter.ts';
export { withMetaCache } from './meta.ts';

/**
 * The cache key for one derivative. Parts are joined with a separator that cannot appear in
 * them unescaped, so different inputs never collide.
 */
export function cacheKey(parts: { source: string; key: string; etag: string; options: string; format: string }): string {
  return [parts.source, parts.key, parts.etag, parts.options, parts.format].map((p) => encodeURIComponent(p)).join('|');
}

/** A strong ETag derived from the cache key: equal key ⇔ equal ETag, so If-None-Match can be answered first. */
export function etagFor(key: string): string {
  return `"${createHash('sha256').update(key).digest('base64url').slice(0, 27)}"`;
}

/** True when an If-None-Match header value matches `etag` (weak comparison, `*`, lists). */
export function matchesIfNoneMatch(header: string | undefined | null, etag: string): boolean {
  if (!header) return false;
  const bare = etag.replace(/^W\//, '');
  for (const raw of header.split(',')) {
    const t = raw.trim();
    if (t === '*') return true;
    if (t.replace(/^W\//, '') === bare) return true;
  }
  return false;
}
