/**
 * Recent-request statistics for the dashboard: top paths, latency percentiles, status classes
 * and the result-cache hit ratio over a sliding window. In memory and per process (each replica
 * reports its own traffic); the exact, shared counts per key live in the usage records.
 */

interface RequestSample {
  /** Epoch ms when the response was sent. */
  at: number;
  path: string;
  status: number;
  /** Milliseconds from the request to the response headers. */
  ms: number;
  cacheHit?: 'memory' | 'persistent';
  transformed: boolean;
  route?: string;
  /** Whether the request presented a valid API key (only those reach the top paths). */
  authenticated?: boolean;
  /** The source the path routed to (image requests). */
  source?: string;
  /** How it was let in: X-API-Key, a signature, or anonymously (absent: refused before that). */
  credential?: 'key' | 'signed' | 'anonymous';
}

/** Image requests per source by how they were let in (signed and anonymous traffic next to keyed). */
interface SourceAccessRow {
  source: string;
  key: number;
  signed: number;
  anonymous: number;
  /** Refused by the access decision (no credential, a bad or expired signature). */
  refused: number;
}

interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  max: number;
}

export interface StatsSnapshot {
  /** Length of the window the numbers cover, ms. */
  windowMs: number;
  /** Epoch ms of the snapshot. */
  now: number;
  /** Requests in the window (every path, admin pages included). */
  requests: number;
  /** Requests being served right now. */
  inFlight: number;
  status: { '2xx': number; '3xx': number; '4xx': number; '5xx': number };
  cache: { hits: number; memoryHits: number; persistentHits: number; misses: number; hitRatio: number | null };
  /** Image requests only (paths not starting with `/_`). */
  latency: LatencySummary;
  /**
   * Most requested image paths in the window, most first: requests with a valid API key only,
   * so that nobody without a key can write text onto the admin's screen.
   */
  topPaths: Array<{ path: string; count: number; p50: number; errors: number }>;
  /** Per source (config names only, never request text), most traffic first. */
  access: SourceAccessRow[];
}

interface RequestStatsOptions {
  /** Most samples kept (oldest dropped first). Default 10 000. */
  capacity?: number;
  /** Samples older than this are ignored. Default 15 minutes. */
  windowMs?: number;
  /** Clock, for tests. */
  now?: () => number;
}

const MAX_PATH = 200;

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

function summarize(values: number[]): LatencySummary {
  const s = [...values].sort((a, b) => a - b);
  const r = (x: number) => Math.round(x * 10) / 10;
  return {
    count: s.length,
    p50: r(percentile(s, 50)),
    p90: r(percentile(s, 90)),
    p95: r(percentile(s, 95)),
    p99: r(percentile(s, 99)),
    max: r(s.length ? s[s.length - 1] : 0),
  };
}

/** A bounded ring of recent requests; `snapshot()` summarises the window. */
export class RequestStats {
  readonly capacity: number;
  readonly windowMs: number;
  private readonly now: () => number;
  private readonly ring: (RequestSample | undefined)[];
  private next = 0;
  inFlight = 0;

  constructor(options: RequestStatsOptions = {}) {
    this.capacity = options.capacity ?? 10_000;
    this.windowMs = options.windowMs ?? 15 * 60_000;
    this.now = options.now ?? Date.now;
    this.ring = new Array(this.capacity);
  }

  /** Keeps `sample` itself (its path shortened if need be): pass a fresh object. */
  record(sample: RequestSample): void {
    // A CORS preflight is answered from config alone: it is nobody's traffic.
    if (sample.route === 'preflight') return;
    if (sample.path.length > MAX_PATH) sample.path = `${sample.path.slice(0, MAX_PATH)}…`;
    this.ring[this.next] = sample;
    this.next = (this.next + 1) % this.capacity;
  }

  /** Samples inside the window, oldest first. */
  samples(): RequestSample[] {
    const since = this.now() - this.windowMs;
    const out: RequestSample[] = [];
    for (let i = 0; i < this.capacity; i++) {
      const s = this.ring[(this.next + i) % this.capacity];
      if (s && s.at >= since) out.push(s);
    }
    return out;
  }

  snapshot(topN = 10): StatsSnapshot {
    const samples = this.samples();
    const status = { '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0 };
    let memoryHits = 0;
    let persistentHits = 0;
    let misses = 0;
    const imageMs: number[] = [];
    const byPath = new Map<string, { ms: number[]; errors: number }>();
    const bySource = new Map<string, SourceAccessRow>();
    for (const s of samples) {
      if (s.source !== undefined) {
        let row = bySource.get(s.source);
        if (!row) bySource.set(s.source, (row = { source: s.source, key: 0, signed: 0, anonymous: 0, refused: 0 }));
        row[s.credential ?? 'refused']++;
      }
      const cls = `${Math.floor(s.status / 100)}xx` as keyof typeof status;
      if (cls in status) status[cls]++;
      if (s.cacheHit === 'memory') memoryHits++;
      else if (s.cacheHit === 'persistent') persistentHits++;
      else if (s.transformed) misses++;
      if (s.path.startsWith('/_')) continue;
      imageMs.push(s.ms);
      if (!s.authenticated) continue;
      let entry = byPath.get(s.path);
      if (!entry) byPath.set(s.path, (entry = { ms: [], errors: 0 }));
      entry.ms.push(s.ms);
      if (s.status >= 400) entry.errors++;
    }
    const hits = memoryHits + persistentHits;
    const topPaths = [...byPath.entries()]
      .sort((a, b) => b[1].ms.length - a[1].ms.length || (a[0] < b[0] ? -1 : 1))
      .slice(0, topN)
      .map(([path, e]) => ({ path, count: e.ms.length, p50: summarize(e.ms).p50, errors: e.errors }));
    return {
      windowMs: this.windowMs,
      now: this.now(),
      requests: samples.length,
      inFlight: this.inFlight,
      status,
      cache: {
        hits,
        memoryHits,
        persistentHits,
        misses,
        hitRatio: hits + misses === 0 ? null : Math.round((hits / (hits + misses)) * 1000) / 1000,
      },
      latency: summarize(imageMs),
      topPaths,
      access: [...bySource.values()].sort((a, b) => b.key + b.signed + b.anonymous + b.refused - (a.key + a.signed + a.anonymous + a.refused) || (a.source < b.source ? -1 : 1)),
    };
  }
}
