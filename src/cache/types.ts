/** A rendered derivative as stored in the result cache. */
export interface CachedResult {
  body: Buffer;
  contentType: string;
  /** Headers that belong to the derivative (Content-Disposition, Vary, …). */
  headers: Record<string, string>;
  /** Epoch ms when it was rendered. */
  createdAt: number;
}

export type CacheTier = 'memory' | 'persistent';

/** Where cache outcomes go: metrics implement this (see `createMetrics().cacheObserver`). */
export interface CacheObserver {
  lookup?(tier: CacheTier, result: 'hit' | 'miss'): void;
  /** A persistent-tier failure that was turned into a miss / a write that was skipped. */
  error?(tier: CacheTier, op: 'get' | 'set', err: unknown): void;
}

/** The subset of a pino logger the cache uses. */
export interface CacheLogger {
  warn(obj: object, msg?: string): void;
}

/** A second tier behind the memory LRU. `get` resolves undefined for a missing entry and rejects on failure. */
export interface PersistentTier {
  readonly kind: 'fs' | 's3';
  get(key: string): Promise<CachedResult | undefined>;
  set(key: string, value: CachedResult): Promise<void>;
  close?(): Promise<void>;
}
