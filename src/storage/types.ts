/** What a source knows about an object without reading its body. */
export interface ObjectMeta {
  /** Strong identity of the object's current content (S3 ETag, or size+mtime for files). */
  etag: string;
  size: number;
  lastModified?: Date;
  /** Content type as stored by the source (S3 metadata); the service detects the real one from bytes. */
  contentType?: string;
  /** The object's own Cache-Control (S3 metadata); it wins over the configured default. */
  cacheControl?: string;
}

export interface StoredObject {
  meta: ObjectMeta;
  body: Buffer;
}

/**
 * A source of originals. Both methods resolve to `undefined` when the object does not exist;
 * any other failure (denied, unreachable, timeout) rejects with a ServiceError (502/503/504) so
 * the caller never mistakes an outage for a 404.
 */
export interface Storage {
  head(key: string, signal?: AbortSignal): Promise<ObjectMeta | undefined>;
  get(key: string, signal?: AbortSignal): Promise<StoredObject | undefined>;
  /** Keys under a prefix, for `imagegate warm`. */
  list?(prefix: string, signal?: AbortSignal): AsyncIterable<string>;
}
