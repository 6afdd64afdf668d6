/**
 * The cache stage: the result cache, else one shared production per key (single-flight), whose
 * value is written to the cache after the render slot is released (a slow persistent tier never
 * holds a core).
 */
import type { Context } from 'hono';
import type { CachedResult } from '../../cache/index.ts';
import type { AppEnv } from '../context.ts';
import type { ImageDeps } from './deps.ts';

export function cachedResult(deps: Pick<ImageDeps, 'cache' | 'flight'>, c: Context<AppEnv>, key: string, produce: () => Promise<CachedResult>): CachedResult | Promise<CachedResult> {
  // In memory: at once, no promise.
  const held = deps.cache.peek?.(key);
  if (held) {
    c.set('cacheHit', held.tier);
    return held.value;
  }
  return lookedUp(deps, c, key, produce);
}

async function lookedUp(deps: Pick<ImageDeps, 'cache' | 'flight'>, c: Context<AppEnv>, key: string, produce: () => Promise<CachedResult>): Promise<CachedResult> {
  const hit = await deps.cache.get(key);
  if (hit) {
    c.set('cacheHit', hit.tier);
    return hit.value;
  }
  const result = await deps.flight.do(key, async () => {
    const value = await produce();
    await deps.cache.set(key, value);
    return value;
  });
  c.set('transformed', true);
  return result;
}
