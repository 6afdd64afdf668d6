/**
 * The route stage: where the request points (its target, after the base path) and the source
 * its path routes to, found once per request. The path is decoded leniently here, so a source's
 * rules (its access mode, its signing rule) apply before anything else judges the path: a
 * tampered signed URL is a 403 even if it is also a 400. The strict match that builds the
 * object key is part of derivation (derive.ts), on the path as normaliseImagePath checks it.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { ServiceError } from '../../errors.ts';
import { routeSource, type CompiledRoute } from '../../routes/match.ts';
import type { AppEnv } from '../context.ts';
import { requestTarget, type RequestTarget } from '../target.ts';
import { asMiddleware } from '../chain.ts';

export interface ImageRoute {
  target: RequestTarget;
  /** The image path without its leading slashes, still percent-encoded. */
  relative: string;
  /** The source the path routes to on a lenient decoding; undefined when no route fits or none was asked for. */
  source: string | undefined;
}

/**
 * The request's route: the one the matchSource middleware found before the access decision,
 * else matched here when `needSource` (a signed source's rule must be looked up); a request
 * that needs neither pays nothing for it.
 */
export function imageRoute(c: Context<AppEnv>, routes: CompiledRoute[], basePath: string, needSource: boolean): ImageRoute {
  const matched = c.get('target');
  const target = matched ?? requestTarget(c, basePath);
  const relative = relativePath(target);
  if (!target.inBasePath) throw notFound(relative);
  const source = matched ? c.get('source') : needSource ? lenientSource(routes, relative) : undefined;
  return { target, relative, source };
}

/**
 * The same match as middleware, before anything decides about the request: the target
 * (`target`) and the source it routes to (`source`) go on the context for CORS, the access
 * decision and imageRoute. Mounted only where something before the handler needs the source.
 */
export function matchSource({ routes, basePath }: { routes: CompiledRoute[]; basePath: string }): MiddlewareHandler<AppEnv> {
  // A chain layer (chain.ts): nothing to do after `next`.
  return asMiddleware((c, next) => {
    const target = requestTarget(c, basePath);
    c.set('target', target);
    if (target.inBasePath) {
      const source = lenientSource(routes, relativePath(target));
      if (source !== undefined) c.set('source', source);
    }
    return next();
  });
}

/** The image path without its leading slashes, still percent-encoded. */
function relativePath(target: RequestTarget): string {
  return target.imagePath.replace(/^\/+/, '');
}

/** The source of the first route whose pattern fits `relative` decoded leniently (undefined for an empty path). */
export function lenientSource(routes: CompiledRoute[], relative: string): string | undefined {
  const decoded = lenientDecode(relative);
  return decoded === '' ? undefined : routeSource(routes, decoded);
}

/** 404 naming the path as the client sent it (decoded for reading, control characters masked). */
export function notFound(relative: string): ServiceError {
  return new ServiceError(404, 'not_found', `Invalid image path: ${safeForMessage(relative)}`);
}

function lenientDecode(p: string): string {
  try {
    return decodeURIComponent(p);
  } catch {
    return p;
  }
}

function safeForMessage(p: string): string {
  const cleaned = lenientDecode(p).replace(/[\x00-\x1f\x7f]/g, '?');
  return cleaned.length > 200 ? `${cleaned.slice(0, 200)}…` : cleaned;
}
