/**
 * The image route, as its stages: route → signature → derive → marks → source metadata →
 * identity → conditional → (original | cache → work) → respond. The access decision and the
 * plan's usage run before it, as middleware (see createApp). Everything that can answer
 * without reading the source body does so first.
 */
import type { Context } from 'hono';
import { deadlineSignal } from '../../cache/index.ts';
import type { AppEnv } from '../context.ts';
import type { AccessRules } from '../access.ts';
import type { ImageDeps } from './deps.ts';
import { imageRoute, notFound } from './route.ts';
import { signatureStage } from './signature.ts';
import { deriver, resultKey } from './derive.ts';
import { markRoutes, marksIdentity } from './marks.ts';
import { sourceMeta } from './source.ts';
import { notModified } from './conditional.ts';
import { originalHeaders, readOriginal } from './original.ts';
import { cachedResult } from './cache.ts';
import { render } from './work.ts';
import { imageHeaders, respond, resultHeaders } from './respond.ts';

export type { ImageDeps } from './deps.ts';

/** The image route's handler: the stages above, in order, for one request. */
export function imageHandler(deps: ImageDeps) {
  const { config, routes } = deps;
  const { basePath, maxPathLength } = config.server;
  const anySigned = Object.keys(deps.signing).length > 0;
  const rules: AccessRules = {
    routes,
    signing: deps.signing,
    basePath,
    maxPathLength,
    access: Object.fromEntries(Object.entries(config.sources).map(([name, s]) => [name, s.access])),
  };
  const signature = signatureStage(deps.signing);
  const derive = deriver({ routes, maxPathLength, transform: config.transform });

  return async (c: Context<AppEnv>) => {
    c.set('routeLabel', 'image');
    const route = imageRoute(c, routes, basePath, anySigned);
    const { query, verifiedSource, expires } = signature(c, route);
    const derived = derive(route.target.imagePath, query, c.req);
    if (!derived) throw notFound(route.relative);
    const { match, opts } = derived.request;
    // Before any source is asked: a mark is readable only under the same access decision.
    const marks = markRoutes(rules, opts, verifiedSource === match.source ? verifiedSource : undefined, { source: match.source, keyed: c.get('apiKey') !== undefined });
    // The deadline is fixed now; signals are built only where work starts, so hits and 304s pay nothing for them.
    const deadline = Date.now() + deps.deadlineMs;
    const meta = await sourceMeta(deps.storages, match, route.relative, config.limits.maxOriginalBytes);
    const cacheId = derived.identity ? undefined : resultKey(derived, meta.etag, await marksIdentity(deps.storages, marks));
    const headers = imageHeaders(config, derived, meta, cacheId?.etag ?? meta.etag, c.get('credential'), expires, route.relative);
    if (notModified(c.req, headers.ETag, meta)) return respond(c, 304, headers, null);

    if (!cacheId) {
      // The client's signal too: an original nobody waits for any more is not read to the end.
      const signal = deadlineSignal(Math.max(1, deadline - Date.now()), c.req.raw.signal);
      const original = await readOriginal(deps, match, route.relative, signal, c.req.method === 'HEAD');
      originalHeaders(headers, original);
      c.set('responseBytes', original.size);
      return respond(c, 200, headers, original.body);
    }
    const result = await cachedResult(deps, c, cacheId.key, () =>
      render(deps, { match, meta, opts, negotiated: derived.negotiated, marks, deadline, relative: route.relative }),
    );
    resultHeaders(headers, result);
    c.set('responseBytes', result.body.length);
    return respond(c, 200, headers, result.body);
  };
}
