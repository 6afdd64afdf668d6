import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { Context, MiddlewareHandler } from 'hono';
import type { Logger } from '../log.ts';
import { lineWriter, redactQuery, type LineFields } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { addResponseHeaders, applyResponseHeaders, type AppEnv } from './context.ts';
import type { RequestStats } from './stats.ts';
import { afterAnswer, asMiddleware, isPromise } from './chain.ts';

const REQUEST_ID_HEADER = 'X-Request-Id';

/** A request line waiting for its response to close (Node server). */
const PENDING_LINE = Symbol('imagegate.requestLine');
type Outgoing = ServerResponse & { [PENDING_LINE]?: { line: LineFields & { ms: number }; started: number } };

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

interface ObserveOptions {
  metrics?: Metrics;
  stats?: RequestStats;
  /** One `request` line per request at the info level. */
  logger?: Logger;
  newId?: () => string;
}

/**
 * Everything recorded about every request, in one middleware (mount it first): the request id
 * (`requestId`, sent back as `X-Request-Id`), the Prometheus request counter and latency
 * histogram, the dashboard's recent-request statistics and the request log line. It reads what
 * the handlers left on the context: `routeLabel` (default `other`), `cacheHit`, `transformed`,
 * `apiKey`. One layer rather than four: on a cache hit each async layer is a measurable share.
 * `X-Request-Id` goes out with the request's other pending headers (see addResponseHeaders).
 */
export function observeRequests(options: ObserveOptions): MiddlewareHandler<AppEnv> {
  const { metrics, stats, logger } = options;
  const newId = options.newId ?? requestIdGenerator();
  // The request line's fields, always these, in this order (undefined ones left out).
  const writeLine = logger && lineWriter(logger, ['requestId', 'method', 'path', 'query', 'status', 'ms', 'keyId', 'cache', 'aborted']);

  /** Everything recorded once the request is answered (`status`), or failed (500). */
  const record = (c: Context<AppEnv>, id: string, started: number, status: number): void => {
    const ms = performance.now() - started;
    const route = c.get('routeLabel');
    const cacheHit = c.get('cacheHit');
    const transformed = c.get('transformed') === true;
    metrics?.observeRequest(route ?? 'other', status, cacheHit ?? (transformed ? 'miss' : 'none'), ms / 1000);
    if (stats) {
      stats.inFlight--;
      stats.record({
        at: Date.now(),
        path: c.req.path,
        status,
        ms,
        cacheHit,
        transformed,
        route,
        authenticated: c.get('apiKey') !== undefined,
        source: c.get('source'),
        credential: c.get('credential'),
      });
    }
    if (writeLine && logger!.isLevelEnabled('info')) {
      const url = c.req.url;
      const q = url.indexOf('?');
      const line = {
        requestId: id,
        method: c.req.method,
        path: c.req.path,
        query: q === -1 ? undefined : redactQuery(url.slice(q + 1)),
        status,
        ms: Math.round(ms * 10) / 10,
        keyId: c.get('apiKey')?.id,
        cache: cacheHit,
      };
      // On the Node server the line waits until the response is written out (or the client
      // went away): a response that never reached the client is logged as aborted, not as sent.
      const outgoing = (c.env as { outgoing?: Outgoing } | undefined)?.outgoing;
      if (outgoing?.once === undefined || outgoing.writableFinished) writeLine(line, 'request');
      else if (outgoing.destroyed) writeLine({ ...line, aborted: true }, 'request aborted');
      else {
        // One listener function for every response (`on`: a response closes once; no wrapper per request), its line on the response.
        outgoing[PENDING_LINE] = { line, started };
        outgoing.on('close', lineOnClose);
      }
    }
  };

  /** A response's request line, once the response closed: sent, or aborted. */
  function lineOnClose(this: Outgoing): void {
    const pending = this[PENDING_LINE];
    if (!pending || !writeLine) return;
    this[PENDING_LINE] = undefined;
    const { line, started } = pending;
    const sent = this.writableFinished;
    line.ms = Math.round((performance.now() - started) * 10) / 10;
    writeLine(sent ? line : { ...line, aborted: true }, sent ? 'request' : 'request aborted');
  }

  // A chain layer (chain.ts): when the rest of the chain answers at once, so does this.
  return asMiddleware((c, next) => {
    const started = performance.now();
    const given = c.req.header(REQUEST_ID_HEADER);
    const id = given !== undefined && CLIENT_ID.test(given) ? given : newId();
    c.set('requestId', id);
    addResponseHeaders(c, { [REQUEST_ID_HEADER]: id });
    if (stats) stats.inFlight++;
    let rest: void | Promise<void>;
    try {
      rest = next();
    } catch (err) {
      return failed(c, id, started, err);
    }
    if (isPromise(rest)) {
      return rest.then(
        () => answered(c, id, started),
        (err) => failed(c, id, started, err),
      );
    }
    answered(c, id, started);
  });

  function answered(c: Context<AppEnv>, id: string, started: number): void {
    const status = c.error && c.res.status < 400 ? 500 : c.res.status;
    applyResponseHeaders(c);
    afterAnswer(() => {
      try {
        record(c, id, started, status);
      } catch (err) {
        logger?.error({ requestId: id, err }, 'request not recorded');
      }
    });
  }

  /** A failure the chain did not turn into a response is recorded as a 500 and goes on up. */
  function failed(c: Context<AppEnv>, id: string, started: number, err: unknown): never {
    record(c, id, started, 500);
    throw err;
  }
}
