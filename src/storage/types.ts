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

/** An object's body as a stream: memory stays at a chunk or two whatever its size. */
export interface StreamedObject {
  meta: ObjectMeta;
  body: import('node:stream').Readable;
}

/**
 * An object opened where the decoder can read it itself (a local file), instead of its bytes in
 * memory: libvips reads the file as it decodes, which spares the copy of the whole original into
 * a buffer (and the garbage collections that many-megabyte buffers bring). `file` names the open
 * handle itself (`/proc/self/fd/N`), so it is the very file that was checked, whatever happens to
 * the path meanwhile; it stays valid until `close()`.
 */
export interface OpenedObject {
  meta: ObjectMeta;
  file: string;
  /** The first bytes (up to 4 KiB): enough to tell the format and refuse what must not be decoded. */
  head: Buffer;
  /** True when the file's size, modification or change time differ from when it was opened. */
  changed(): Promise<boolean>;
  /** The whole file, read through the same handle (for what must be decoded from memory). */
  read(): Promise<Buffer>;
  close(): Promise<void>;
}

/**
 * A source of originals. Both methods resolve to `undefined` when the object does not exist;
 * any other failure (denied, unreachable, timeout) rejects with a ServiceError (502/503/504) so
 * the caller never mistakes an outage for a 404.
 */
export interface Storage {
  head(key: string, signal?: AbortSignal): Promise<ObjectMeta | undefined>;
  /**
   * What head() would answer, when it is known at once without asking the source (a metadata
   * cache, see withMetaCache): the metadata, null for an object known to be missing, undefined
   * when head() must be asked.
   */
  knownHead?(key: string): ObjectMeta | null | undefined;
  get(key: string, signal?: AbortSignal): Promise<StoredObject | undefined>;
  /**
   * The body as a stream, for originals served untouched (where a source can stream; the others
   * are read whole with `get`). Like `get`, refuses objects over the source's byte cap.
   */
  stream?(key: string, signal?: AbortSignal): Promise<StreamedObject | undefined>;
  /** Only where the object is a local file the decoder can open (see OpenedObject). */
  open?(key: string, signal?: AbortSignal): Promise<OpenedObject | undefined>;
  /** Keys under a prefix, for `imagegate warm`. */
  list?(prefix: string, signal?: AbortSignal): AsyncIterable<string>;
}
