import { op } from '../queue.ts';
import { formatHasAlpha, sharpColor, type PipelineState } from '../context.ts';

/**
 * The one flatten: transparency onto an opaque `bg`, else white. It runs before resizing (sharp's
 * order, so it costs no extra pass) when the source's transparency must go — an opaque `bg`, or
 * an output format without alpha (transparency=grid shows it as a checkerboard instead) — and
 * again at encoding for transparency added since (padding, corners, masks) in a format without
 * alpha. A translucent `bg` leaves the image's own transparency as it is.
 */
export async function flatten(st: PipelineState): Promise<void> {
  const bg = st.opts.bg;
  await op(st, 'flatten', (img) => img.flatten({ background: bg ? { ...sharpColor(bg), alpha: 1 } : '#ffffff' }));
  st.alpha = false;
}

/** The step before resizing: flattens a transparent source when its transparency cannot stay. */
export async function background(st: PipelineState): Promise<void> {
  if (!st.alpha) return;
  const bg = st.opts.bg;
  const needs = (!formatHasAlpha(st.format) && st.opts.transparency !== 'grid') || (bg !== undefined && bg.alpha >= 1);
  if (needs) await flatten(st);
}
