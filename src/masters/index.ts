/**
 * Masters: one downscaled copy of each original version, so that the many sizes a srcset asks
 * for decode a 2048 px image instead of a 16–20 MP original each time.
 *
 * - Renders of a new original render from the original (no added latency). The second distinct
 *   derivative asked of one original version (in this process) also starts building its master,
 *   after its own response, under the work limiter; requests for other sizes that arrive
 *   meanwhile wait for that one build (single-flight per original version). An original asked
 *   for one size only never pays for a master (measured: building one on the first request made
 *   one-size-per-original traffic 1.6–2.4× dearer in CPU).
 *
 *   `imagegate warm --masters` builds them ahead of traffic.
 * - A master is stored in the result cache tiers (memory, folder, S3) under the original's
 *   identity (source, key, ETag): a replaced original never uses an old master, and one
 *   replica's (or Lambda's) build serves the others.
 * - A request renders from the master only when its parameters allow it and the master holds
 *   every source pixel it needs (see eligible.ts); everything else renders from the original.
 */
import sharp, { type Metadata } from 'sharp';
import { LRUCache } from 'lru-cache';
import type { Config } from '../config/schema.ts';
import type { TransformOptions } from '../request/params.ts';
import type { NegotiatedFormat } from '../request/negotiate.ts';
import { cacheKey, deadlineSignal, SingleFlight, type CachedResult, type ResultCache, type WorkLimiter } from '../cache/index.ts';
import type { CacheLogger } from '../cache/types.ts';
import { bounded, sharpInput, type PipelineInput } from '../pipeline/context.ts';
import { computeGeometry } from '../pipeline/geometry.ts';
import { probe } from '../pipeline/steps/probe.ts';
import { keepFormat, outputFormat, runPipeline } from '../pipeline/run.ts';
import type { Storage } from '../storage/types.ts';
import { ServiceError, sourceChanged } from '../errors.ts';
import { eligibleParams, fitsMaster, type MasterOf } from './eligible.ts';

export { eligibleParams, fitsMaster, type MasterOf } from './eligible.ts';

/** An original opened for decoding (what the image route's source reader gives). */
export interface OpenedOriginal {
  input: PipelineInput;
  /** True when it changed while it was decoded. */
  changed?: () => Promise<boolean>;
  close?: () => Promise<void>;
}

/** Where master outcomes go: metrics implement this. */
export interface MastersObserver {
  /** A master built and stored, its size in bytes. */
  made?(bytes: number): void;
  /** A derivative rendered from a master. */
  hit?(): void;
  /** A derivative rendered from its original. */
  original?(): void;
}

export interface MastersDeps {
  config: Config;
  cache: ResultCache;
  limiter: WorkLimiter;
  storages: Record<string, Storage>;
  /** Opens an original for decoding (the image route's reader: files in place, other sources read whole within the byte budget). */
  open: (match: { source: string; key: string }, signal: AbortSignal) => Promise<OpenedOriginal>;
  observer?: MastersObserver;
  logger?: CacheLogger;
  /** Called once per derivative rendered from a master (like the image route's `onTransform`). */
  onTransform?: (info: { format: string; ms: number }) => void;
}

/** One derivative asked of `render`. */
export interface MasterRequest {
  match: { source: string; key: string };
  /** The original's ETag, as the request's cache key has it. */
  etag: string;
  opts: Readonly<TransformOptions>;
  negotiated: NegotiatedFormat;
  /** Epoch ms. */
  deadline: number;
  signal: AbortSignal;
}

export interface Masters {
  /** The derivative, from the original's master where it may, else from `direct()` (the render from the original). */
  render(req: MasterRequest, direct: () => Promise<CachedResult>): Promise<CachedResult>;
  /** Build (or find) the master of one original's current version (`imagegate warm`). */
  build(match: { source: string; key: string }): Promise<{ outcome: 'made' | 'exists' | 'ineligible'; bytes: number }>;
  /** Waits for masters still being built. */
  close(): Promise<void>;
}

/** A master as stored: its pixels, or none for an original that gets no master. */
export interface Master {
  body: Buffer;
  of?: MasterOf;
  width: number;
}

const HEADER = 'x-imagegate-master';
/** Part of the key: a change of what a master holds starts new entries. */
const VERSION = 'master-1';

export function createMasters(deps: MastersDeps): Masters {
  const { config, cache, limiter } = deps;
  const { enabled, longEdge } = config.cache.masters;
  const on = enabled && config.cache.enabled;
  const flight = new SingleFlight();
  /** Original versions asked for once, without a master yet: the next request starts one. */
  const seen = new LRUCache<string, true>({ max: 100_000 });
  const pending = new Set<Promise<unknown>>();
  const keyOf = (match: { source: string; key: string }, etag: string) =>
    cacheKey({ source: match.source, key: match.key, etag, options: `longEdge=${longEdge}`, format: VERSION });

  /**
   * Decode the original once into its master (or a marker that it gets none), and store it. The
   * header is read at once, so requests waiting on an original that gets no master go on at
   * once; the decode waits for `after` (the response that started the build).
   */
  const make = (match: { source: string; key: string }, key: string, after?: Promise<void>): Promise<Master> =>
    flight.do(key, async () => {
      const signal = deadlineSignal(config.limits.deadlineMs);
      const deadline = Date.now() + config.limits.deadlineMs;
      // The header decides whether there is a master to make: only its encode takes a render slot.
      const src = await deps.open(match, signal);
      let entry: CachedResult;
      try {
        const { meta } = await probe(src.input, config.transform, false);
        const of = masterOf(meta, longEdge);
        if (of) await after;
        entry = of ? await limiter.run(() => encodeMaster(src.input, of, config, longEdge, deadline), signal) : { body: Buffer.alloc(0), contentType: 'application/octet-stream', headers: { [HEADER]: 'none' }, createdAt: Date.now() };
        if (await src.changed?.()) throw sourceChanged();
      } finally {
        await src.close?.();
      }
      await cache.set(key, entry);
      const master = decodeMaster(entry)!;
      if (master.of) deps.observer?.made?.(entry.body.length);
      return master;
    });

  /**
   * The stored master, or the one being built (waited for). When there is neither and the
   * original was asked for before, its build starts here — in the same turn as the look-up, so
   * concurrent requests find it — and waits for `rendered()`: the caller renders its own
   * response from the original first.
   */
  const find = async (match: { source: string; key: string }, key: string): Promise<{ master?: Master; rendered?: () => void }> => {
    // A build that fails leaves the request to render from the original.
    const building = () => flight.running<Master>(key)?.catch(() => undefined);
    let build = building();
    if (build) return { master: await build };
    const hit = await cache.get(key);
    const stored = hit && decodeMaster(hit.value);
    if (stored) return { master: stored };
    build = building();
    if (build) return { master: await build };
    if (!seen.has(key)) {
      seen.set(key, true);
      return {};
    }
    seen.delete(key);
    let rendered!: () => void;
    const p = make(match, key, new Promise<void>((resolve) => (rendered = resolve))).catch((err: unknown) => {
      if (!(err instanceof ServiceError)) deps.logger?.warn({ event: 'master_failed', source: match.source, key: match.key, err: String(err) }, 'building a master failed');
    });
    pending.add(p);
    void p.finally(() => pending.delete(p));
    return { rendered };
  };

  return {
    async render(req, direct) {
      if (!on || !eligibleParams(req.opts)) {
        deps.observer?.original?.();
        return direct();
      }
      const { master, rendered } = await find(req.match, keyOf(req.match, req.etag));
      const of = master?.of;
      if (master && of && fitsMaster(req.opts, renderFormat(req, of, config), of, master.width, config.transform.maxOutputSize)) {
        deps.observer?.hit?.();
        return limiter.run(async () => {
          const started = performance.now();
          const out = await runPipeline(master.body, req.opts, {
            config: config.transform,
            format: req.negotiated.format,
            insteadOfAvif: req.negotiated.insteadOfAvif,
            deadline: req.deadline,
            master: of,
          });
          deps.onTransform?.({ format: out.contentType, ms: performance.now() - started });
          return { body: out.body, contentType: out.contentType, headers: out.headers, createdAt: Date.now() };
        }, req.signal);
      }
      deps.observer?.original?.();
      try {
        return await direct();
      } finally {
        rendered?.();
      }
    },

    async build(match) {
      const meta = await deps.storages[match.source].head(match.key);
      if (!meta) throw new ServiceError(404, 'not_found', `Invalid image path: ${match.key}`);
      const key = keyOf(match, meta.etag);
      const hit = await cache.get(key);
      const stored = hit && decodeMaster(hit.value);
      if (stored) return { outcome: stored.of ? 'exists' : 'ineligible', bytes: stored.body.length };
      if (!on) return { outcome: 'ineligible', bytes: 0 };
      const made = await make(match, key);
      return { outcome: made.of ? 'made' : 'ineligible', bytes: made.body.length };
    },

    async close() {
      await Promise.all([...pending]);
    },
  };
}

/** The format the render will encode, as runPipeline decides it from the original's header. */
function renderFormat(req: MasterRequest, of: MasterOf, config: Config) {
  // The output's size matters only when auto=format chose AVIF.
  const g = req.negotiated.insteadOfAvif && computeGeometry(of.width, of.height, req.opts, config.transform.maxOutputSize);
  return outputFormat(of.format, of.alpha, { ...req.negotiated, config: config.transform }, { animated: false, outputPixels: g ? g.width * g.height : 0 });
}

/**
 * What the master of an original records, from its header; undefined for originals that get
 * none: animations, SVG, and those under 1.5 × `longEdge` (a master would save less than half
 * of the decoded pixels). They get an empty marker entry instead, so no one looks again.
 */
export function masterOf(meta: Metadata, longEdge: number): MasterOf | undefined {
  const w = meta.width!;
  const h = meta.pageHeight ?? meta.height!;
  if (meta.format === 'svg' || (meta.pages ?? 1) > 1 || Math.max(w, h) < 1.5 * longEdge) return undefined;
  const swap = (meta.orientation ?? 1) >= 5;
  return { width: swap ? h : w, height: swap ? w : h, format: keepFormat(meta), alpha: meta.hasAlpha === true };
}

/**
 * The master of one original: upright (EXIF orientation applied), sRGB, 8 bits, no metadata —
 * what every direct render starts from after its decode — its long edge `longEdge`, as JPEG q95
 * (4:2:0, like every output without chromasub=444), or lossless PNG when the original has alpha.
 */
export async function encodeMaster(input: PipelineInput, of: MasterOf, config: Config, longEdge: number, deadline: number): Promise<CachedResult> {
  const img = sharp(sharpInput(input), { failOn: config.transform.failOn, limitInputPixels: Math.max(config.transform.maxPixels, 1), sequentialRead: true, autoOrient: true })
    .resize(longEdge, longEdge, { fit: 'inside' })
    .toColourspace('srgb');
  const encoded = of.alpha ? img.png({ compressionLevel: 1 }) : img.jpeg({ quality: 95 });
  const { data, info } = await bounded({ deadline }, encoded).toBuffer({ resolveWithObject: true });
  return { body: data, contentType: of.alpha ? 'image/png' : 'image/jpeg', headers: { [HEADER]: JSON.stringify({ ...of, masterWidth: info.width }) }, createdAt: Date.now() };
}

export function decodeMaster(entry: CachedResult): Master | undefined {
  const h = entry.headers[HEADER];
  if (h === undefined) return undefined;
  if (h === 'none') return { body: entry.body, width: 0 };
  try {
    const { masterWidth, ...of } = JSON.parse(h) as MasterOf & { masterWidth: number };
    return { body: entry.body, of, width: masterWidth };
  } catch {
    return undefined;
  }
}
