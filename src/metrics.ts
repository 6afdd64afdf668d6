import type { Context } from 'hono';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { CacheObserver, LimiterObserver, ResultCache } from './cache/index.ts';
import type { MastersObserver } from './masters/index.ts';
import type { AppEnv } from './http/context.ts';

/** Latency buckets (seconds) from a memory hit (~0.1 ms) to a slow AVIF render. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export interface Metrics {
  registry: Registry;
  httpRequests: Counter<'route' | 'status' | 'cache'>;
  httpDuration: Histogram<'route' | 'cache'>;
  transformations: Counter<'format'>;
  transformDuration: Histogram<'format'>;
  cacheLookups: Counter<'tier' | 'result'>;
  cacheErrors: Counter<'tier' | 'op'>;
  queueDepth: Gauge;
  inFlight: Gauge;
  shed: Counter<'reason'>;
  coalesced: Counter;
  sourceFetchDuration: Histogram<'source'>;
  /** Give to `createResultCache(cfg, { observer })`. */
  cacheObserver: CacheObserver;
  /** Give to `createMasters({ observer })`. */
  mastersObserver: MastersObserver;
  mastersMade: Counter<string>;
  masterHits: Counter<string>;
  rendersFromOriginal: Counter<string>;
  masterBytesStored: Counter<string>;
  /** Give to `new WorkLimiter({ …, observer })`. */
  limiterObserver: LimiterObserver;
  /** Give to `new SingleFlight({ onShared })`. */
  onShared: () => void;
  /** One transformation that ran (`format` may be a MIME type like `image/webp`). */
  onTransform(info: { format: string; ms: number }): void;
  /** One source read or head. */
  onSourceFetch(info: { source: string; ms: number }): void;
  /** Report a request refused before it ran (`reason`: overloaded, deadline_exceeded, …). */
  onShed(reason: string): void;
  /** Exposes the memory tier's size as gauges. */
  trackCache(cache: ResultCache): void;
  /**
   * One answered request: `route` label ('image', 'health', …), status, `cache` (memory |
   * persistent; `miss` when a transformation ran; `none` otherwise) and its duration.
   */
  observeRequest(route: string, status: number, cache: string, seconds: number): void;
  /** Transformations counted so far (all formats); handy for tests and the benchmark. */
  transformCount(): Promise<number>;
}

interface MetricsOptions {
  /** Process metrics (RSS, CPU, event-loop lag, GC) from prom-client; default true. */
  defaultMetrics?: boolean;
  prefix?: string;
}

/** `image/webp` → `webp`; `jpg` → `jpeg`; anything odd → `other` (labels stay a small fixed set). */
export function formatLabel(format: string): string {
  const f = format.toLowerCase().replace(/^image\//, '').replace(/;.*$/, '').trim();
  if (f === 'jpg' || f === 'pjpg' || f === 'jpeg') return 'jpeg';
  if (f === 'svg+xml') return 'svg';
  if (f === 'application/json' || f === 'json') return 'json';
  if (f === 'text/plain' || f === 'blurhash') return 'blurhash';
  if (/^(png|webp|avif|gif|tiff|svg)$/.test(f)) return f;
  return 'other';
}

function statusLabel(status: number): string {
  return Number.isInteger(status) && status >= 100 && status <= 599 ? String(status) : 'other';
}

/**
 * One Prometheus registry per app (no global state, so several apps can live in one process —
 * tests, the benchmark). Names follow Prometheus conventions: `_total` counters, `_seconds`.
 */
export function createMetrics(opts: MetricsOptions = {}): Metrics {
  const p = opts.prefix ?? 'imagegate_';
  const registry = new Registry();
  const registers = [registry];
  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: p });

  // The per-request counters count into plain tallies (no label hashing per request) that reach
  // prom-client whenever it is read.
  const requestTally = new Tally(); // route, cache, status
  const httpRequests = new Counter({
    name: `${p}http_requests_total`,
    help: 'HTTP requests by route label, status code and cache outcome (memory, persistent, miss, none)',
    labelNames: ['route', 'status', 'cache'] as const,
    registers,
    collect() {
      requestTally.drain((n, route, cache, status) => this.inc({ route, status: statusLabel(status as number), cache }, n));
    },
  });
  const httpDuration = new Histogram({
    name: `${p}http_request_duration_seconds`,
    help: 'Time from request to response headers, by route label and cache outcome',
    labelNames: ['route', 'cache'] as const,
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const transformations = new Counter({
    name: `${p}transformations_total`,
    help: 'Transformations that ran (cache misses that were rendered), by output format',
    labelNames: ['format'] as const,
    registers,
  });
  const transformDuration = new Histogram({
    name: `${p}transform_duration_seconds`,
    help: 'Time spent rendering one derivative (decode to encode), by output format',
    labelNames: ['format'] as const,
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const lookupTally = new Tally(); // tier, result
  const cacheLookups = new Counter({
    name: `${p}cache_lookups_total`,
    help: 'Result cache lookups by tier (memory, persistent) and result (hit, miss)',
    labelNames: ['tier', 'result'] as const,
    registers,
    collect() {
      lookupTally.drain((n, tier, result) => this.inc({ tier, result }, n));
    },
  });
  const cacheErrors = new Counter({
    name: `${p}cache_errors_total`,
    help: 'Persistent cache failures turned into a miss (op=get) or a skipped write (op=set)',
    labelNames: ['tier', 'op'] as const,
    registers,
  });
  const mastersMade = new Counter({ name: `${p}masters_made_total`, help: 'Masters built from an original and stored', registers });
  const masterHits = new Counter({ name: `${p}master_hits_total`, help: 'Derivatives rendered from a master instead of their original', registers });
  const rendersFromOriginal = new Counter({ name: `${p}renders_from_original_total`, help: 'Derivatives rendered from their original', registers });
  const masterBytesStored = new Counter({ name: `${p}master_bytes_stored_total`, help: 'Bytes of masters written to the result cache', registers });
  const queueDepth = new Gauge({
    name: `${p}work_queue_depth`,
    help: 'Transformations waiting for a slot',
    registers,
  });
  const inFlight = new Gauge({
    name: `${p}work_in_flight`,
    help: 'Transformations running now',
    registers,
  });
  const shed = new Counter({
    name: `${p}shed_requests_total`,
    help: 'Requests refused with 503 before they ran, by reason (overloaded = queue full, deadline_exceeded)',
    labelNames: ['reason'] as const,
    registers,
  });
  const coalesced = new Counter({
    name: `${p}coalesced_requests_total`,
    help: 'Requests that joined a transformation of the same derivative already running',
    registers,
  });
  const sourceFetchDuration = new Histogram({
    name: `${p}source_fetch_duration_seconds`,
    help: 'Time spent reading from a source (head or get), by source name',
    labelNames: ['source'] as const,
    buckets: LATENCY_BUCKETS,
    registers,
  });

  const tracked: ResultCache[] = [];
  new Gauge({
    name: `${p}cache_memory_bytes`,
    help: 'Bytes held by the in-memory result cache',
    registers,
    collect() {
      this.set(tracked.reduce((n, c) => n + c.stats().memoryBytes, 0));
    },
  });
  new Gauge({
    name: `${p}cache_memory_entries`,
    help: 'Entries held by the in-memory result cache',
    registers,
    collect() {
      this.set(tracked.reduce((n, c) => n + c.stats().memoryEntries, 0));
    },
  });

  // Histogram children are resolved once per label set instead of building labels per request.
  const fetchChild = memo((source: string) => sourceFetchDuration.labels({ source }));
  const requestTimer = memo((route: string) => memo((cache: string) => httpDuration.labels({ route, cache })));
  const observeRequest = (route: string, status: number, cache: string, seconds: number): void => {
    requestTally.add(route, cache, status);
    requestTimer(route)(cache).observe(seconds);
  };

  return {
    observeRequest,
    registry,
    httpRequests,
    httpDuration,
    transformations,
    transformDuration,
    cacheLookups,
    cacheErrors,
    queueDepth,
    inFlight,
    shed,
    coalesced,
    sourceFetchDuration,
    cacheObserver: {
      lookup: (tier, result) => lookupTally.add(tier, result),
      error: (tier, op) => cacheErrors.inc({ tier, op }),
    },
    mastersMade,
    masterHits,
    rendersFromOriginal,
    masterBytesStored,
    mastersObserver: {
      made: (bytes) => {
        mastersMade.inc();
        masterBytesStored.inc(bytes);
      },
      hit: () => masterHits.inc(),
      original: () => rendersFromOriginal.inc(),
    },
    limiterObserver: {
      changed: ({ active, queued }) => {
        inFlight.set(active);
        queueDepth.set(queued);
      },
      shed: (reason) => shed.inc({ reason }),
    },
    onShared: () => coalesced.inc(),
    onTransform: ({ format, ms }) => {
      const label = formatLabel(format);
      transformations.inc({ format: label });
      transformDuration.observe({ format: label }, ms / 1000);
    },
    onSourceFetch: ({ source, ms }) => fetchChild(source).observe(ms / 1000),
    onShed: (reason) => shed.inc({ reason }),
    trackCache: (cache) => {
      tracked.push(cache);
    },
    transformCount: async () => {
      const m = await transformations.get();
      return m.values.reduce((n, v) => n + v.value, 0);
    },
  };
}

/**
 * Counts per label set of up to three labels (label sets are few and fixed), in nested maps of
 * plain numbers: counting builds no key and hashes no labels; `drain` hands each count over and
 * starts again from zero.
 */
class Tally {
  private readonly root = new Map<string, Map<string, Map<string | number, number>>>();

  add(a: string, b: string, c: string | number = ''): void {
    let byB = this.root.get(a);
    if (!byB) this.root.set(a, (byB = new Map()));
    let byC = byB.get(b);
    if (!byC) byB.set(b, (byC = new Map()));
    byC.set(c, (byC.get(c) ?? 0) + 1);
  }

  drain(take: (n: number, a: string, b: string, c: string | number) => void): void {
    for (const [a, byB] of this.root)
      for (const [b, byC] of byB)
        for (const [c, n] of byC) {
          if (n === 0) continue;
          take(n, a, b, c);
          byC.set(c, 0);
        }
  }
}

/** A per-key cache for label children (label sets are few and fixed). */
function memo<T>(make: (key: string) => T): (key: string) => T {
  const m = new Map<string, T>();
  return (key) => {
    let v = m.get(key);
    if (v === undefined) m.set(key, (v = make(key)));
    return v;
  };
}

/** `GET /_metrics`: the registry in Prometheus text format. */
export function metricsHandler(metrics: Metrics) {
  return async (c: Context<AppEnv>) => {
    c.set('routeLabel', 'metrics');
    const body = await metrics.registry.metrics();
    return c.body(body, 200, { 'Content-Type': metrics.registry.contentType, 'Cache-Control': 'no-store' });
  };
}
