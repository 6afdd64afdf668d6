/** The respond stage: the image route's response headers and its Response. */
import type { Context } from 'hono';
import type { Config } from '../../config/schema.ts';
import type { ObjectMeta } from '../../storage/types.ts';
import { cacheControlUntil } from '../../request/signature.ts';
import { contentDisposition } from '../../request/download.ts';
import type { CachedResult } from '../../cache/index.ts';
import { mergeHeaders, takeResponseHeaders, type AppEnv, type Credential } from '../context.ts';
import type { Derived } from './derive.ts';

/** A year: what a CDN may keep a signed or public answer for. */
const LONG_LIVED = 31_536_000;

/**
 * The headers every answer for this request carries, 200 or 304: ETag, Cache-Control (bounded
 * by `expires`), Last-Modified, Vary and Accept-CH, Content-Disposition for `dl=`.
 */
export function imageHeaders(
  config: Config,
  { request, negotiated }: Derived,
  meta: ObjectMeta,
  etag: string,
  credential: Credential | undefined,
  expires: number | undefined,
  relative: string,
): Record<string, string> {
  const { opts } = request;
  const headers: Record<string, string> = {
    ETag: etag,
    'Cache-Control': cacheControlUntil(cacheControl(config, meta, request.match.source, request.versioned, credential, expires !== undefined), expires),
    'X-Content-Type-Options': 'nosniff',
  };
  if (meta.lastModified) headers['Last-Modified'] = httpDate(meta, meta.lastModified);
  // Built once per derivation (derive.ts).
  const { hints } = request;
  if (negotiated.vary) headers.Vary = request.varyAccept;
  else if (hints) headers.Vary = hints;
  if (hints) headers['Accept-CH'] = hints;
  if (opts.dl !== undefined) headers['Content-Disposition'] = contentDisposition(opts.dl, relative);
  return headers;
}

/**
 * Cache-Control before `expires` bounds it: the stored object's own, else the source's, else —
 * for a request let in by a signature or on a public source, which any cache may share — a year
 * (`immutable` when the URL names the version with `v=` and has no `expires`); keyed requests
 * get `server.cacheControl`.
 */
export function cacheControl(config: Config, meta: ObjectMeta, source: string, versioned: boolean, credential: Credential | undefined, expiring: boolean): string {
  const own = meta.cacheControl ?? config.sources[source].cacheControl;
  if (own !== undefined) return own;
  if (credential !== 'signed' && credential !== 'anonymous') return config.server.cacheControl;
  return `public, max-age=${LONG_LIVED}${versioned && !expiring ? ', immutable' : ''}`;
}

/** Last-Modified as HTTP states it, formatted once per source answer (the meta cache hands out the same object). */
const httpDates = new WeakMap<ObjectMeta, string>();
function httpDate(meta: ObjectMeta, lastModified: Date): string {
  let s = httpDates.get(meta);
  if (s === undefined) httpDates.set(meta, (s = lastModified.toUTCString()));
  return s;
}

/** A rendered (or cached) result's own headers, type and length, over the request's. */
export function resultHeaders(headers: Record<string, string>, result: CachedResult): void {
  Object.assign(headers, result.headers);
  headers['Content-Type'] = result.contentType;
  headers['Content-Length'] = String(result.body.length);
}

/**
 * The image route's response: its plain header object takes the request's pending headers
 * (request id, rate limits). A response whose body is bytes (or none) also carries its parts as
 * they are (`plainAnswer`), so the Node server can write them without reading the Response back.
 */
export function respond(c: Context<AppEnv>, status: 200 | 304, headers: Record<string, string>, body: Buffer | ReadableStream<Uint8Array> | null): Response {
  const pending = takeResponseHeaders(c);
  if (pending) mergeHeaders(headers, pending);
  const bytes = body === null || c.req.method === 'HEAD' ? null : Buffer.isBuffer(body) ? bytesOf(body) : body;
  const res = new Response(bytes, { status, headers });
  if (!(bytes instanceof ReadableStream)) (res as Tagged)[PLAIN] = { status, headers, body: bytes ?? undefined };
  return res;
}

/** A response's status, headers and body as `respond` built them (undefined for any other Response). */
export interface PlainAnswer {
  status: number;
  headers: Record<string, string>;
  body: Uint8Array | undefined;
}

const PLAIN = Symbol('imagegate.plainAnswer');
type Tagged = Response & { [PLAIN]?: PlainAnswer };

/**
 * The parts `respond` built `res` from. Nothing changes a response's headers after `respond`
 * (the pending ones are merged into it there); a layer that wanted to would set `c.res` to a
 * new Response, which carries no parts.
 */
export function plainAnswer(res: Response): PlainAnswer | undefined {
  return (res as Tagged)[PLAIN];
}

/** A view of a Buffer's bytes for a Response body, without copying them. */
export function bytesOf(buf: Buffer): Uint8Array<ArrayBuffer> {
  return new Uint8Array(buf.buffer as ArrayBuffer, buf.byteOffset, buf.byteLength);
}
