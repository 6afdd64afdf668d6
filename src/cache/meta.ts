import { LRUCache } from 'lru-cache';
import type { ObjectMeta, Storage } from '../storage/types.ts';
import { SingleFlight } from './single-flight.ts';
import { deadlineSignal } from './limiter.ts';

interface MetaCacheOptions {
  /** How long a source's answer to head() is reused, milliseconds; 0 turns the wrapper off. */
  ttlMs: number;
  /** Keys remembered at most. */
  maxEntries?: number;
  /**
   * Bound for a head() that must ask the source, ms, when the caller passes no signal: the
   * signal is built only then, so answers from memory cost no AbortController.
   */
  headTimeoutMs?: number;
}

/** Sentinel for "the source said the object does not exist" (a cached 404). */
const MISSING = Symbol('missing');
type Entry = ObjectMeta | typeof MISSING;

/**
 * Wraps a source so that `head()` — which every request needs for the cache key and ETag, hits
 * and 304s included — asks the source at most once per key per `ttlMs`, and concurrent heads
 * for one key share one call. On S3 that is one HEAD request (latency and a billed request) per
 * key per TTL instead of one per response; on a folder, one realpath + stat. A changed source is
 * noticed within `ttlMs`; `get()` always reads the source and refreshes the entry.
 */
export function withMetaCache(storage: Storage, opts: MetaCacheOptions): Storage {
  const ask = (key: string, signal?: AbortSignal) =>
    storage.head(key, signal ?? (opts.headTimeoutMs ? deadlineSignal(opts.headTimeoutMs) : undefined));
  if (!(opts.ttlMs > 0)) return opts.headTimeoutMs ? { ...storage, head: ask } : storage;
  const metas = new LRUCache<string, Entry>({ max: opts.maxEntries ?? 10_000, ttl: opts.ttlMs });
  const flight = new SingleFlight();
  /** A read that refreshes the entry with what it learnt (get, stream, open). */
  const refreshing =
    <T extends { meta: ObjectMeta }>(read: (key: string, signal?: AbortSignal) => Promise<T | undefined>) =>
    async (key: string, signal?: AbortSignal): Promise<T | undefined> => {
      const obj = await read(key, signal);
      metas.set(key, obj ? obj.meta : MISSING);
      return obj;
    };
  const knownHead = (key: string): ObjectMeta | null | undefined => {
    const hit = metas.get(key);
    return hit === MISSING ? null : hit;
  };
  const wrapped: Storage = {
    knownHead,
    async head(key: string, signal?: AbortSignal): Promise<ObjectMeta | undefined> {
      const known = knownHead(key);
      if (known !== undefined) return known ?? undefined;
      return flight.do(key, async () => {
        const meta = await ask(key, signal);
        metas.set(key, meta ?? MISSING);
        return meta;
      });
    },
    get: refreshing(storage.get.bind(storage)),
  };
  if (storage.list) wrapped.list = storage.list.bind(storage);
  if (storage.stream) wrapped.stream = refreshing(storage.stream.bind(storage));
  if (storage.open) wrapped.open = refreshing(storage.open.bind(storage));
  return wrapped;
}
