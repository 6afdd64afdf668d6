/**
 * The images a request's parameters pull in besides its original (watermark, blend and mask
 * images): each passes the same access decision as the original, before any source is asked,
 * and its identity joins the result's cache key.
 */
import type { RouteMatch } from '../../routes/match.ts';
import type { Storage } from '../../storage/types.ts';
import { isPromise, whenReady } from '../chain.ts';
import { headOf } from './source.ts';
import { overlayPaths } from '../../request/overlays.ts';
import type { TransformOptions } from '../../request/params.ts';
import { markAccess, type AccessRules, type MarkRequester } from '../access.ts';

/** Per path a parameter names: the parameter, and the route match the access decision gave it (undefined: no route publishes it). */
export type Marks = Map<string, { name: string; match: RouteMatch | undefined }>;

/** The marks of a request that names none: one for every such request, so it refuses to change. */
class NoMarks extends Map<string, { name: string; match: RouteMatch | undefined }> {
  override set(): this {
    throw new TypeError('the empty marks are shared: build a Map of your own');
  }
}
const NO_MARKS: Marks = new NoMarks();

/**
 * The paths each options object names, found once for frozen options: those of a derivation,
 * shared by every request for its URL (derive.ts).
 */
const overlaysOf = new WeakMap<Readonly<TransformOptions>, ReturnType<typeof overlayPaths>>();

/** Throws 403 as markAccess does. */
export function markRoutes(rules: AccessRules, opts: Readonly<TransformOptions>, verifiedSource: string | undefined, requester: MarkRequester): Marks {
  let overlays = overlaysOf.get(opts);
  if (overlays === undefined) {
    overlays = overlayPaths(opts);
    if (Object.isFrozen(opts)) overlaysOf.set(opts, overlays);
  }
  if (overlays.length === 0) return NO_MARKS;
  return new Map(overlays.map(([name, path]) => [path, { name, match: markAccess(rules, path, verifiedSource, requester) }]));
}

/**
 * The identity of every mark (its ETag, or `missing`), as it joins the cache key: a replaced
 * watermark is a new derivative. At once when the metadata cache knows every mark.
 */
export function marksIdentity(storages: Record<string, Storage>, marks: Marks): string | Promise<string> {
  if (marks.size === 0) return '';
  const ids = [...marks].map(([path, { name, match }]) =>
    match ? whenReady(headOf(storages[match.source], match.key), (meta) => `\n${name}=${meta?.etag ?? 'missing'}`) : `\n${name}=missing:${path}`,
  );
  return ids.some(isPromise) ? Promise.all(ids).then((all) => all.join('')) : (ids as string[]).join('');
}
