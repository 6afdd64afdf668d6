/** The conditional stage: does the client's copy still stand (If-None-Match, else If-Modified-Since)? */
import { matchesIfNoneMatch } from '../../cache/index.ts';
import type { ObjectMeta } from '../../storage/types.ts';
import type { RequestHeaders } from './derive.ts';

export function notModified(req: RequestHeaders, etag: string, meta: ObjectMeta): boolean {
  const inm = req.header('if-none-match');
  if (inm !== undefined) return matchesIfNoneMatch(inm, etag);
  const ims = req.header('if-modified-since');
  if (ims && meta.lastModified) {
    const since = Date.parse(ims);
    return Number.isFinite(since) && Math.floor(meta.lastModified.getTime() / 1000) <= Math.floor(since / 1000);
  }
  return false;
}
