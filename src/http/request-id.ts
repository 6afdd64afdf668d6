import { randomBytes } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from './context.ts';

export const REQUEST_ID_HEADER = 'X-Request-Id';

/** A client's own id is kept when it is a plain token (as API Gateway's and load balancers' are). */
const CLIENT_ID = /^[\w\-=.:]{1,128}$/;

/**
 * Request ids: a random prefix per process and a counter, so ids are unique across replicas
 * without a random number per request (`k3x9q2vd7hmw-1a`).
 */
export function requestIdGenerator(): () => string {
  const prefix = randomBytes(8).toString('base64url').toLowerCase().replace(/[^a-z0-9]/g, '0');
  let n = 0;
  return () => `${prefix}-${(++n).toString(36)}`;
}

/**
 * Sets `requestId` for the logs and sends it back as `X-Request-Id` on every response. The image
 * handler writes the header into its own response (its plain header object is what keeps hits
 * cheap); every other response, errors from the image route included, gets it here.
 */
export function requestIdMiddleware(next = requestIdGenerator()): MiddlewareHandler<AppEnv> {
  return async (c, nextMw) => {
    const given = c.req.header(REQUEST_ID_HEADER);
    const id = given !== undefined && CLIENT_ID.test(given) ? given : next();
    c.set('requestId', id);
    await nextMw();
    if (c.get('routeLabel') !== 'image' || c.error) c.header(REQUEST_ID_HEADER, id);
  };
}
