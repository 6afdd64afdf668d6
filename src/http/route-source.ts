import type { MiddlewareHandler } from 'hono';
import type { CompiledRoute } from '../routes/match.ts';
import type { AppEnv } from './context.ts';
import { requestTarget } from './target.ts';
import { lenientSource, relativePath } from './image/route.ts';

/**
 * Matches the request's path to a route once, before anything decides about it: the target
 * (`target`) and the source it routes to (`source`) go on the context for CORS, the access
 * decision and the image route (see image/route.ts).
 */
export function matchSource({ routes, basePath }: { routes: CompiledRoute[]; basePath: string }): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const target = requestTarget(c, basePath);
    c.set('target', target);
    if (target.inBasePath) {
      const source = lenientSource(routes, relativePath(target));
      if (source !== undefined) c.set('source', source);
    }
    await next();
  };
}
