import { op } from '../queue.ts';
import type { PipelineState } from '../context.ts';

/** `monochrome`: tinted in the colour, keeping luminance. */
export async function monochrome(st: PipelineState): Promise<void> {
  const c = st.opts.monochrome;
  if (!c) return;
  await op(st, 'tint', (img) => img.tint({ r: c.r, g: c.g, b: c.b }));
}
