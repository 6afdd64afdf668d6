/**
 * HTTP origin source: originals fetched from `baseUrl + key` with the guarded client
 * (`http-client.ts`; the address policy is in `address-guard.ts`). This adapter maps keys to
 * URLs and origin answers to the Storage contract: status to found or missing, headers to an
 * object's identity and type.
 */
import type http from 'node:http';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { passiveImageType } from '../content-type.ts';
import { ServiceError, sourceTooLarge } from '../errors.ts';
import type { SourceConfig } from '../config/schema.ts';
import { createHttpClient, declaredLength, firstHeader, type HttpResponse } from './http-client.ts';
import type { ObjectMeta, Storage, StoredObject, StreamedObject } from './types.ts';

type HttpSourceConfig = Extract<SourceConfig, { type: 'http' }>;

/** Path-safe join of a storage key onto the base URL: each segment encoded, no dot segments. */
function keyUrl(base: URL, key: string): URL {
  const segments = key.replace(/^\/+/, '').split('/');
  if (segments.length === 0 || segments.some((s) => s === '' || s === '.' || s === '..')) {
    throw new ServiceError(400, 'invalid_path', 'Invalid image path');
  }
  if (segments.some((s) => s.includes('\0'))) {
    throw new ServiceError(400, 'invalid_path', 'Invalid image path');
  }
  const url = new URL(base.href);
  const basePath = url.pathname.endsWith('/') ? url.pathname : `${url.pathname}/`;
  url.pathname = basePath + segments.map((s) => encodeURIComponent(s)).join('/');
  return url;
}

function checkStatus(res: HttpResponse): 'missing' | 'ok' {
  if (res.status === 404 || res.status === 410) return 'missing';
  if (res.status >= 200 && res.status < 300) return 'ok';
  throw new ServiceError(502, 'source_error', `Source failed: origin answered ${res.status}`);
}

function metaFrom(headers: http.IncomingHttpHeaders, size: number, body?: Buffer): ObjectMeta | undefined {
  const lm = firstHeader(headers['last-modified']);
  const lastModified = lm && !Number.isNaN(Date.parse(lm)) ? new Date(lm) : undefined;
  let etag = firstHeader(headers.etag);
  if (!etag && lastModified) {
    etag = `"lm-${lastModified.getTime().toString(36)}-${size.toString(36)}"`;
  }
  if (!etag && body) etag = `"sha1-${createHash('sha1').update(body).digest('hex')}"`;
  if (!etag) return undefined;
  return {
    etag,
    size,
    lastModified,
    // Only an image type is worth passing on: an origin's HTML error page must never be
    // served as HTML from the image service's origin.
    contentType: passiveImageType(firstHeader(headers['content-type'])),
    cacheControl: firstHeader(headers['cache-control']),
  };
}

/** A body can be streamed when its length and identity are known before it is read. */
function streamable(headers: http.IncomingHttpHeaders): boolean {
  return declaredLength(headers) !== undefined && metaFrom(headers, 0) !== undefined;
}

interface HttpStorageOptions {
  /** Address policy; defaults to `isBlockedAddress`. Tests narrow it to stand a loopback origin in for a public one. */
  isBlockedAddress?: (address: string) => boolean;
}

/**
 * Create a `Storage` over an HTTP(S) origin. `head` and `get` resolve to `undefined` for
 * 404/410; any other failure rejects with ServiceError 502 `source_error`,
 * 502 `source_blocked_address`, 502 `source_too_large` or 504 `source_timeout`.
 */
export function createHttpStorage(cfg: HttpSourceConfig, options: HttpStorageOptions = {}): Storage {
  const base = new URL(cfg.baseUrl);
  if (base.protocol !== 'http:' && base.protocol !== 'https:') {
    throw new Error(`sources: http baseUrl must be http(s), got ${base.protocol}`);
  }
  const maxBytes = cfg.maxBytes ?? 50 * 1024 * 1024;
  const client = createHttpClient({
    allowPrivateNetworks: cfg.allowPrivateNetworks,
    isBlockedAddress: options.isBlockedAddress,
    maxBytes,
    timeoutMs: cfg.timeoutMs ?? 10_000,
    maxRedirects: cfg.maxRedirects ?? 3,
    origin: { origin: base.origin, headers: cfg.headers ?? {} },
  });

  async function get(key: string, signal?: AbortSignal): Promise<StoredObject | undefined> {
    const res = await client.fetch(keyUrl(base, key), { method: 'GET', signal });
    if (checkStatus(res) === 'missing') return undefined;
    const body = res.body ?? Buffer.alloc(0);
    const meta = metaFrom(res.headers, body.length, body)!;
    return { meta, body };
  }

  async function head(key: string, signal?: AbortSignal): Promise<ObjectMeta | undefined> {
    const res = await client.fetch(keyUrl(base, key), { method: 'HEAD', signal });
    // Origins that do not support HEAD, or say too little to identify the object: use GET.
    if (res.status === 405 || res.status === 501) return (await get(key, signal))?.meta;
    if (checkStatus(res) === 'missing') return undefined;
    const length = declaredLength(res.headers);
    if (length !== undefined && length > maxBytes) throw sourceTooLarge(maxBytes);
    const meta = length !== undefined ? metaFrom(res.headers, length) : undefined;
    if (meta) return meta;
    return (await get(key, signal))?.meta;
  }

  /**
   * An untouched original, streamed from the origin: the byte cap holds while it streams, and
   * reading only its first bytes (a HEAD) then destroying it closes the origin connection, so
   * the rest is never fetched. An origin that sends no Content-Length, or neither ETag nor
   * Last-Modified, is read whole (capped) since its size or identity needs the whole body.
   */
  async function stream(key: string, signal?: AbortSignal): Promise<StreamedObject | undefined> {
    const res = await client.fetch(keyUrl(base, key), { method: 'GET', signal, stream: streamable });
    if (checkStatus(res) === 'missing') return undefined;
    if (res.stream) {
      // streamable() let only an answer with a declared length stream.
      return { meta: metaFrom(res.headers, declaredLength(res.headers)!)!, body: res.stream };
    }
    const body = res.body ?? Buffer.alloc(0);
    return { meta: metaFrom(res.headers, body.length, body)!, body: Readable.from([body]) };
  }

  return { head, get, stream };
}
