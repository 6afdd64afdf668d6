import sharp, { type Sharp, type Metadata, type SharpOptions } from 'sharp';
import { ServiceError } from '../errors.ts';
import type { TransformOptions, Color } from '../request/params.ts';
import type { OutputFormat } from '../request/negotiate.ts';
import type { TransformConfig } from '../config/transform.ts';
import type { Geometry } from './geometry.ts';
import type { Segment } from './queue.ts';

/**
 * What the pipeline decodes: the original's bytes, a local file libvips reads itself with its
 * first bytes (up to 4 KiB, all the format checks look at) and its size, or decoded 8-bit sRGB
 * pixels (a master kept in memory, see src/masters).
 */
export type PipelineInput = EncodedInput | RawPixels;
export type EncodedInput = Buffer | { file: string; head: Buffer; size: number };

/** Decoded pixels: 8 bits per sample, sRGB, 3 channels or 4 with alpha, rows top to bottom. */
export interface RawPixels {
  raw: Buffer;
  width: number;
  height: number;
  channels: 3 | 4;
}

export const isPixels = (input: PipelineInput): input is RawPixels => !Buffer.isBuffer(input) && 'raw' in input;
const NO_BYTES = Buffer.alloc(0);
export const inputHead = (input: PipelineInput): Buffer => (Buffer.isBuffer(input) ? input : 'file' in input ? input.head : NO_BYTES);
export const inputSize = (input: PipelineInput): number => (Buffer.isBuffer(input) ? input.length : 'file' in input ? input.size : input.raw.length);

/** How a render decodes its input: the configured strictness and pixel limit, read once, top to bottom. */
export function decodeOptions(config: TransformConfig, autoOrient: boolean): SharpOptions {
  return { failOn: config.failOn, limitInputPixels: Math.max(config.maxPixels, 1), sequentialRead: true, autoOrient };
}

/** A sharp pipeline on `input`: the bytes, the file's name, or the pixels with their layout. */
export function decoder(input: PipelineInput, options: SharpOptions): Sharp {
  if (Buffer.isBuffer(input)) return sharp(input, options);
  if ('file' in input) return sharp(input.file, options);
  const { raw, width, height, channels } = input;
  return sharp(raw, { ...options, raw: { width, height, channels } });
}

export interface PipelineState {
  opts: TransformOptions;
  config: TransformConfig;
  input: PipelineInput;
  meta: Metadata;
  /** The pipeline being built: steps add to it through the queue (`op`) and replace it with `restart`. */
  img: Sharp;
  /** Current (page) size, as it will be once the queued operations have run. */
  width: number;
  height: number;
  /** Frames kept (1 for still images). */
  pages: number;
  /** True when the image may have transparency (source alpha, padding, rounded corners…). */
  alpha: boolean;
  /** Output format decided before decoding. */
  format: OutputFormat;
  /** The frame the geometry was planned in: the upright size from the header. */
  frame: { width: number; height: number };
  /** Every size decision, planned once (see `frame` in run.ts). */
  geometry: Geometry;
  deadline?: number;
  /** When the earliest libvips timeout set for this render fires (see `bounded`). */
  timeoutAt?: number;
  loadMark?: (path: string) => Promise<Buffer | undefined>;
  headers: Record<string, string>;
  /** Input pixels per pixel of the frame `width`×`height` start in, until the resize (set for a master). */
  inputScale?: number;
  /** Where the current pipeline stands in sharp's order (see queue.ts); only the queue reads it. */
  segment: Segment;
}

/** Throw 503 when the request's deadline has passed (checked between steps). */
export function checkDeadline(st: { deadline?: number }): void {
  if (st.deadline !== undefined && Date.now() > st.deadline) throw deadlineExceeded();
}

export function deadlineExceeded(): ServiceError {
  return new ServiceError(503, 'deadline_exceeded', 'Service Unavailable: the transformation did not finish in time', { headers: { 'Retry-After': '1' } });
}

/**
 * Put a libvips pipeline under the request's remaining time before it is materialised
 * (`toBuffer`): sharp's `timeout` stops libvips itself, per pipeline, in whole seconds — checking
 * the deadline between steps cannot stop a step that is running. The seconds are rounded down,
 * since libvips notices the timeout a little late (up to about a second on pipelines with big
 * tiles); with less than one second left nothing is started. Every `toBuffer` of the pipeline
 * goes through here.
 */
export function bounded(st: Budget, img: Sharp): Sharp {
  if (st.deadline === undefined) return img;
  const left = st.deadline - Date.now();
  if (left < 1000) throw deadlineExceeded();
  const seconds = Math.floor(left / 1000);
  st.timeoutAt = Math.min(st.timeoutAt ?? Infinity, Date.now() + seconds * 1000);
  return img.timeout({ seconds });
}

/** The deadline, and when the earliest libvips timeout set by `bounded` fires. */
export interface Budget {
  deadline?: number;
  timeoutAt?: number;
}

/**
 * True once a libvips timeout set by `bounded` has fired: a libvips error then is the timeout,
 * whatever its text (libvips' error buffer is shared, so a killed pipeline can report another
 * one's message, or its decoder's warning).
 */
export function timedOut(st: Budget): boolean {
  return st.timeoutAt !== undefined && Date.now() >= st.timeoutAt;
}

/** A colour for sharp's `background` options. */
export function sharpColor(c: Color): { r: number; g: number; b: number; alpha: number } {
  return { r: c.r, g: c.g, b: c.b, alpha: c.alpha };
}

/** Formats whose encoder keeps an alpha channel. */
export function formatHasAlpha(f: OutputFormat): boolean {
  return f === 'png' || f === 'webp' || f === 'avif' || f === 'gif';
}

/**
 * The colour of added space (padding, fill, rotation corners): `bg` when given, otherwise
 * transparent when the output keeps alpha and white when it does not — as imgix does.
 */
export function backgroundFor(st: PipelineState, explicit?: Color): { r: number; g: number; b: number; alpha: number } {
  const c = explicit ?? st.opts.bg;
  if (c) return formatHasAlpha(st.format) ? sharpColor(c) : { ...sharpColor(c), alpha: 1 };
  return formatHasAlpha(st.format) ? { r: 0, g: 0, b: 0, alpha: 0 } : { r: 255, g: 255, b: 255, alpha: 1 };
}
