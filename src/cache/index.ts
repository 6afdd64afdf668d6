// CONTRACT STUB — replaced by the real result cache, single-flight and limiter (issue 6).
import type { Config } from '../config/schema.ts';

/** A rendered derivative as stored in the result cache. */
export interface CachedResult {
  body: Buffer;
  contentType: string;
  /** Headers that belong to the derivative (Content-Disposition, Vary, …). */
  headers: Record<string, string>;
  /** Epoch ms when it was rendered. */
  createdAt: number;
}

export interface ResultCache {
  get(key: string): Promise<{ value: CachedResult; tier: 'memory' | 'persistent' } | undefined>;
  set(key: string, value: CachedResult): Promise<void>;
}

export function createResultCache(_cfg: Config['cache']): ResultCache {
  return { get: async () => undefined, set: async () => {} };
}

/** Concurrent calls with the same key share one execution. */
export class SingleFlight {
  do<T>(_key: string, fn: () => Promise<T>): Promise<T> {
    return fn();
  }
}

/** At most `concurrency` tasks at once and a bounded queue; past it → ServiceError 503 `overloaded`. */
export class WorkLimiter {
  constructor(_opts: { concurrency: number; queue: number }) {}
  run<T>(fn: () => Promise<T>, _signal?: AbortSignal): Promise<T> {
    return fn();
  }
}
