import sharp, { type OutputInfo, type Sharp } from 'sharp';
import { ServiceError } from '../errors.ts';
import { bounded, checkDeadline, type PipelineState } from './context.ts';

/**
 * sharp runs the operations of one pipeline in its own fixed order, whatever order they are
 * called in, and each of its methods can be set once per pipeline. The queue hides that: a step
 * names the operation it adds (`op`), and when sharp would run it earlier than one already
 * queued, or its method is already taken, the pending work is materialised first and a new
 * pipeline starts on the raw pixels — never on re-encoded bytes. Steps never see that order.
 *
 * Each operation: its place in sharp's order, and the sharp method it takes.
 */
const ORDER = {
  /** `orient`: rotate/flop before anything else. */
  orient: [1, 'rotate'],
  /** A cut of the source before resizing (rect, trim, rot's straighten). */
  extractPre: [3, 'extractPre'],
  flatten: [4, 'flatten'],
  /** gamma runs around the resize and disables shrink-on-load. */
  gamma: [5, 'gamma'],
  resize: [7, 'resize'],
  /** flip/flop after the resize (without `orient`). */
  flip: [8, 'flip'],
  /** `rot`: an angle, after the resize. */
  rotate: [9, 'rotate'],
  /** A cut after resizing (crop). */
  extractPost: [10, 'extractPost'],
  extend: [12, 'extend'],
  blur: [14, 'blur'],
  median: [14, 'median'],
  recomb: [16, 'recomb'],
  modulate: [17, 'modulate'],
  sharpen: [18, 'sharpen'],
  composite: [19, 'composite'],
  linear: [20, 'linear'],
  tint: [22, 'tint'],
  negate: [23, 'negate'],
} as const satisfies Record<string, readonly [number, string]>;

export type Operation = keyof typeof ORDER;

/** Where the current pipeline segment stands in sharp's order. */
export class Segment {
  stage = 0;
  readonly used = new Set<string>();

  /** True when `name` can join this segment. */
  fits(name: Operation): boolean {
    const [stage, method] = ORDER[name];
    return stage >= this.stage && !this.used.has(method);
  }

  add(name: Operation): void {
    const [stage, method] = ORDER[name];
    this.stage = Math.max(this.stage, stage);
    this.used.add(method);
  }

  reset(): void {
    this.stage = 0;
    this.used.clear();
  }
}

/**
 * Queue operation `name`, applied by `apply` to the pipeline; the pending work is materialised
 * first when sharp would not run it in this place. sharp checks the arguments as they are given:
 * arguments it refuses are a 422 for the parameters, not a decoding failure.
 */
export async function op(st: PipelineState, name: Operation, apply: (img: Sharp) => unknown): Promise<void> {
  if (!st.segment.fits(name)) await flush(st);
  st.segment.add(name);
  try {
    apply(st.img);
  } catch (err) {
    if (!(err instanceof Error) || err.constructor !== Error) throw err;
    throw new ServiceError(422, 'unsupported_transformation', 'Unprocessable: this combination of parameters cannot be applied to this image', { cause: err });
  }
}

/** Run the queued operations and continue from their raw pixels in a new pipeline; the pixels are returned for steps that read them. */
export async function flush(st: PipelineState): Promise<{ data: Buffer; info: OutputInfo }> {
  const { data, info } = await bounded(st, st.img.raw({ depth: 'uchar' })).toBuffer({ resolveWithObject: true });
  const pageHeight = st.pages > 1 ? info.height / st.pages : undefined;
  restart(st, sharp(data, {
    raw: { width: info.width, height: info.height, channels: info.channels, ...(pageHeight && Number.isInteger(pageHeight) ? { pageHeight } : {}) },
    limitInputPixels: false,
    sequentialRead: true,
    ...(pageHeight ? { pages: -1 } : {}),
  }));
  st.width = info.width;
  st.height = pageHeight ?? info.height;
  st.alpha = info.channels === 2 || info.channels === 4;
  checkDeadline(st);
  return { data, info };
}

/** Continue from a new pipeline a step built itself (from pixels it computed), with the operations it already queued on it. */
export function restart(st: PipelineState, img: Sharp, ...queued: Operation[]): void {
  st.img = img;
  st.segment.reset();
  for (const name of queued) st.segment.add(name);
}
