import type { Context } from 'hono';
import type { Config } from '../config/schema.ts';
import { ServiceError } from '../errors.ts';
import type { CompiledRoute } from '../routes/match.ts';
import { matchRoute } from '../routes/match.ts';
import { normaliseImagePath } from '../routes/path.ts';
import { canonicalKey, isIdentity, parseTransform } from '../request/params.ts';
import { negotiateFormat } from '../request/negotiate.ts';
import { verifySignature } from '../request/signature.ts';
import { runPipeline } from '../pipeline/run.ts';
import { detectContentType } from '../pipeline/detect.ts';
import type { ObjectMeta, Storage } from '../storage/types.ts';
import { cacheKey, deadlineSignal, etagFor, lazyDeadline, matchesIfNoneMatch } from '../cache/index.ts';
import type { CachedResult, ResultCache, SingleFlight, WorkLimiter } from '../cache/index.ts';
import type { AppEnv } from './context.ts';
import { requestTarget } from './target.ts';

export interface ImageDeps {
  config: Config;
  routes: CompiledRoute[];
  storages: Record<string, Storage>;
  /** Signing token per source name, for sources with `signing:`. */
  signing: Record<string, { token: string; required: boolean; path: 'request' | 'afterBasePath' }>;
  cache: ResultCache;
  flight: SingleFlight;
  limiter: WorkLimiter;
  /** Per-request deadline for source reads and transformations, milliseconds. */
  deadlineMs: number;
  /** Called once per transformation actually run (metrics, tests). */
  onTransform?: (info: { format: string; ms: number }) => void;
  /** Called with the time a source read took (metrics). */
  onSourceFetch?: (info: { source: string; ms: number }) => void;
}

/**
 * The image route: target → signature → route → options → source identity → conditional →
 * cache → (single-flight, bounded) transformation → response. Everything that can answer
 * without reading the source body does so first.
 */
export function imageHandler(deps: ImageDeps) {
  const { config } = deps;
  const anySigned = Object.keys(deps.signing).length > 0;

  return async (c: Context<AppEnv>) => {
    c.set('routeLabel', 'image');
    const target = requestTarget(c, config.server.basePath);
    const relative = target.imagePath.replace(/^\/+/, '');
    const notFound = () => new ServiceError(404, 'not_found', `Invalid image path: ${safeForMessage(relative)}`);
    if (!target.inBasePath) throw notFound();

    // With signed sources, find the route on a lenient decoding first, so a signed source checks
    // its signature before anything else judges the path: a tampered URL is a 403 even if it is
    // also a 400.
    let signedMatch: { path: string; match: ReturnType<typeof matchRoute> } | undefined;
    if (anySigned) {
      const lenient = lenientDecode(relative);
      if (lenient === '') throw new ServiceError(400, 'missing_path', 'Missing image path');
      const firstMatch = matchRoute(deps.routes, lenient);
      signedMatch = { path: lenient, match: firstMatch };
      const signing = firstMatch ? deps.signing[firstMatch.source] : undefined;
      if (signing) {
        const signedPath = signing.path === 'afterBasePath' ? `/${relative}` : target.clientPath;
        const hasSignature = target.rawQueries.some((q) => /(^|&)s=/.test(q));
        if (signing.required || hasSignature) verifyAny(signedPath, target.rawQueries, signing.token);
      }
    }

    const path = normaliseImagePath(target.imagePath, config.server.maxPathLength);
    const match = signedMatch !== undefined && signedMatch.path === path ? signedMatch.match : matchRoute(deps.routes, path);
    if (!match) throw notFound();
    const storage = deps.storages[match.source];

    const query = new URLSearchParams(target.rawQueries[0] ?? '');
    const opts = parseTransform(query, config.transform);
    const negotiated = negotiateFormat(opts, c.req.header('accept'));
    const identity = isIdentity(opts, negotiated);

    // The deadline is fixed now; the signal tied to the client is built only where work starts, so hits and 304s
    // pay little for it (no client signal, which would build a full Request).
    const dl = lazyDeadline(deps.deadlineMs, () => c.req.raw.signal);
    const fetchObject = async (signal: AbortSignal) => {
      const t0 = performance.now();
      const obj = await storage.get(match.key, signal);
      deps.onSourceFetch?.({ source: match.source, ms: performance.now() - t0 });
      if (!obj) throw notFound();
      return obj;
    };
    // Bounded by the deadline too: the sources are wrapped with it (see createApp).
    const meta = await storage.head(match.key);
    if (!meta) throw notFound();

    const key = identity
      ? undefined
      : cacheKey({
          source: match.source,
          key: match.key,
          etag: meta.etag,
          options: canonicalKey(opts) + (await markIdentity(deps, opts.mark)),
          format: negotiated.format ?? 'source',
        });
    const etag = key ? etagFor(key) : meta.etag;
    const headers: Record<string, string> = {
      ETag: etag,
      'Cache-Control': meta.cacheControl ?? config.sources[match.source].cacheControl ?? config.server.cacheControl,
      'X-Content-Type-Options': 'nosniff',
    };
    if (meta.lastModified) headers['Last-Modified'] = meta.lastModified.toUTCString();
    if (negotiated.vary) headers.Vary = 'Accept';

    if (notModified(c, etag, meta)) return new Response(null, { status: 304, headers });

    if (identity) {
      const obj = await fetchObject(dl.signal);
      headers.ETag = obj.meta.etag;
      headers['Content-Type'] = originalContentType(obj.body, obj.meta.contentType);
      // An SVG opened directly must not run its scripts on the image origin.
      if (headers['Content-Type'] === 'image/svg+xml') headers['Content-Security-Policy'] = "default-src 'none'; style-src 'unsafe-inline'; sandbox";
      headers['Content-Length'] = String(obj.body.length);
      c.set('responseBytes', obj.body.length);
      return new Response(c.req.method === 'HEAD' ? null : bytesOf(obj.body), { status: 200, headers });
    }

    const hit = await deps.cache.get(key!);
    let result: CachedResult;
    if (hit) {
      c.set('cacheHit', hit.tier);
      result = hit.value;
    } else {
      // The shared render gets a deadline of its own, not the first caller's connection: a
      // client that goes away must not fail the others waiting on the same derivative.
      result = await deps.flight.do(key!, async () => {
        const signal = deadlineSignal(Math.max(1, dl.deadline - Date.now()));
        const value = await deps.limiter.run(async () => {
          const obj = await fetchObject(signal);
          const started = performance.now();
          const out = await runPipeline(obj.body, opts, {
            config: config.transform,
            format: negotiated.format,
            deadline: dl.deadline,
            loadMark: (markPath) => loadMark(deps, markPath, signal),
          });
          deps.onTransform?.({ format: out.contentType, ms: performance.now() - started });
          return { body: out.body, contentType: out.contentType, headers: out.headers, createdAt: Date.now() } satisfies CachedResult;
        }, signal);
        // Written after the render slot is released: a slow persistent tier never holds a core.
        await deps.cache.set(key!, value);
        return value;
      });
      c.set('transformed', true);
    }
    Object.assign(headers, result.headers);
    headers['Content-Type'] = result.contentType;
    headers['Content-Length'] = String(result.body.length);
    c.set('responseBytes', result.body.length);
    return new Response(c.req.method === 'HEAD' ? null : bytesOf(result.body), { status: 200, headers });
  };
}

/** A view of a Buffer's bytes for a Response body, without copying them. */
function bytesOf(buf: Buffer): Uint8Array<ArrayBuffer> {
  return new Uint8Array(buf.buffer as ArrayBuffer, buf.byteOffset, buf.byteLength);
}

function notModified(c: Context<AppEnv>, etag: string, meta: ObjectMeta): boolean {
  const inm = c.req.header('if-none-match');
  if (inm !== undefined) return matchesIfNoneMatch(inm, etag);
  const ims = c.req.header('if-modified-since');
  if (ims && meta.lastModified) {
    const since = Date.parse(ims);
    return Number.isFinite(since) && Math.floor(meta.lastModified.getTime() / 1000) <= Math.floor(since / 1000);
  }
  return false;
}

/**
 * The type of an original comes from its bytes. A stored type is trusted only when it names a
 * passive image type: HTML or script in a bucket is never served as an active type.
 */
function originalContentType(body: Buffer, stored: string | undefined): string {
  const detected = detectContentType(body);
  if (detected) return detected;
  const type = stored?.split(';')[0].trim().toLowerCase();
  return type && /^image\/[a-z0-9.+-]+$/.test(type) && !type.includes('svg') ? type : 'application/octet-stream';
}

function verifyAny(path: string, rawQueries: string[], token: string): void {
  let firstError: unknown;
  for (const q of rawQueries.length ? rawQueries : ['']) {
    try {
      verifySignature(q ? `${path}?${q}` : path, token);
      return;
    } catch (err) {
      firstError ??= err;
      if (err instanceof ServiceError && err.code === 'expired_signature') throw err;
    }
  }
  throw firstError;
}

/** Watermarks come from the same routes and sources as images, never from outside them. */
function resolveMark(deps: ImageDeps, markPath: string): { storage: Storage; key: string } | undefined {
  let rel = markPath.replace(/^\/+/, '');
  const base = deps.config.server.basePath.replace(/^\//, '');
  if (base && rel.startsWith(`${base}/`)) rel = rel.slice(base.length + 1);
  let path: string;
  try {
    path = normaliseImagePath(rel, deps.config.server.maxPathLength);
  } catch {
    return undefined;
  }
  const m = matchRoute(deps.routes, path);
  return m ? { storage: deps.storages[m.source], key: m.key } : undefined;
}

async function loadMark(deps: ImageDeps, markPath: string, signal: AbortSignal): Promise<Buffer | undefined> {
  const mark = resolveMark(deps, markPath);
  return mark ? (await mark.storage.get(mark.key, signal))?.body : undefined;
}

/** The watermark's identity joins the cache key, so a replaced mark is a new derivative. */
async function markIdentity(deps: ImageDeps, markPath: string | undefined): Promise<string> {
  if (!markPath) return '';
  const mark = resolveMark(deps, markPath);
  const meta = mark ? await mark.storage.head(mark.key) : undefined;
  return `\nmark=${meta?.etag ?? 'missing'}`;
}

function lenientDecode(p: string): string {
  try {
    return decodeURIComponent(p);
  } catch {
    return p;
  }
}

function safeForMessage(p: string): string {
  const cleaned = lenientDecode(p).replace(/[\x00-\x1f\x7f]/g, '?');
  return cleaned.length > 200 ? `${cleaned.slice(0, 200)}…` : cleaned;
}
