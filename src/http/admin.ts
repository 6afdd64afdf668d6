import type { MiddlewareHandler } from 'hono';
import type { Config } from '../config/schema.ts';
import { digestEquals, sha256hex } from '../digest.ts';
import { settingFromEnv } from '../config/from-env.ts';
import { ServiceError } from '../errors.ts';
import type { AppEnv } from './context.ts';

/**
 * SHA-256 of the admin token from `admin:` (token, tokenFromEnv or tokenSha256); undefined =
 * admin off. An unset `tokenFromEnv` variable stops start-up (ConfigError), like every other
 * `…FromEnv` setting, rather than silently closing the admin endpoints.
 */
export function adminTokenDigest(admin: Config['admin']): string | undefined {
  if (!admin) return undefined;
  if (admin.tokenSha256) return admin.tokenSha256.toLowerCase();
  if (admin.token) return sha256hex(admin.token);
  return admin.tokenFromEnv ? sha256hex(settingFromEnv('admin.tokenFromEnv', admin.tokenFromEnv)) : undefined;
}

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
