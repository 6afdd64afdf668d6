import type { MiddlewareHandler } from 'hono';
import { digestEquals, sha256hex } from '../digest.ts';
import { ServiceError } from '../errors.ts';
import type { AppEnv } from './context.ts';

/**
 * Guards `/_admin/*` with `Authorization: Bearer <admin token>`, compared in constant time.
 * An API key never opens an admin endpoint, whatever its plan.
 */
export function adminGuard(digest: string | undefined): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    c.set('routeLabel', 'admin');
    if (!digest) throw new ServiceError(403, 'admin_disabled', 'Forbidden: no admin token is configured');
    const header = c.req.header('authorization') ?? '';
    const m = /^Bearer\s+(.+)$/i.exec(header);
    if (!m || !digestEquals(sha256hex(m[1].trim()), digest)) {
      throw new ServiceError(401, 'admin_unauthorized', 'Unauthorized: admin bearer token required', {
        headers: { 'WWW-Authenticate': 'Bearer realm="imagegate-admin"' },
      });
    }
    await next();
  };
}
