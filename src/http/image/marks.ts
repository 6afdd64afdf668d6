/**
 * The images a request's parameters pull in besides its original (watermark, blend and mask
 * images): each passes the same access decision as the original, before any source is asked,
 * and its identity joins the result's cache key.
 */
import type { RouteMatch } from '../../routes/match.ts';
import type { Storage } from '../../storage/types.ts';
import { overlayPaths } from '../../request/overlays.ts';
import type { TransformOptions } from '../../request/params.ts';
import { markAccess, type AccessRules, type MarkRequester } from '../access.ts';

/** Per path a parameter names: the parameter, and the route match the access decision gave it (undefined: no route publishes it). */
export type Marks = Map<string, { name: string; match: RouteMatch | undefined }>;

/** Throws 403 as markAccess does. */
export function markRoutes(rules: AccessRules, opts: Readonly<TransformOptions>, verifiedSource: string | undefined, requester: MarkRequester): Marks {
  return new Map(overlayPaths(opts).map(([name, path]) => [path, { name, match: markAccess(rules, path, verifiedSource, requester) }]));
}

/** The identity of every mark (its ETag, or `missing`), as it joins the cache key: a replaced watermark is a new derivative. */
export async function marksIdentity(storages: Record<string, Storage>, marks: Marks): Promise<string> {
  if (marks.size === 0) return '';
  const ids = await Promise.all(
    [...marks].map(async ([path, { name, match }]) => {
      if (!match) return `\n${name}=missing:${path}`;
      const meta = await storages[match.source].head(match.key);
      return `\n${name}=${meta?.etag ?? 'missing'}`;
    }),
  );
  return ids.join('');
}
