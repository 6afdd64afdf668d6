import { Hono, type Context, type Handler, type MiddlewareHandler } from 'hono';
import type { Config } from '../config/schema.ts';
import { resolveConfig } from '../config/resolve.ts';
import { INTERNAL_ERROR, ServiceError } from '../errors.ts';
import { compileRoutes } from '../routes/match.ts';
import { createStorages, guardStorage } from '../storage/index.ts';
import type { Storage } from '../storage/types.ts';
import { createKeyLookup, secretKeyRefresh } from '../auth/keys.ts';
import { apiKeyAuth, type SourceAccess } from '../auth/middleware.ts';
import { clientAddressResolver } from '../auth/client-address.ts';
import type { KeyLookup, SecretLookup } from '../auth/types.ts';
import { ByteBudget, createResultCache, SingleFlight, WorkLimiter, withMetaCache, type ResultCache } from '../cache/index.ts';
import { openKeyStore } from '../auth/store.ts';
import { createUsageService, type UsageService } from '../usage/index.ts';
import { adminUsageHandler, usageMiddleware } from '../usage/middleware.ts';
import { dashboardPage, dashboardRoutes } from './dashboard.ts';
import { RequestStats } from './stats.ts';
import { openApiDocument } from './openapi.ts';
import { createLogger, type Logger } from '../log.ts';
import { createMetrics, metricsHandler, type Metrics } from '../metrics.ts';
import type { AppEnv } from './context.ts';
import { adminGuard } from './admin.ts';
import { imageHandler, type ImageDeps } from './image/index.ts';
import { matchSource, notFound } from './image/route.ts';
import { openSource } from './image/source.ts';
import { createMasters, type Masters } from '../masters/index.ts';
import { observeRequests } from './observe.ts';
import { Readiness } from './ready.ts';
import { corsHeaders, corsPreflight, type CorsRules } from './cors.ts';
import { chain, type Layer } from './chain.ts';

export interface AppOptions {
  /** Replace the storages built from config (tests, wrappers). */
  storages?: Record<string, Storage>;
  /** Replace the key look-up built from config. */
  keys?: KeyLookup & Partial<SecretLookup>;
  cache?: ResultCache;
  logger?: Logger;
  metrics?: Metrics;
  usage?: UsageService;
  /** Hooks for metrics and tests. */
  onTransform?: ImageDeps['onTransform'];
}

export interface ImagegateApp {
  app: Hono<AppEnv>;
  /** `/_metrics` and `/_openapi.json` with no guard, for the metrics listener (`server.metrics`). */
  internal: Hono<AppEnv>;
  /**
   * What `app` answers every path outside `/_` with (the image route, CORS preflights, 405s),
   * for a context built by the caller: the Node server runs image requests here directly
   * (see node.ts). Synchronous when the whole chain is (a cache hit).
   */
  catchAll(c: Context<AppEnv>): Response | Promise<Response>;
  /** The settings as resolved at start-up (frozen). */
  config: Config;
  storages: Record<string, Storage>;
  logger: Logger;
  metrics: Metrics;
  usage: UsageService;
  /** Masters of originals (`imagegate warm` builds them ahead). */
  masters: Masters;
  /** `/_ready`; the Node server starts its probes and turns it off when draining. */
  readiness: Readiness;
  close(): Promise<void>;
}

const FORBIDDEN = { message: 'Forbidden' };

/**
 * The service's introspection endpoints, `/_metrics` and `/_openapi.json`, on `app`: behind
 * `guard` when one is given, and `/_metrics` only when `withMetrics`.
 */
function mountInternal(
  app: Hono<AppEnv>,
  handlers: { metrics: Handler<AppEnv>; openapi: Handler<AppEnv> },
  guard: MiddlewareHandler<AppEnv> | undefined,
  withMetrics: boolean,
): Hono<AppEnv> {
  if (guard) app.use('/_openapi.json', guard);
  app.get('/_openapi.json', handlers.openapi);
  if (!withMetrics) return app;
  if (guard) app.use('/_metrics', guard);
  app.get('/_metrics', handlers.metrics);
  return app;
}

/**
 * createApp is the only place that wires the modules together. The same app serves the Node
 * server and every Lambda event shape. The config is resolved first, once (config/resolve.ts):
 * every problem with the environment and the secrets it names stops start-up together.
 */
export async function createApp(input: Config, options: AppOptions = {}): Promise<ImagegateApp> {
  const resolved = await resolveConfig(input, { keys: !options.keys });
  const config = resolved.settings;
  const logger = options.logger ?? createLogger(config.server.logLevel);
  const storages = Object.fromEntries(
    Object.entries(options.storages ?? (await createStorages(config.sources, config.limits.maxOriginalBytes))).map(([name, s]) => [
      name,
      withMetaCache(guardStorage(s), { ttlMs: config.cache.sourceMetaTtlMs, headTimeoutMs: config.limits.deadlineMs }),
    ]),
  );
  const keyStore = options.keys || !resolved.keyStore ? undefined : openKeyStore(resolved.keyStore);
  const keys = options.keys ?? createKeyLookup(resolved.keys, keyStore, secretKeyRefresh(resolved));
  const usage = options.usage ?? createUsageService(resolved.usage, { logger });
  const stats = new RequestStats();
  const routes = compileRoutes(config.routes);
  const limits = config.limits;
  const metrics = options.metrics ?? createMetrics();
  const cache = options.cache ?? createResultCache(config.cache, { observer: metrics.cacheObserver, logger });
  metrics.trackCache(cache);

  const signing: ImageDeps['signing'] = {};
  const access: Record<string, SourceAccess> = {};
  const cors: CorsRules = {};
  for (const [name, src] of Object.entries(config.sources)) {
    if (src.cors) cors[name] = src.cors;
    if (src.signing) signing[name] = { token: resolved.signingTokens[name]!, required: src.signing.required, path: src.signing.path };
    access[name] = { access: src.access, ...(signing[name] ? { signing: signing[name] } : {}) };
  }

  const app = new Hono<AppEnv>();

  // Every request is observed first: the service's own endpoints (all under /_) through Hono's
  // middleware, everything else as the first layer of the image route's chain (below).
  const observe = observeRequests({ metrics, stats, logger });
  app.use('/_*', observe);

  const onError = (err: Error, c: Context<AppEnv>) => {
    if (err instanceof ServiceError) {
      if (err.status >= 500) logger.warn({ requestId: c.get('requestId'), code: err.code, err: err.cause ?? err }, err.publicMessage);
      for (const [k, v] of Object.entries(err.headers)) c.header(k, v);
      return c.json(err.status === 403 && err.code === 'forbidden' ? FORBIDDEN : err.body(), err.status as 400);
    }
    logger.error({ requestId: c.get('requestId'), err }, 'unhandled error');
    return c.json(INTERNAL_ERROR, 500);
  };
  app.onError(onError);

  app.notFound((c) => c.json({ message: 'Not found', code: 'not_found' }, 404));

  // The service's own endpoints live under /_ at the root, whatever the base path.
  app.get('/_health', (c) => {
    c.set('routeLabel', 'health');
    return c.json({ status: 'ok' });
  });
  const readiness = new Readiness({ config, storages, usage });
  app.get('/_ready', (c) => {
    c.set('routeLabel', 'health');
    const r = readiness.report();
    return c.json(r, r.ready ? 200 : 503);
  });

  // /_metrics and /_openapi.json: on the image listener open, behind the admin token or not at
  // all (server.internalEndpoints); with a metrics listener (server.metrics) /_metrics is there only.
  const guard = adminGuard(resolved.adminDigest);
  const openapi = openApiDocument(config);
  const internalHandlers = {
    metrics: metricsHandler(metrics),
    openapi: (c: Context<AppEnv>) => {
      c.set('routeLabel', 'openapi');
      return c.json(openapi);
    },
  };
  const internalAccess = config.server.internalEndpoints;
  if (internalAccess !== 'off') mountInternal(app, internalHandlers, internalAccess === 'admin' ? guard : undefined, !config.server.metrics);
  const internal = mountInternal(new Hono<AppEnv>(), internalHandlers, undefined, true);
  internal.notFound((c) => c.json({ message: 'Not found', code: 'not_found' }, 404));

  // The dashboard's page and assets hold no data: they load without a token and ask for it.
  app.route('/', dashboardPage(config));
  app.use('/_admin/*', guard);
  app.get('/_admin/usage', adminUsageHandler(usage));
  app.route('/_admin', dashboardRoutes({ config, stats, metrics }));

  app.all('/_*', (c) => {
    c.set('routeLabel', 'reserved');
    return c.json({ message: `Not found: ${c.req.path}`, code: 'not_found' }, 404);
  });

  const limiter = new WorkLimiter({
    concurrency: limits.concurrency,
    queue: limits.queue,
    retryAfterSeconds: limits.retryAfterSeconds,
    observer: metrics.limiterObserver,
  });
  const bytes = new ByteBudget({ maxBytes: limits.maxBytesInFlight, queue: limits.queue, retryAfterSeconds: limits.retryAfterSeconds });
  const onTransform: ImageDeps['onTransform'] = (info) => {
    metrics.onTransform(info);
    options.onTransform?.(info);
  };
  const masters = createMasters({
    config,
    cache,
    limiter,
    storages,
    open: async (match, signal) => (await openSource({ storages, bytes, onSourceFetch: metrics.onSourceFetch }, { ...match, params: {} }, signal)) ?? Promise.reject(notFound(match.key)),
    observer: metrics.mastersObserver,
    logger,
    onTransform,
  });
  const handler = imageHandler({
    config,
    routes,
    storages,
    signing,
    cache,
    flight: new SingleFlight({ onShared: metrics.onShared }),
    limiter,
    deadlineMs: limits.deadlineMs,
    bytes,
    masters,
    onTransform,
    onSourceFetch: metrics.onSourceFetch,
  });

  // The image route, in order: observe → route match (where anything before the handler needs
  // the source: a source with `access` other than key, or with `cors`; otherwise every request
  // needs a key and the hot path pays nothing for it) → CORS → auth → usage → the image stages
  // (signature, derive, marks, conditional, cache, work, respond: image/index.ts). One Hono
  // handler runs them as a chain (chain.ts): a cache hit whose every layer answers at once is
  // answered synchronously.
  const bySource = Object.values(config.sources).some((s) => s.access !== 'key' || s.cors);
  const route = bySource ? matchSource({ routes, basePath: config.server.basePath }) : undefined;
  const withCors = Object.keys(cors).length > 0;
  const notAllowed = (c: Context<AppEnv>) => {
    c.header('Allow', 'GET, HEAD');
    return c.json({ message: `Method ${c.req.method} not allowed`, code: 'method_not_allowed' }, 405);
  };
  const image = chain(
    [
      observe,
      ...(route ? [route] : []),
      ...(withCors ? [corsHeaders(cors)] : []),
      apiKeyAuth({ keys, sources: access, clientAddress: clientAddressResolver(config.anonymous) }),
      usageMiddleware({ usage, plans: config.plans, anonymousPlan: config.anonymous.plan }),
      handler,
    ] as Layer[],
    onError,
  );
  const preflight = route && withCors ? chain([observe, route, corsPreflight(cors), notAllowed] as Layer[], onError) : undefined;
  const other = chain([observe, notAllowed] as Layer[], onError);
  // Every path outside /_, every method (HEAD is GET to Hono's router, with its own method).
  const catchAll = (c: Context<AppEnv>) => {
    const method = c.req.method;
    if (method === 'GET' || method === 'HEAD') return image(c);
    return method === 'OPTIONS' && preflight ? preflight(c) : other(c);
  };
  app.all('*', catchAll);

  return {
    app,
    internal,
    catchAll,
    config,
    storages,
    logger,
    metrics,
    usage,
    readiness,
    masters,
    async close() {
      readiness.stop();
      await masters.close();
      await Promise.allSettled([cache.close(), usage.close(), keyStore?.close()]);
    },
  };
}
