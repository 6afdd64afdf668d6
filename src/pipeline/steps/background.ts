import { STAGE, use, formatHasAlpha, sharpColor, type PipelineState } from '../context.ts';

/**
 * Transparent sources: with an opaque `bg` the image is flattened onto it; when the output format
 * has no alpha channel it is flattened onto `bg` or white. Runs before resizing (sharp's order),
 * so it costs no extra pass. A translucent `bg` leaves the image's own transparency as it is.
 */
export async function background(st: PipelineState): Promise<void> {
  if (!st.alpha) return;
  const bg = st.opts.bg;
  // transparency=grid shows the transparent areas as a checkerboard at the end, in any format.
  const needs = (!formatHasAlpha(st.format) && st.opts.transparency !== 'grid') || (bg !== undefined && bg.alpha >= 1);
  if (!needs) return;
  await use(st, STAGE.flatten, 'flatten');
  st.img.flatten({ background: bg ? { ...sharpColor(bg), alpha: 1 } : '#ffffff' });
  st.alpha = false;
}
