import sharp, { type Metadata } from 'sharp';
import { ServiceError } from '../errors.ts';
import type { TransformConfig } from './config.ts';
import type { TransformOptions } from '../request/params.ts';
import { autoFormatFor, FORMAT_CONTENT_TYPE, type NegotiatedFormat, type OutputFormat } from '../request/negotiate.ts';
import { computeGeometry, strokeSize } from './geometry.ts';
import { checkDeadline, timedOut, type Budget, inputHead, inputSize, sharpInput, type PipelineInput, type PipelineState } from './context.ts';
import { detectContentType } from '../content-type.ts';
import { checkRenderCost, renderCost } from './cost.ts';
import { probe } from './steps/probe.ts';
import { orient } from './steps/orient.ts';
import { trim } from './steps/trim.ts';
import { background } from './steps/background.ts';
import { resize } from './steps/resize.ts';
import { rotate } from './steps/rotate.ts';
import { adjust } from './steps/adjust.ts';
import { stylize } from './steps/stylize.ts';
import { pad } from './steps/pad.ts';
import { watermark } from './steps/watermark.ts';
import { text } from './steps/text.ts';
import { radius } from './steps/radius.ts';
import { transparency } from './steps/transparency.ts';
import { tone } from './steps/tone.ts';
import { focalDebug } from './steps/debug.ts';
import { blend } from './steps/blend.ts';
import { mask } from './steps/mask.ts';
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

/** The fixed order of steps; each returns at once when its parameters are absent. */
const STEPS: ReadonlyArray<(st: PipelineState) => Promise<void>> = [orient, trim, background, resize, focalDebug, rotate, tone, adjust, stylize, blend, pad, watermark, text, radius, mask, transparency, animation];

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

/** Map a libvips/sharp failure to a stable 4xx/503; programming errors pass through unchanged. */
function mapError(err: unknown, budget: Budget): unknown {
  if (err instanceof ServiceError || err instanceof TypeError || err instanceof RangeError || err instanceof ReferenceError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  // sharp's timeout: libvips reports `timeout: N% complete`, or `killed` from a pipeline that shares the image.
  if (/timeout|killed for image/i.test(msg) || timedOut(budget)) return new ServiceError(503, 'deadline_exceeded', 'Service Unavailable: the transformation did not finish in time', { cause: err, headers: { 'Retry-After': '1' } });
  if (/pixel limit/i.test(msg)) return new ServiceError(422, 'image_too_large', 'Unprocessable: the source image is larger than the pixel limit', { cause: err });
  if (/unsupported image format/i.test(msg)) return new ServiceError(415, 'unsupported_image', 'Unsupported Media Type: the source is not an image format this service reads', { cause: err });
  if (/^Expected |multi-page|unsupported/i.test(msg)) return new ServiceError(422, 'unsupported_transformation', 'Unprocessable: this combination of parameters cannot be applied to this image', { cause: err });
  return new ServiceError(422, 'corrupt_image', 'Unprocessable: the source image could not be decoded', { cause: err });
}

/**
 * One decode, fixed steps, one encode. The header is read first (format, size, orientation,
 * frames) and the pixel limit and the cost estimate enforced before any decode; geometry is computed once; libvips
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
    const swap = opts.orient === undefined && (meta.orientation ?? 1) >= 5;
    const w = ctx.master?.width ?? meta.width!;
    const h = ctx.master?.height ?? meta.pageHeight ?? meta.height!;
    const own = ctx.master?.format ?? keepFormat(meta);
    let format = ctx.format ?? own;
    if (ctx.insteadOfAvif) {
      const g = computeGeometry(swap ? h : w, swap ? w : h, opts, config.maxOutputSize);
      const ownFormat = own === 'avif' ? (meta.hasAlpha ? 'png' : 'jpeg') : own;
      format = autoFormatFor(format, ctx.insteadOfAvif, { animated: selected > 1, outputPixels: g.width * g.height, ownFormat }, config.autoAvifMaxPixels);
    }
    if (opts['rasterize-bypass'] && meta.format === 'svg') {
      // The same policy as an SVG original served untouched: no script runs if it is opened directly.
      const headers = { 'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; sandbox" };
      return { body: await svgBypass(input, opts['svg-sanitize'] !== false), contentType: 'image/svg+xml', headers };
    }
    if (format === 'json') {
      const contentType = detectContentType(inputHead(input)) ?? `image/${meta.format}`;
      const g = computeGeometry(swap ? h : w, swap ? w : h, opts, config.maxOutputSize);
      const s = 2 * strokeSize(opts);
      const output = { width: g.width + g.pad.left + g.pad.right + g.border.left + g.border.right + s, height: g.height + g.pad.top + g.pad.bottom + g.border.top + g.border.bottom + s };
      const body = Buffer.from(JSON.stringify(jsonMetadata(meta, inputSize(input), contentType, inputHead(input), output)));
      return { body, contentType: FORMAT_CONTENT_TYPE.json, headers: {} };
    }
    const frames = format === 'gif' || format === 'webp' ? Math.max(1, selected) : 1;
    checkRenderCost(renderCost({ width: w, height: h, frames, swap }, opts, format, config.maxOutputSize), config.maxRenderCost);
    checkDeadline(ctx);
    const autoOrient = opts.orient === undefined;
    const img = sharp(sharpInput(input), {
      failOn: config.failOn,
      limitInputPixels: Math.max(config.maxPixels, 1),
      sequentialRead: true,
      autoOrient,
      ...(frames > 1 ? { pages: frames } : {}),
      ...(first > 0 ? { page: first } : {}),
    });
    const st: PipelineState = Object.assign(budget, {
      opts,
      config,
      input,
      meta,
      img,
      width: swap ? h : w,
      height: swap ? w : h,
      pages: frames,
      alpha: meta.hasAlpha === true,
      format,
      deadline: ctx.deadline,
      loadMark: ctx.loadMark,
      headers: {},
      inputScale: ctx.master && meta.width! / ctx.master.width,
      stage: 0,
      used: new Set<string>(),
    });
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
