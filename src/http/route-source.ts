import type { MiddlewareHandler } from 'hono';
import { routeSource, type CompiledRoute } from '../routes/match.ts';
import type { AppEnv } from './context.ts';
import { requestTarget } from './target.ts';

/**
 * Matches the request's path to a route once, before anything decides about it: the target
 * (`target`) and the source it routes to (`source`) go on the context for CORS, the access
 * decision and the handler. The path is decoded leniently, so a source's rules apply before
 * anything else judges the path (a tampered signed URL is a 403 even if it is also a 400).
 */
export function matchSource({ routes, basePath }: { routes: CompiledRoute[]; basePath: string }): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const target = requestTarget(c, basePath);
    c.set('target', target);
    if (target.inBasePath) {
      const relative = target.imagePath.replace(/^\/+/, '');
      let decoded = relative;
      try {
        decoded = decodeURIComponent(relative);
      } catch {
        // lenient: match on the text as sent
      }
      const source = decoded === '' ? undefined : routeSource(routes, decoded);
      if (source !== undefined) c.set('source', source);
    }
    await next();
  };
}
