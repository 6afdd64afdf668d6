import { LRUCache } from 'lru-cache';
import type { CacheConfig } from '../config/cache.ts';
import { FsTier } from './fs-tier.ts';
import { S3Tier } from './s3-tier.ts';
import type { CachedResult, CacheLogger, CacheObserver, CacheTier, PersistentTier } from './types.ts';

export interface ResultCache {
  /** The entry and the tier that held it; undefined on a miss. Never rejects: a failing tier counts as a miss. */
  get(key: string): Promise<{ value: CachedResult; tier: CacheTier } | undefined>;
  /**
   * The entry when the memory tier holds it fresh, at once (counted as a memory hit, as get
   * counts it); else undefined and nothing counted: ask get, which counts the lookup.
   */
  peek?(key: string): { value: CachedResult; tier: 'memory' } | undefined;
  /** Stores in every tier; resolves when done. Never rejects: a failing tier logs and skips the write. */
  set(key: string, value: CachedResult): Promise<void>;
  /** Bytes and entries held by the memory tier (for metrics). */
  stats(): { memoryBytes: number; memoryEntries: number };
  /** Waits for writes still in progress and releases clients. */
  close(): Promise<void>;
}

interface ResultCacheOptions {
  observer?: CacheObserver;
  logger?: CacheLogger;
  /** Use this tier instead of the one the config describes (tests, custom stores). */
  persistent?: PersistentTier;
  /** Clock, epoch ms (tests). */
  now?: () => number;
}

/** Per-entry bookkeeping counted against the byte budget besides the body. */
const ENTRY_OVERHEAD = 512;

const defaultLogger: CacheLogger = {
  warn(obj, msg) {
    process.stderr.write(`${JSON.stringify({ level: 'warn', time: Date.now(), ...obj, msg })}\n`);
  },
};

function describe(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return String(err);
}

/**
 * Two-tier result cache: a byte-budgeted LRU in memory, then an optional persistent tier (a
 * folder or an S3 prefix). A persistent hit is promoted into memory. Failures of the persistent
 * tier never fail a request: they are logged, counted, and that tier is skipped for
 * `persistentBackoffMs` so an outage does not add its timeout to every request.
 */
export function createResultCache(cfg: CacheConfig | undefined, opts: ResultCacheOptions = {}): ResultCache {
  const now = opts.now ?? Date.now;
  const observer = opts.observer ?? {};
  const logger = opts.logger ?? defaultLogger;
  const enabled = cfg?.enabled ?? true;
  const ttlMs = (cfg?.ttlSeconds ?? 7 * 24 * 3600) * 1000;
  const backoffMs = cfg?.persistentBackoffMs ?? 5_000;
  const pending = new Set<Promise<void>>();

  const memCfg = cfg?.memory ?? { enabled: true, maxBytes: 128 * 1024 * 1024, maxEntryBytes: 8 * 1024 * 1024 };
  const memory =
    enabled && memCfg.enabled
      ? new LRUCache<string, CachedResult>({
          maxSize: memCfg.maxBytes,
          maxEntrySize: Math.min(memCfg.maxEntryBytes + ENTRY_OVERHEAD, memCfg.maxBytes),
          sizeCalculation: (v) => v.body.length + ENTRY_OVERHEAD,
          ttl: ttlMs,
          perf: { now },
        })
      : undefined;

  let persistent: PersistentTier | undefined;
  if (enabled) {
    if (opts.persistent) persistent = opts.persistent;
    else if (cfg?.persistent?.type === 'fs') persistent = new FsTier(cfg.persistent.dir);
    else if (cfg?.persistent?.type === 's3') persistent = new S3Tier(cfg.persistent);
  }
  let persistentDownUntil = 0;

  const failed = (op: 'get' | 'set', key: string, err: unknown) => {
    persistentDownUntil = now() + backoffMs;
    observer.error?.('persistent', op, err);
    logger.warn(
      { event: 'cache_persistent_error', tier: persistent?.kind, op, cacheKey: key, err: describe(err), skipMs: backoffMs },
      op === 'get' ? 'persistent cache read failed; treated as a miss' : 'persistent cache write failed; entry not stored',
    );
  };

  const fresh = (v: CachedResult) => now() - v.createdAt < ttlMs;

  /** The memory tier's fresh entry (counted as a memory hit); an expired one is dropped. */
  const peek = (key: string): { value: CachedResult; tier: 'memory' } | undefined => {
    const v = memory?.get(key);
    if (v === undefined) return undefined;
    if (!fresh(v)) {
      memory!.delete(key);
      return undefined;
    }
    observer.lookup?.('memory', 'hit');
    return { value: v, tier: 'memory' };
  };

  return {
    peek,

    async get(key) {
      const held = peek(key);
      if (held) return held;
      if (memory) observer.lookup?.('memory', 'miss');
      if (!persistent || now() < persistentDownUntil) return undefined;
      let v: CachedResult | undefined;
      try {
        v = await persistent.get(key);
      } catch (err) {
        failed('get', key, err);
        observer.lookup?.('persistent', 'miss');
        return undefined;
      }
      if (!v || !fresh(v)) {
        observer.lookup?.('persistent', 'miss');
        return undefined;
      }
      observer.lookup?.('persistent', 'hit');
      memory?.set(key, v, { ttl: Math.max(1, ttlMs - (now() - v.createdAt)) });
      return { value: v, tier: 'persistent' };
    },

    async set(key, value) {
      memory?.set(key, value);
      if (!persistent || now() < persistentDownUntil) return;
      const p = persistent.set(key, value).catch((err) => failed('set', key, err));
      pending.add(p);
      try {
        await p;
      } finally {
        pending.delete(p);
      }
    },

    stats() {
      return { memoryBytes: memory?.calculatedSize ?? 0, memoryEntries: memory?.size ?? 0 };
    },

    async close() {
      await Promise.all([...pending]);
      await persistent?.close?.();
    },
  };
}
