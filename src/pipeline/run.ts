import type { Metadata } from 'sharp';
import { ServiceError } from '../errors.ts';
import type { TransformConfig } from '../config/transform.ts';
import type { TransformOptions } from '../request/params.ts';
import { autoFormatFor, FORMAT_CONTENT_TYPE, type NegotiatedFormat, type OutputFormat } from '../request/negotiate.ts';
import { computeGeometry, strokeSize, type Geometry } from './geometry.ts';
import { checkDeadline, timedOut, type Budget, inputHead, inputSize, decoder, decodeOptions, isPixels, type PipelineInput, type PipelineState } from './context.ts';
import { detectContentType } from '../content-type.ts';
import { checkRenderCost, renderCost } from './cost.ts';
import { probe, refuseForFrames } from './steps/probe.ts';
import { Segment } from './queue.ts';
import { composeOrientation, orientToExif } from './orientation.ts';
import { orient } from './steps/orient.ts';
import { trim } from './steps/trim.ts';
import { background } from './steps/flatten.ts';
import { rect } from './steps/rect.ts';
import { resize } from './steps/resize.ts';
import { flip } from './steps/flip.ts';
import { crop } from './steps/crop.ts';
import { fill } from './steps/fill.ts';
import { focalDebug } from './steps/debug.ts';
import { rotate } from './steps/rotate.ts';
import { noise } from './steps/noise.ts';
import { upscale } from './steps/upscale.ts';
import { tone } from './steps/tone.ts';
import { gamma } from './steps/gamma.ts';
import { blur } from './steps/blur.ts';
import { modulate } from './steps/modulate.ts';
import { sharpen } from './steps/sharpen.ts';
import { linear } from './steps/linear.ts';
import { pixelate } from './steps/pixelate.ts';
import { sepia } from './steps/sepia.ts';
import { duotone } from './steps/duotone.ts';
import { monochrome } from './steps/monochrome.ts';
import { invert } from './steps/invert.ts';
import { blend } from './steps/blend.ts';
import { pad } from './steps/pad.ts';
import { watermark } from './steps/watermark.ts';
import { text } from './steps/text.ts';
import { radius } from './steps/radius.ts';
import { mask } from './steps/mask.ts';
import { transparency } from './steps/transparency.ts';
import { animation } from './steps/animation.ts';
import { svgBypass } from './steps/svg.ts';
import { encode, jsonMetadata } from './steps/encode.ts';
import type { MasterOf } from '../masters/eligible.ts';

export interface PipelineContext {
  config: TransformConfig;
  /** Output format negotiated before the source was read; undefined keeps the source's format. */
  format?: OutputFormat;
  /** Set when auto=format chose AVIF: the format to use instead for an animation or a large output. */
  insteadOfAvif?: NegotiatedFormat['insteadOfAvif'];
  /** Epoch milliseconds; checked between steps → ServiceError 503 `deadline_exceeded`. */
  deadline?: number;
  /** Loads a watermark (`mark=`) from the service's own sources; undefined when missing. */
  loadMark?: (path: string) => Promise<Buffer | undefined>;
  /**
   * Set when the input is a master (an upright, downscaled sRGB copy) of an original: geometry,
   * the kept format and the cost check use the original's size, and source regions are scaled
   * into the master when they are cut (see src/masters).
   */
  master?: MasterOf;
}

export interface PipelineResult {
  body: Buffer;
  contentType: string;
  width?: number;
  height?: number;
  /** Extra response headers (Content-Disposition for `dl`, …). */
  headers: Record<string, string>;
}

type Step = (st: PipelineState) => Promise<void>;

/** Steps in the source's frame, before the geometry: what they change is the frame it is computed in. */
const SOURCE_STEPS: readonly Step[] = [orient, trim];

/**
 * The fixed order of the other steps, one operation each; each returns at once when its
 * parameters are absent. The queue (queue.ts) fits their operations into sharp's own order.
 */
const STEPS: readonly Step[] = [
  background, rect, resize, flip, crop, fill, focalDebug, rotate,
  noise, upscale, tone, gamma, blur, modulate, sharpen, linear,
  pixelate, sepia, duotone, monochrome, invert,
  blend, pad, watermark, text, radius, mask, transparency, animation,
];

/**
 * The size the decoder delivers (after the EXIF orientation it applies itself without `orient`)
 * and the size the source steps leave without trim (after `orient`, which the orient step applies).
 */
function sourceSizes(meta: Metadata, opts: TransformOptions): { decoded: { width: number; height: number }; upright: { width: number; height: number } } {
  const w = meta.width!;
  const h = meta.pageHeight ?? meta.height!;
  const turned = (s: { width: number; height: number }) => ({ width: s.height, height: s.width });
  const stored = { width: w, height: h };
  if (opts.orient === undefined) {
    const decoded = (meta.orientation ?? 1) >= 5 ? turned(stored) : stored;
    return { decoded, upright: decoded };
  }
  return { decoded: stored, upright: composeOrientation(orientToExif(opts.orient), opts.flip).swaps ? turned(stored) : stored };
}

/** The geometry for an animation: libvips' smart crops work on one frame only, so animations are cut at the centre. */
function forFrames(g: Geometry, pages: number): Geometry {
  if (pages <= 1 || !g.crop || !('strategy' in g.crop) || !g.resize) return g;
  const { width, height } = g.crop;
  return { ...g, crop: { box: { left: Math.floor((g.resize.width - width) / 2), top: Math.floor((g.resize.height - height) / 2), width, height } } };
}

/**
 * Where the geometry meets the decoded image: after the source steps, the geometry planned from
 * the header holds unless they changed the frame (trim, known only from the pixels), which is
 * then planned again for the frame they left.
 */
function frame(st: PipelineState): void {
  if (st.width === st.frame.width && st.height === st.frame.height) return;
  st.geometry = forFrames(computeGeometry(st.width, st.height, st.opts, st.config.maxOutputSize), st.pages);
}

/**
 * The format a render encodes: the negotiated one, else the source's own (`own`, see keepFormat);
 * an AVIF chosen by auto=format gives way for an animation or a large output (autoFormatFor).
 */
export function outputFormat(own: OutputFormat, alpha: boolean, ctx: Pick<PipelineContext, 'format' | 'insteadOfAvif' | 'config'>, output: { animated: boolean; outputPixels: number }): OutputFormat {
  const format = ctx.format ?? own;
  if (!ctx.insteadOfAvif) return format;
  const ownFormat = own === 'avif' ? (alpha ? 'png' : 'jpeg') : own;
  return autoFormatFor(format, ctx.insteadOfAvif, { ...output, ownFormat }, ctx.config.autoAvifMaxPixels);
}

/** The format to encode when none was negotiated: the source's own, or JPEG/PNG for formats browsers may not show. */
export function keepFormat(meta: Metadata): OutputFormat {
  switch (meta.format) {
    case 'jpeg':
      return 'jpeg';
    case 'png':
      return 'png';
    case 'webp':
      return 'webp';
    case 'gif':
      return 'gif';
    case 'heif':
      return meta.compression === 'av1' ? 'avif' : meta.hasAlpha ? 'png' : 'jpeg';
    default:
      return meta.hasAlpha ? 'png' : 'jpeg';
  }
}

/**
 * What only the decode can reveal. Everything the header shows (format, pixel limit, frames,
 * an unreadable header) and what the parameters cannot do to it was refused by `probe` and
 * `refuseForFrames` with their own errors, and arguments sharp refuses by the queue (`op`). A
 * libvips failure after that is its timeout (503, whatever its text: libvips' error buffer is
 * shared) or pixel data it cannot decode (422 corrupt_image). Programming errors pass through.
 */
function mapError(err: unknown, budget: Budget): unknown {
  if (err instanceof ServiceError || err instanceof TypeError || err instanceof RangeError || err instanceof ReferenceError) return err;
  if (timedOut(budget)) return new ServiceError(503, 'deadline_exceeded', 'Service Unavailable: the transformation did not finish in time', { cause: err, headers: { 'Retry-After': '1' } });
  return new ServiceError(422, 'corrupt_image', 'Unprocessable: the source image could not be decoded', { cause: err });
}

/**
 * One decode, fixed steps, one encode. The header is read first (format, size, orientation,
 * frames) and the pixel limit, the cost estimate and what animations cannot take enforced before
 * any decode; the geometry is planned once from the header; libvips
 * shrinks on load where the request allows; the deadline is checked between steps. Bad input →
 * ServiceError 4xx (415 unsupported_image, 422 corrupt_image / image_too_large), never a 500.
 */
export async function runPipeline(input: PipelineInput, opts: TransformOptions, ctx: PipelineContext): Promise<PipelineResult> {
  const { config } = ctx;
  checkDeadline(ctx);
  const budget: Budget = { deadline: ctx.deadline };
  try {
    const animatedCapable = ctx.format === undefined || ctx.format === 'gif' || ctx.format === 'webp' || ctx.insteadOfAvif !== undefined;
    const { meta, frames: frames0 } = await probe(input, config, animatedCapable);
    // `frame`: the frames kept, counted from 0 (beyond the last frame: the last one).
    const total = meta.pages ?? 1;
    const first = opts.frame ? Math.min(opts.frame.from, total) - 1 : 0;
    const selected = Math.min((opts.frame?.to === undefined ? total : Math.min(opts.frame.to, total)) - first, frames0);
    // A master is upright already and stands for its original: sizes and the kept format are the original's.
    const master = ctx.master && { width: ctx.master.width, height: ctx.master.height };
    const { decoded, upright } = master ? { decoded: master, upright: master } : sourceSizes(meta, opts);
    // The geometry, planned once from the header (see `frame` for trim).
    const planned = computeGeometry(upright.width, upright.height, opts, config.maxOutputSize);
    const own = ctx.master?.format ?? keepFormat(meta);
    const format = outputFormat(own, meta.hasAlpha === true, ctx, { animated: selected > 1, outputPixels: planned.width * planned.height });
    if (opts['rasterize-bypass'] && meta.format === 'svg' && !isPixels(input)) {
      // The same policy as an SVG original served untouched: no script runs if it is opened directly.
      const headers = { 'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; sandbox" };
      return { body: await svgBypass(input, opts['svg-sanitize'] !== false), contentType: 'image/svg+xml', headers };
    }
    if (format === 'json') {
      const contentType = detectContentType(inputHead(input)) ?? `image/${meta.format}`;
      const g = planned;
      const s = 2 * strokeSize(opts);
      const output = { width: g.width + g.pad.left + g.pad.right + g.border.left + g.border.right + s, height: g.height + g.pad.top + g.pad.bottom + g.border.top + g.border.bottom + s };
      const body = Buffer.from(JSON.stringify(jsonMetadata(meta, inputSize(input), contentType, inputHead(input), output)));
      return { body, contentType: FORMAT_CONTENT_TYPE.json, headers: {} };
    }
    const frames = format === 'gif' || format === 'webp' ? Math.max(1, selected) : 1;
    const geometry = forFrames(planned, frames);
    checkRenderCost(renderCost({ width: meta.width!, height: meta.pageHeight ?? meta.height!, frames, swap: false }, opts, format, config.maxOutputSize, geometry), config.maxRenderCost);
    refuseForFrames(opts, frames, meta.hasAlpha === true);
    checkDeadline(ctx);
    const autoOrient = opts.orient === undefined;
    const img = decoder(input, {
      ...decodeOptions(config, autoOrient),
      ...(frames > 1 ? { pages: frames } : {}),
      ...(first > 0 ? { page: first } : {}),
    });
    const st: PipelineState = Object.assign(budget, {
      opts,
      config,
      input,
      meta,
      img,
      width: decoded.width,
      height: decoded.height,
      frame: upright,
      geometry,
      pages: frames,
      alpha: meta.hasAlpha === true,
      format,
      deadline: ctx.deadline,
      loadMark: ctx.loadMark,
      headers: {},
      inputScale: ctx.master && meta.width! / ctx.master.width,
      segment: new Segment(),
    });
    for (const step of SOURCE_STEPS) {
      checkDeadline(st);
      await step(st);
    }
    frame(st);
    for (const step of STEPS) {
      checkDeadline(st);
      await step(st);
    }
    checkDeadline(st);
    const out = await encode(st);
    return { body: out.body, contentType: out.contentType, width: out.width, height: out.height, headers: out.headers };
  } catch (err) {
    throw mapError(err, budget);
  }
}
