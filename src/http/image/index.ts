/**
 * The image route, as its stages: route → signature → derive → marks → source metadata →
 * identity → conditional → (original | cache → work) → respond. The access decision and the
 * plan's usage run before it, as middleware (see createApp). Everything that can answer
 * without reading the source body does so first.
 */
import type { Context } from 'hono';
import { deadlineSignal } from '../../cache/index.ts';
import type { AppEnv } from '../context.ts';
import { whenReady } from '../chain.ts';
import type { RouteMatch } from '../../routes/match.ts';
import type { ObjectMeta } from '../../storage/types.ts';
import type { AccessRules } from '../access.ts';
import type { ImageDeps } from './deps.ts';
import { imageRoute, notFound, type ImageRoute } from './route.ts';
import { signatureStage } from './signature.ts';
import { deriver, resultKey, type Derived } from './derive.ts';
import { markRoutes, marksIdentity, type Marks } from './marks.ts';
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

  /** The stages after the source's metadata (`meta`): identity, conditional, then the original or the result. */
  const answer = (c: Context<AppEnv>, r: Routed, meta: ObjectMeta, mark: string | undefined): Response | Promise<Response> => {
    const { route, derived, marks, deadline, expires } = r;
    const { match, opts } = derived.request;
    const cacheId = mark === undefined ? undefined : resultKey(derived, meta.etag, mark);
    const headers = imageHeaders(config, derived, meta, cacheId?.etag ?? meta.etag, c.get('credential'), expires, route.relative);
    if (notModified(c.req, headers.ETag, meta)) return respond(c, 304, headers, null);

    if (!cacheId) return original(c, match, route.relative, deadline, headers);
    const result = cachedResult(deps, c, cacheId.key, () =>
      render(deps, { match, meta, opts, negotiated: derived.negotiated, marks, deadline, relative: route.relative }),
    );
    return whenReady(result, (result) => {
      resultHeaders(headers, result);
      c.set('responseBytes', result.body.length);
      return respond(c, 200, headers, result.body);
    });
  };

  const original = async (c: Context<AppEnv>, match: RouteMatch, relative: string, deadline: number, headers: Record<string, string>): Promise<Response> => {
    // The client's signal too: an original nobody waits for any more is not read to the end.
    const signal = deadlineSignal(Math.max(1, deadline - Date.now()), c.req.raw.signal);
    const body = await readOriginal(deps, match, relative, signal, c.req.method === 'HEAD');
    originalHeaders(headers, body);
    c.set('responseBytes', body.size);
    return respond(c, 200, headers, body.body);
  };

  // Each stage that can wait (the source's metadata, the marks' identities, the result) answers
  // at once when what it needs is in memory: a cache hit goes through without a promise, so the
  // response is returned synchronously (see chain.ts).
  return (c: Context<AppEnv>): Response | Promise<Response> => {
    c.set('routeLabel', 'image');
    const route = imageRoute(c, routes, basePath, anySigned);
    const { query, verifiedSource, expires } = signature(c, route);
    const derived = derive(route.target.imagePath, query, c.req);
    if (!derived) throw notFound(route.relative);
    const { match, opts } = derived.request;
    // Before any source is asked: a mark is readable only under the same access decision.
    const marks = markRoutes(rules, opts, verifiedSource === match.source ? verifiedSource : undefined, { source: match.source, keyed: c.get('apiKey') !== undefined });
    // The deadline is fixed now; signals are built only where work starts, so hits and 304s pay nothing for them.
    const r: Routed = { route, derived, marks, deadline: Date.now() + deps.deadlineMs, expires };
    const meta = sourceMeta(deps.storages, match, route.relative, config.limits.maxOriginalBytes);
    return whenReady(meta, (meta) => (derived.identity ? answer(c, r, meta, undefined) : whenReady(marksIdentity(deps.storages, marks), (mark) => answer(c, r, meta, mark))));
  };
}

/** What the stages before the source's metadata found. */
interface Routed {
  route: ImageRoute;
  derived: Derived;
  marks: Marks;
  deadline: number;
  expires: number | undefined;
}
