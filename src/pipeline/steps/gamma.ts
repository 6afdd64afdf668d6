import { op } from '../queue.ts';
import type { PipelineState } from '../context.ts';

/** `gam` (−100…100) as a libvips gamma; the curve differs from imgix's (documented as approximate). */
export async function gamma(st: PipelineState): Promise<void> {
  const gam = st.opts.gam;
  if (!gam) return;
  const g = 1 + (Math.abs(gam) / 100) * 2;
  await op(st, 'gamma', (img) => (gam > 0 ? img.gamma(1, g) : img.gamma(g, 1)));
}
