import type { Context } from 'hono';
import type { Config } from '../config/schema.ts';
import { ServiceError, sourceChanged, sourceTooLarge } from '../errors.ts';
import { LRUCache } from 'lru-cache';
import type { CompiledRoute, RouteMatch } from '../routes/match.ts';
import { matchRoute, routeSource } from '../routes/match.ts';
import { normaliseImagePath } from '../routes/path.ts';
import { canonicalKey, isIdentity, parseTransform, type TransformOptions } from '../request/params.ts';
import { overlayPaths } from '../request/overlays.ts';
import { clientHintHeaders, clientHintQuery } from '../request/hints.ts';
import { formatKey, negotiateFormat, type NegotiatedFormat } from '../request/negotiate.ts';
import { cacheControlUntil, checkExpires } from '../request/signature.ts';
import { contentDisposition } from '../request/download.ts';
import { runPipeline } from '../pipeline/run.ts';
import type { PipelineInput } from '../pipeline/context.ts';
import { detectContentType, originalContentType } from '../content-type.ts';
import type { ObjectMeta, Storage, StoredObject } from '../storage/types.ts';
import { cacheKey, deadlineSignal, etagFor, matchesIfNoneMatch } from '../cache/index.ts';
import type { ByteBudget, CachedResult, ResultCache, SingleFlight, WorkLimiter } from '../cache/index.ts';
import type { Masters } from '../masters/index.ts';
import { mergeHeaders, takeResponseHeaders, type AppEnv } from './context.ts';
import { requestTarget } from './target.ts';
import { checkSigning, markAccess, type AccessRules, type SigningRule } from './access.ts';

export interface ImageDeps {
  config: Config;
  routes: CompiledRoute[];
  storages: Record<string, Storage>;
  /** Signing token per source name, for sources with `signing:`. */
  signing: Record<string, SigningRule>;
  cache: ResultCache;
  flight: SingleFlight;
  limiter: WorkLimiter;
  /** Per-request deadline for source reads and transformations, milliseconds. */
  deadlineMs: number;
  /** Bytes of originals held in memory, process-wide (`limits.maxBytesInFlight`). */
  bytes: ByteBudget;
  /** Renders eligible derivatives from their original's master (see src/masters). */
  masters?: Masters;
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
  const rules: AccessRules = {
    routes: deps.routes,
    signing: deps.signing,
    basePath: config.server.basePath,
    maxPathLength: config.server.maxPathLength,
    access: Object.fromEntries(Object.entries(config.sources).map(([name, s]) => [name, s.access])),
  };

  // Path → route → options is a pure function of the target, so a URL asked for again (a cache
  // hit, a 304) skips it; so is the output format, unless auto=format lets the Accept header
  // choose it. Only targets that parsed are remembered, within a budget of about 16 MB (an entry
  // with its options, route match and cache keys is counted as 1.5 KB plus twice its target).
  const derived = new LRUCache<string, DerivedRequest>({ maxSize: 16_000_000, sizeCalculation: (_, k) => 2 * k.length + 1500 });
  const derive = (imagePath: string, rawQuery: string): DerivedRequest | undefined => {
    const memoKey = `${imagePath}?${rawQuery}`;
    let d = derived.get(memoKey);
    if (d) return d;
    const path = normaliseImagePath(imagePath, config.server.maxPathLength);
    const match = matchRoute(deps.routes, path);
    if (!match) return undefined;
    // Shared by every later request for the same target: frozen, so nothing downstream can change it.
    const opts = Object.freeze(parseTransform(new URLSearchParams(rawQuery), config.transform));
    const byAccept = !opts.fm && opts.auto?.includes('format') === true;
    const negotiated = byAccept ? undefined : Object.freeze(negotiateFormat(opts, undefined));
    d = {
      match,
      opts,
      options: canonicalKey(opts),
      fixed: negotiated && { negotiated, identity: isIdentity(opts, negotiated) },
      last: new Map(),
      versioned: /(^|&)v=[^&]/.test(rawQuery),
    };
    derived.set(memoKey, d);
    return d;
  };

  return async (c: Context<AppEnv>) => {
    c.set('routeLabel', 'image');
    const target = c.get('target') ?? requestTarget(c, config.server.basePath);
    const relative = target.imagePath.replace(/^\/+/, '');
    if (!target.inBasePath) throw notFound(relative);

    // With signed sources, find the route on a lenient decoding first, so a signed source checks
    // its signature before anything else judges the path: a tampered URL is a 403 even if it is
    // also a 400. The query that is rendered is the one that was verified (an adapter may offer
    // several spellings of one query; see RequestTarget): the one the access decision verified
    // (a key's secret, or a `signed` source's token), else the one the source's signing rule
    // verifies here.
    let query = target.rawQueries[0] ?? '';
    let verifiedSource: string | undefined;
    const verifiedQuery = c.get('verifiedQuery');
    if (verifiedQuery !== undefined) {
      query = verifiedQuery;
      verifiedSource = c.get('source');
    } else if (anySigned) {
      const lenient = lenientDecode(relative);
      if (lenient === '') throw new ServiceError(400, 'missing_path', 'Missing image path');
      const firstSource = routeSource(deps.routes, lenient);
      const rule = firstSource ? deps.signing[firstSource] : undefined;
      const verified = rule && checkSigning(rule, rule.path === 'afterBasePath' ? `/${relative}` : target.clientPath, target.rawQueries);
      if (verified !== undefined) {
        query = verified;
        verifiedSource = firstSource;
      }
    }

    // imgix enforces `expires` on every URL, signed or not, and no cache keeps the answer past it.
    const expires = checkExpires(query);
    let request = derive(target.imagePath, query);
    if (!request) throw notFound(relative);
    // ch=…: client hints stand for parameters, appended to the verified query (the last value wins).
    const hinted = request.opts.ch ? clientHintQuery(request.opts, (n) => c.req.header(n), config.transform.compressQuality) : '';
    if (hinted) request = derive(target.imagePath, `${query}&${hinted}`) ?? request;
    const { match, opts } = request;
    // Anything a parameter pulls in (watermark, blend and mask images) passes the same access decision, before any source is asked.
    const verifiedFor = verifiedSource === match.source ? verifiedSource : undefined;
    const requester = { source: match.source, keyed: c.get('apiKey') !== undefined };
    const layers = new Map(overlayPaths(opts).map(([name, path]) => [path, { name, match: markAccess(rules, path, verifiedFor, requester) }]));
    let negotiated: NegotiatedFormat;
    let identity: boolean;
    if (request.fixed) ({ negotiated, identity } = request.fixed);
    else {
      negotiated = negotiateFormat(opts, c.req.header('accept'));
      identity = isIdentity(opts, negotiated);
    }

    // The deadline is fixed now; signals are built only where work starts, so hits and 304s pay nothing for them.
    const deadline = Date.now() + deps.deadlineMs;
    // Bounded by the deadline too: the sources are wrapped with it (see createApp).
    const meta = await deps.storages[match.source].head(match.key);
    if (!meta) throw notFound(relative);
    // Every source kind, on the size it reports, before the body is read.
    if (meta.size > config.limits.maxOriginalBytes) throw sourceTooLarge(config.limits.maxOriginalBytes);

    let key: string | undefined;
    let etag = meta.etag;
    if (!identity) {
      const markId = (await Promise.all([...layers].map(([path, l]) => (l.match ? markIdentity(deps, l.match, l.name) : `\n${l.name}=missing:${path}`)))).join('');
      const format = formatKey(negotiated);
      const last = request.last.get(format);
      if (last && last.sourceEtag === meta.etag && last.mark === markId) {
        ({ key, etag } = last);
      } else {
        key = cacheKey({ source: match.source, key: match.key, etag: meta.etag, options: request.options + markId, format });
        etag = etagFor(key);
        request.last.set(format, { sourceEtag: meta.etag, mark: markId, key, etag });
      }
    }
    const headers: Record<string, string> = {
      ETag: etag,
      'Cache-Control': cacheControlUntil(cacheControl(c, meta, config, request, expires !== undefined), expires),
      'X-Content-Type-Options': 'nosniff',
    };
    if (meta.lastModified) headers['Last-Modified'] = httpDate(meta, meta.lastModified);
    const hints = clientHintHeaders(opts);
    if (negotiated.vary || hints.length) headers.Vary = [...(negotiated.vary ? ['Accept'] : []), ...hints].join(', ');
    if (hints.length) headers['Accept-CH'] = hints.join(', ');
    if (opts.dl !== undefined) headers['Content-Disposition'] = contentDisposition(opts.dl, relative);

    if (notModified(c, etag, meta)) return respond(c, 304, headers, null);

    if (identity) {
      // The client's signal too: an original nobody waits for any more is not read to the end.
      const obj = await readOriginal(deps, match, relative, deadlineSignal(Math.max(1, deadline - Date.now()), c.req.raw.signal), c.req.method === 'HEAD');
      headers.ETag = obj.meta.etag;
      headers['Content-Type'] = originalContentType(obj.head, obj.meta.contentType);
      // An SVG opened directly must not run its scripts on the image origin.
      if (headers['Content-Type'] === 'image/svg+xml') headers['Content-Security-Policy'] = "default-src 'none'; style-src 'unsafe-inline'; sandbox";
      headers['Content-Length'] = String(obj.size);
      c.set('responseBytes', obj.size);
      return respond(c, 200, headers, obj.body);
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
        const signal = deadlineSignal(Math.max(1, deadline - Date.now()));
        const direct = () => deps.limiter.run(async () => {
          const source = await openSource(deps, match, relative, signal);
          const started = performance.now();
          const held: Array<() => void> = [];
          let out: Awaited<ReturnType<typeof runPipeline>>;
          try {
            out = await runPipeline(source.input, opts, {
              config: config.transform,
              format: negotiated.format,
              insteadOfAvif: negotiated.insteadOfAvif,
              deadline,
              loadMark: async (path) => {
                const layer = layers.get(path)?.match;
                if (!layer) return undefined;
                const m = await readWhole(deps, layer, signal);
                if (m) held.push(m.release);
                return m?.body;
              },
            });
            // A file rewritten in place while libvips read it: the render mixes two versions, and
            // would be cached under the old one's identity.
            if (await source.changed?.()) throw sourceChanged();
          } finally {
            for (const release of held) release();
            await source.close?.();
          }
          deps.onTransform?.({ format: out.contentType, ms: performance.now() - started });
          return { body: out.body, contentType: out.contentType, headers: out.headers, createdAt: Date.now() } satisfies CachedResult;
        }, signal);
        const value = deps.masters ? await deps.masters.render({ match, etag: meta.etag, opts, negotiated, deadline, signal }, direct) : await direct();
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
    return respond(c, 200, headers, result.body);
  };
}

/** What a request target comes to, before any source is asked. */
interface DerivedRequest {
  match: RouteMatch;
  opts: Readonly<TransformOptions>;
  /** canonicalKey(opts). */
  options: string;
  /** The output format and whether nothing changes, when the Accept header cannot change them. */
  fixed?: { negotiated: NegotiatedFormat; identity: boolean };
  /** The URL names a version of its original (`v=`), so its answer never changes. */
  versioned: boolean;
  /** Per output format: the cache key and ETag last built, and the source (and watermark) identity they were built from. */
  last: Map<string, { sourceEtag: string; mark: string; key: string; etag: string }>;
}

/** A year: what a CDN may keep a signed or public answer for. */
const LONG_LIVED = 31_536_000;

/**
 * Cache-Control before `expires` bounds it: the stored object's own, else the source's, else —
 * for a request let in by a signature or on a public source, which any cache may share — a year
 * (`immutable` when the URL names the version with `v=` and has no `expires`); keyed requests
 * get `server.cacheControl`.
 */
function cacheControl(c: Context<AppEnv>, meta: ObjectMeta, config: Config, { match, versioned }: DerivedRequest, expiring: boolean): string {
  const own = meta.cacheControl ?? config.sources[match.source].cacheControl;
  if (own !== undefined) return own;
  const credential = c.get('credential');
  if (credential !== 'signed' && credential !== 'anonymous') return config.server.cacheControl;
  return `public, max-age=${LONG_LIVED}${versioned && !expiring ? ', immutable' : ''}`;
}

function notFound(relative: string): ServiceError {
  return new ServiceError(404, 'not_found', `Invalid image path: ${safeForMessage(relative)}`);
}

/**
 * An object read whole into memory, its size counted against the byte budget until `release`
 * (the size comes from the source's metadata; the source's byte cap refuses larger ones).
 * Undefined when the object is missing. Only route matches from the access decision get here.
 */
async function readWhole(deps: Pick<ImageDeps, 'storages' | 'bytes' | 'onSourceFetch'>, match: RouteMatch, signal: AbortSignal): Promise<(StoredObject & { release: () => void }) | undefined> {
  const storage = deps.storages[match.source];
  const meta = await storage.head(match.key, signal);
  if (!meta) return undefined;
  const release = await deps.bytes.acquire(meta.size, signal);
  try {
    const t0 = performance.now();
    const obj = await storage.get(match.key, signal);
    deps.onSourceFetch?.({ source: match.source, ms: performance.now() - t0 });
    if (!obj) release();
    return obj && { ...obj, release };
  } catch (err) {
    release();
    throw err;
  }
}

/** What an untouched original is sent from: its first bytes (for its type), its size and its body. */
interface OriginalBody {
  meta: ObjectMeta;
  head: Buffer;
  size: number;
  /** Null for HEAD: nothing past the first bytes is read. */
  body: ReadableStream<Uint8Array> | null;
}

/** A streamed original holds about this much memory (the reader's chunks and the socket's buffer). */
const STREAM_WINDOW = 256 * 1024;

/**
 * An original served untouched: streamed where the source can (memory stays at a chunk or two
 * whatever the size), else read whole and counted against the byte budget until it is sent.
 * HEAD reads the first bytes only. The budget is released when the body ends, fails or the
 * client goes away.
 */
async function readOriginal(deps: ImageDeps, match: RouteMatch, relative: string, signal: AbortSignal, headOnly: boolean): Promise<OriginalBody> {
  const storage = deps.storages[match.source];
  if (headOnly && storage.open) {
    // A local file: its first 4 KiB name its type; nothing else is read.
    const opened = await storage.open(match.key, signal);
    if (!opened) throw notFound(relative);
    await opened.close();
    return { meta: opened.meta, head: opened.head, size: opened.meta.size, body: null };
  }
  if (!storage.stream) {
    const obj = await readWhole(deps, match, signal);
    if (!obj) throw notFound(relative);
    if (headOnly) obj.release();
    const slices = (function* () {
      for (let i = 0; i < obj.body.length; i += 1 << 20) yield obj.body.subarray(i, i + (1 << 20));
    })();
    return { meta: obj.meta, head: obj.body.subarray(0, 4096), size: obj.body.length, body: headOnly ? null : bodyStream(Buffer.alloc(0), slices, obj.release) };
  }
  const release = await deps.bytes.acquire(STREAM_WINDOW, signal);
  let it: AsyncIterator<Buffer> | undefined;
  try {
    const t0 = performance.now();
    const obj = await storage.stream(match.key, signal);
    deps.onSourceFetch?.({ source: match.source, ms: performance.now() - t0 });
    if (!obj) throw notFound(relative);
    it = obj.body[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    const first: Buffer[] = [];
    let got = 0;
    while (got < 4096) {
      const r = await it.next();
      if (r.done) break;
      first.push(r.value);
      got += r.value.length;
    }
    const head = Buffer.concat(first);
    if (headOnly) {
      await it.return?.();
      release();
      return { meta: obj.meta, head, size: obj.meta.size, body: null };
    }
    return { meta: obj.meta, head, size: obj.meta.size, body: bodyStream(head, it, release) };
  } catch (err) {
    await it?.return?.().catch(() => undefined);
    release();
    throw err;
  }
}

/** Releases the budget of a response body dropped unread (a response replaced after the handler). */
const unread = new FinalizationRegistry<() => void>((release) => release());

/**
 * A response body from `first` then the rest of `it`, read as the client takes it; `done` (once,
 * idempotent) runs when it ends, fails, is cancelled, or is dropped unread.
 */
function bodyStream(first: Buffer, it: Iterator<Buffer> | AsyncIterator<Buffer>, done: () => void): ReadableStream<Uint8Array> {
  let pending: Buffer | undefined = first.length > 0 ? first : undefined;
  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(ctl) {
        if (pending) {
          ctl.enqueue(bytesOf(pending));
          pending = undefined;
          return;
        }
        try {
          const r = await it.next();
          if (r.done) {
            ctl.close();
            done();
          } else ctl.enqueue(bytesOf(r.value));
        } catch (err) {
          done();
          ctl.error(err);
        }
      },
      async cancel() {
        done();
        await it.return?.();
      },
    },
    { highWaterMark: 0 },
  );
  unread.register(stream, done);
  return stream;
}

interface Source {
  input: PipelineInput;
  /** For an opened file: true when it changed while it was decoded (then the render is not used). */
  changed?: () => Promise<boolean>;
  close?: () => Promise<void>;
}

/** The original as the pipeline takes it: a local raster file the decoder reads itself where the source offers one, else its bytes. */
export async function openSource(deps: Pick<ImageDeps, 'storages' | 'bytes' | 'onSourceFetch'>, match: RouteMatch, relative: string, signal: AbortSignal): Promise<Source> {
  const storage = deps.storages[match.source];
  if (!storage.open) {
    const obj = await readWhole(deps, match, signal);
    if (!obj) throw notFound(relative);
    return { input: obj.body, close: async () => obj.release() };
  }
  const t0 = performance.now();
  const opened = await storage.open(match.key, signal);
  if (!opened) throw notFound(relative);
  // Only raster formats are decoded from the file. librsvg resolves an SVG's relative references
  // against the folder of the file it reads (from memory there is none), and a format the magic
  // numbers do not name is left to the same checks as before, on its bytes.
  const type = detectContentType(opened.head);
  if (type === undefined || type === 'image/svg+xml') {
    let release: (() => void) | undefined;
    try {
      release = await deps.bytes.acquire(opened.meta.size, signal);
      const body = await opened.read();
      deps.onSourceFetch?.({ source: match.source, ms: performance.now() - t0 });
      return { input: body, close: async () => release!() };
    } catch (err) {
      release?.();
      throw err;
    } finally {
      await opened.close();
    }
  }
  deps.onSourceFetch?.({ source: match.source, ms: performance.now() - t0 });
  return { input: { file: opened.file, head: opened.head, size: opened.meta.size }, changed: opened.changed, close: opened.close };
}

/** Last-Modified as HTTP states it, formatted once per source answer (the meta cache hands out the same object). */
const httpDates = new WeakMap<ObjectMeta, string>();
function httpDate(meta: ObjectMeta, lastModified: Date): string {
  let s = httpDates.get(meta);
  if (s === undefined) httpDates.set(meta, (s = lastModified.toUTCString()));
  return s;
}

/** The image route's response: its plain header object takes the request's pending headers (request id, rate limits). */
function respond(c: Context<AppEnv>, status: 200 | 304, headers: Record<string, string>, body: Buffer | ReadableStream<Uint8Array> | null): Response {
  const pending = takeResponseHeaders(c);
  if (pending) mergeHeaders(headers, pending);
  return new Response(body === null || c.req.method === 'HEAD' ? null : Buffer.isBuffer(body) ? bytesOf(body) : body, { status, headers });
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
/** The identity of a watermark, blend or mask image joins the cache key, so a replaced one is a new derivative. */
async function markIdentity(deps: ImageDeps, mark: RouteMatch, name = 'mark'): Promise<string> {
  const meta = await deps.storages[mark.source].head(mark.key);
  return `\n${name}=${meta?.etag ?? 'missing'}`;
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
