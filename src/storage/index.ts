import type { SourceConfig } from '../config/schema.ts';
import { createFsStorage } from './fs.ts';
import { createS3Storage } from './s3.ts';
import type { Storage } from './types.ts';
import { ServiceError } from '../errors.ts';

/** One Storage per configured source, each refusing originals over `maxBytes` (an HTTP source's own `maxBytes` can only lower it). */
export async function createStorages(sources: Record<string, SourceConfig>, maxBytes?: number): Promise<Record<string, Storage>> {
  const out: Record<string, Storage> = {};
  for (const [name, src] of Object.entries(sources)) {
    if (src.type === 'fs') out[name] = createFsStorage({ ...src, maxBytes });
    else if (src.type === 's3') out[name] = createS3Storage({ ...src, maxBytes });
    else out[name] = (await import('./http.ts')).createHttpStorage({ ...src, maxBytes: Math.min(src.maxBytes, maxBytes ?? Infinity) });
  }
  return out;
}

/**
 * Any failure a source throws that is not already a ServiceError becomes a 502
 * `source_error`: a broken source is never a 500 and never a fake 404.
 */
export function guardStorage(storage: Storage): Storage {
  const wrap = (err: unknown): never => {
    if (err instanceof ServiceError) throw err;
    throw new ServiceError(502, 'source_error', 'Source failed to read the object', { cause: err });
  };
  return {
    head: (key, signal) => storage.head(key, signal).catch(wrap),
    get: (key, signal) => storage.get(key, signal).catch(wrap),
    ...(storage.open ? { open: (key: string, signal?: AbortSignal) => storage.open!(key, signal).catch(wrap) } : {}),
    ...(storage.stream ? { stream: (key: string, signal?: AbortSignal) => storage.stream!(key, signal).catch(wrap) } : {}),
    ...(storage.list ? { list: storage.list.bind(storage) } : {}),
  };
}
