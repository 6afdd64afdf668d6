import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import { ServiceError, sourceTooLarge } from '../errors.ts';
import type { ObjectMeta, Storage } from './types.ts';

interface S3StorageConfig {
  bucket: string;
  prefix: string;
  region?: string;
  endpoint?: string;
  forcePathStyle: boolean;
  timeoutMs: number;
  /** Largest object read, bytes (on its Content-Length, before the body): 502 `source_too_large`. */
  maxBytes?: number;
}

/** Build an S3 client from a source's settings; credentials come from the usual AWS chain. */
export function s3ClientFor(cfg: { region?: string; endpoint?: string; forcePathStyle?: boolean }): S3Client {
  const opts: S3ClientConfig = {
    // The resolved config names the environment's region where the file names none (config/resolve.ts).
    region: cfg.region ?? 'us-east-1',
    forcePathStyle: cfg.forcePathStyle ?? false,
    maxAttempts: 2,
  };
  if (cfg.endpoint) opts.endpoint = cfg.endpoint;
  return new S3Client(opts);
}

/**
 * An S3 bucket (or any S3-compatible store) under a key prefix. Missing objects resolve to
 * `undefined`; denied, unreachable and slow are distinct 5xx errors, never a fake 404.
 */
export function createS3Storage(cfg: S3StorageConfig, client: S3Client = s3ClientFor(cfg)): Storage {
  const full = (key: string) => cfg.prefix + key;
  // Once any call has succeeded the bucket is known to exist and a HEAD 404 means a missing key.
  let bucketSeen = false;

  async function call<T>(what: string, fn: (signal: AbortSignal) => Promise<T>, outer?: AbortSignal): Promise<T | undefined> {
    // A plain timer and controller: on Node 20 a timeout signal inside AbortSignal.any() can be
    // garbage-collected and never fire.
    const controller = new AbortController();
    const signal = controller.signal;
    const timer = setTimeout(() => controller.abort(new DOMException('S3 call timed out', 'TimeoutError')), cfg.timeoutMs);
    const onOuter = () => controller.abort(outer!.reason);
    if (outer?.aborted) onOuter();
    else outer?.addEventListener('abort', onOuter, { once: true });
    try {
      return await fn(signal);
    } catch (err) {
      if (err instanceof ServiceError) throw err;
      const e = err as { name?: string; $metadata?: { httpStatusCode?: number }; code?: string };
      const status = e.$metadata?.httpStatusCode;
      if (e.name === 'NoSuchBucket') {
        throw new ServiceError(502, 'source_misconfigured', `Source bucket does not exist (${what})`, { cause: err });
      }
      if (status === 404 || e.name === 'NotFound' || e.name === 'NoSuchKey') return undefined;
      if (signal.aborted) {
        throw new ServiceError(504, 'source_timeout', `Source did not answer in time (${what})`, { cause: err });
      }
      if (status === 403 || e.name === 'AccessDenied' || e.name === 'Forbidden') {
        throw new ServiceError(502, 'source_denied', `Source refused access (${what})`, { cause: err });
      }
      if (status === undefined || status >= 500) {
        throw new ServiceError(503, 'source_unavailable', `Source is unavailable (${what})`, { cause: err });
      }
      throw new ServiceError(502, 'source_error', `Source failed (${what}: ${status})`, { cause: err });
    } finally {
      clearTimeout(timer);
      outer?.removeEventListener('abort', onOuter);
    }
  }

  /** GetObject of a key; an object over the cap is refused on its declared length, its body never read. */
  async function getObject(key: string, abortSignal: AbortSignal) {
    const r = await client.send(new GetObjectCommand({ Bucket: cfg.bucket, Key: full(key) }), { abortSignal });
    if (cfg.maxBytes !== undefined && (r.ContentLength ?? 0) > cfg.maxBytes) {
      (r.Body as Readable | undefined)?.destroy?.();
      throw sourceTooLarge(cfg.maxBytes);
    }
    bucketSeen = true;
    return r;
  }

  return {
    head(key, signal) {
      return call(
        'head',
        async (abortSignal) => {
          try {
            const r = await client.send(new HeadObjectCommand({ Bucket: cfg.bucket, Key: full(key) }), { abortSignal });
            bucketSeen = true;
            return metaOf(r, r.ContentLength ?? 0);
          } catch (err) {
            // A HEAD 404 has no body, so a missing bucket looks like a missing key. Ask once
            // more with a one-byte GET, whose error names which one is missing.
            if (bucketSeen || (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode !== 404) throw err;
            try {
              await client.send(new GetObjectCommand({ Bucket: cfg.bucket, Key: full(key), Range: 'bytes=0-0' }), { abortSignal });
            } catch (probe) {
              if ((probe as { name?: string }).name === 'NoSuchKey') bucketSeen = true;
              throw probe;
            }
            throw err;
          }
        },
        signal,
      );
    },
    get(key, signal) {
      return call(
        'get',
        async (abortSignal) => {
          const r = await getObject(key, abortSignal);
          const bytes = await r.Body!.transformToByteArray();
          const body = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
          return { meta: metaOf(r, body.length), body };
        },
        signal,
      );
    },
    stream(key, signal) {
      return call(
        'get',
        async (abortSignal) => {
          const r = await getObject(key, abortSignal);
          return { meta: metaOf(r, r.ContentLength ?? 0), body: r.Body as Readable };
        },
        signal,
      );
    },
    async *list(prefix, signal) {
      let token: string | undefined;
      do {
        const page = await call(
          'list',
          (abortSignal) =>
            client.send(
              new ListObjectsV2Command({ Bucket: cfg.bucket, Prefix: full(prefix), ContinuationToken: token }),
              { abortSignal },
            ),
          signal,
        );
        if (!page) return;
        for (const o of page.Contents ?? []) {
          if (o.Key && !o.Key.endsWith('/')) yield o.Key.slice(cfg.prefix.length);
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    },
  };
}

function metaOf(
  r: { ETag?: string; LastModified?: Date; ContentType?: string; CacheControl?: string; VersionId?: string },
  size: number,
): ObjectMeta {
  return {
    etag: r.ETag ?? (r.VersionId ? `"v-${r.VersionId}"` : `"${size}-${r.LastModified?.getTime() ?? 0}"`),
    size,
    lastModified: r.LastModified,
    contentType: r.ContentType,
    cacheControl: r.CacheControl,
  };
}
