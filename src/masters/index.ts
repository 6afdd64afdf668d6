/**
 * Masters: one downscaled copy of each original version, so that the many sizes a srcset asks
 * for decode a 2048 px image instead of a 16–20 MP original each time.
 *
 * - A new original's first size renders from the original (no added latency or CPU for an
 *   original asked for one size only). The second distinct size asked of one original version
 *   (in this process) decodes the original once into its master's pixels and renders itself
 *   from them; requests for other sizes that arrive meanwhile wait for that one decode
 *   (single-flight per original version). The pixels stay in memory (`cache.masters.pixelBytes`,
 *   LRU), so this process's later sizes skip even the master's decode; after the response that
 *   made them, they are encoded once more (JPEG q95, or PNG with alpha) and stored.
 *
 *   `imagegate warm --masters` builds them ahead of traffic.
 * - The stored master lives in the result cache tiers (memory, folder, S3) under the original's
 *   identity (source, key, ETag): a replaced original never uses an old master, and one
 *   replica's (or Lambda's) build serves the others.
 * - A request renders from the master only when its parameters allow it and the master holds
 *   every source pixel it needs (see eligible.ts); everything else renders from the original.
 */
import type { Metadata } from 'sharp';
import { LRUCache } from 'lru-cache';
import type { Config } from '../config/schema.ts';
import type { TransformOptions } from '../request/params.ts';
import type { NegotiatedFormat } from '../request/negotiate.ts';
import { cacheKey, deadlineSignal, type CachedResult, type ResultCache, type WorkLimiter } from '../cache/index.ts';
import type { CacheLogger } from '../cache/types.ts';
import { bounded, decodeOptions, decoder, inputSize, type PipelineInput, type RawPixels } from '../pipeline/context.ts';
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

/** A master: its pixels (decoded in this process) or its stored encoding, or none for an original that gets no master. */
export interface Master {
  input: PipelineInput;
  of?: MasterOf;
  /** The master's own size, px. */
  size: { width: number; height: number };
}

/** A master being made: its original's header is read first, so waiters that cannot use it go on at once. */
interface Build {
  /** What the master will hold; undefined for an original that gets none (or a build that failed). */
  of: Promise<MasterOf | undefined>;
  /** The master's pixels; undefined for an original that gets none. */
  master: Promise<Master | undefined>;
  /** Its stored form's size in bytes, once written to the cache tiers. */
  stored: Promise<number>;
}

const HEADER = 'x-imagegate-master';
/** Part of the key: a change of what a master holds starts new entries. */
const VERSION = 'master-1';
const NONE: Readonly<Omit<CachedResult, 'createdAt'>> = { body: Buffer.alloc(0), contentType: 'application/octet-stream', headers: { [HEADER]: 'none' } };

export function createMasters(deps: MastersDeps): Masters {
  const { config, cache, limiter } = deps;
  const { enabled, longEdge, pixelBytes } = config.cache.masters;
  const on = enabled && config.cache.enabled;
  const builds = new Map<string, Build>();
  /** Masters decoded in this process, as pixels: no decode at all for the next sizes. */
  const decoded = pixelBytes > 0 ? new LRUCache<string, Master>({ maxSize: pixelBytes, sizeCalculation: (m) => Math.max(1, (m.input as RawPixels).raw.length) }) : undefined;
  /** Original versions asked for once, without a master yet: the next request makes one. */
  const seen = new LRUCache<string, true>({ max: 100_000 });
  const pending = new Set<Promise<unknown>>();
  const keyOf = (match: { source: string; key: string }, etag: string) =>
    cacheKey({ source: match.source, key: match.key, etag, options: `longEdge=${longEdge}`, format: VERSION });

  /**
   * Decode the original once into its master's pixels (or learn from its header that it gets
   * none), then — after `after`, the response that asked for it — encode and store it.
   */
  const make = (match: { source: string; key: string }, key: string, after?: Promise<void>): Build => {
    const running = builds.get(key);
    if (running) return running;
    const deadline = Date.now() + config.limits.deadlineMs;
    let header!: (of: MasterOf | undefined) => void;
    const of = new Promise<MasterOf | undefined>((resolve) => (header = resolve));
    const master = (async () => {
      const signal = deadlineSignal(config.limits.deadlineMs);
      const src = await deps.open(match, signal);
      let m: Master | undefined;
      try {
        const { meta } = await probe(src.input, config.transform, false);
        const found = masterOf(meta, longEdge);
        header(found);
        if (found) m = { input: await limiter.run(() => masterPixels(src.input, found, config, longEdge, deadline), signal), of: found, size: masterSize(found, longEdge) };
        if (await src.changed?.()) throw sourceChanged();
      } finally {
        await src.close?.();
      }
      if (m) decoded?.set(key, m);
      return m;
    })();
    void master.catch(() => header(undefined));
    const stored = (async () => {
      const m = await master;
      if (!m?.of) {
        await cache.set(key, { ...NONE, createdAt: Date.now() });
        return 0;
      }
      await after;
      const entry = await limiter.run(() => encodeMaster(m.input as RawPixels, m.of!, config.limits.deadlineMs), deadlineSignal(config.limits.deadlineMs));
      await cache.set(key, entry);
      deps.observer?.made?.(entry.body.length);
      return entry.body.length;
    })();
    const build = { of, master, stored };
    builds.set(key, build);
    const done = stored
      .catch((err: unknown) => {
        if (!(err instanceof ServiceError)) deps.logger?.warn({ event: 'master_failed', source: match.source, key: match.key, err: String(err) }, 'building a master failed');
      })
      .finally(() => {
        builds.delete(key);
        pending.delete(done);
      });
    pending.add(done);
    return build;
  };

  /** A build's master for this request: as soon as its header shows the request cannot use it, none (the request renders from its original). */
  const useBuild = async (req: MasterRequest, build: Build): Promise<Master | undefined> => {
    const of = await build.of;
    if (!of || !fits(req, of, masterSize(of, longEdge))) return undefined;
    return build.master.catch(() => undefined);
  };

  const fits = (req: MasterRequest, of: MasterOf, size: Master['size']) => fitsMaster(req.opts, renderFormat(req, of, config), of, size, config.transform.maxOutputSize);

  /**
   * This process's decoded master, the one being made (waited for), or the stored one. When
   * there is none and the original was asked for before, this request's decode makes it —
   * started in the same turn as the look-up, so concurrent requests find it — and its storing
   * waits for `rendered()`: the caller's response first.
   */
  const find = async (req: MasterRequest, key: string): Promise<{ master?: Master; rendered?: () => void }> => {
    const mine = decoded?.get(key);
    if (mine) return { master: mine };
    let build = builds.get(key);
    if (build) return { master: await useBuild(req, build) };
    const hit = await cache.get(key);
    const stored = hit && readMaster(hit.value);
    if (stored) return { master: stored };
    build = builds.get(key);
    if (build) return { master: await useBuild(req, build) };
    if (!seen.has(key)) {
      seen.set(key, true);
      return {};
    }
    seen.delete(key);
    let rendered!: () => void;
    build = make(req.match, key, new Promise<void>((resolve) => (rendered = resolve)));
    return { master: await useBuild(req, build), rendered };
  };

  return {
    async render(req, direct) {
      if (!on || !eligibleParams(req.opts)) {
        deps.observer?.original?.();
        return direct();
      }
      const { master, rendered } = await find(req, keyOf(req.match, req.etag));
      try {
        const of = master?.of;
        if (!master || !of || !fits(req, of, master.size)) {
          deps.observer?.original?.();
          return await direct();
        }
        deps.observer?.hit?.();
        return await limiter.run(async () => {
          const started = performance.now();
          const out = await runPipeline(master.input, req.opts, {
            config: config.transform,
            format: req.negotiated.format,
            insteadOfAvif: req.negotiated.insteadOfAvif,
            deadline: req.deadline,
            master: of,
          });
          deps.onTransform?.({ format: out.contentType, ms: performance.now() - started });
          return { body: out.body, contentType: out.contentType, headers: out.headers, createdAt: Date.now() };
        }, req.signal);
      } finally {
        rendered?.();
      }
    },

    async build(match) {
      const meta = await deps.storages[match.source].head(match.key);
      if (!meta) throw new ServiceError(404, 'not_found', `Invalid image path: ${match.key}`);
      const key = keyOf(match, meta.etag);
      const hit = await cache.get(key);
      const stored = hit && readMaster(hit.value);
      if (stored) return { outcome: stored.of ? 'exists' : 'ineligible', bytes: inputSize(stored.input) };
      if (!on) return { outcome: 'ineligible', bytes: 0 };
      const bytes = await make(match, key).stored;
      return { outcome: bytes > 0 ? 'made' : 'ineligible', bytes };
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

/** The master's size: the original's upright size scaled to `longEdge` on its long edge. */
export function masterSize(of: MasterOf, longEdge: number): { width: number; height: number } {
  const k = longEdge / Math.max(of.width, of.height);
  return { width: Math.max(1, Math.round(of.width * k)), height: Math.max(1, Math.round(of.height * k)) };
}

/**
 * The master's pixels, from one decode of its original: upright (EXIF orientation applied),
 * sRGB, 8 bits, with alpha when the original has it — what every direct render starts from
 * after its decode — at `masterSize`.
 */
export async function masterPixels(input: PipelineInput, of: MasterOf, config: Config, longEdge: number, deadline: number): Promise<RawPixels> {
  const { width, height } = masterSize(of, longEdge);
  const img = decoder(input, decodeOptions(config.transform, true))
    .resize(width, height, { fit: 'fill' })
    .toColourspace('srgb');
  const out = of.alpha ? img.ensureAlpha() : img.removeAlpha();
  const { data, info } = await bounded({ deadline }, out.raw({ depth: 'uchar' })).toBuffer({ resolveWithObject: true });
  return { raw: data, width: info.width, height: info.height, channels: info.channels === 4 ? 4 : 3 };
}

/**
 * The stored form of a master's pixels: JPEG q95 (4:2:0, like every output without
 * chromasub=444), or lossless PNG when the original has alpha.
 */
export async function encodeMaster(pixels: RawPixels, of: MasterOf, deadlineMs: number): Promise<CachedResult> {
  const img = decoder(pixels, {});
  const encoded = of.alpha ? img.png({ compressionLevel: 1 }) : img.jpeg({ quality: 95 });
  const body = await bounded({ deadline: Date.now() + deadlineMs }, encoded).toBuffer();
  return { body, contentType: of.alpha ? 'image/png' : 'image/jpeg', headers: { [HEADER]: JSON.stringify({ ...of, masterWidth: pixels.width, masterHeight: pixels.height }) }, createdAt: Date.now() };
}

/** The master a cache entry holds (undefined for an entry that is not one). */
export function readMaster(entry: CachedResult): Master | undefined {
  const h = entry.headers[HEADER];
  if (h === undefined) return undefined;
  if (h === 'none') return { input: entry.body, size: { width: 0, height: 0 } };
  try {
    const { masterWidth, masterHeight, ...of } = JSON.parse(h) as MasterOf & { masterWidth: number; masterHeight?: number };
    // Masters stored before their height was recorded: sharp's `fit: inside` rounds it.
    return { input: entry.body, of, size: { width: masterWidth, height: masterHeight ?? Math.round((of.height * masterWidth) / of.width) } };
  } catch {
    return undefined;
  }
}
