import { op } from '../queue.ts';
import type { PipelineState } from '../context.ts';

/** `sharp` and a positive `usm` (radius from usmrad) as libvips sharpen; usm wins when both are given. */
export async function sharpen(st: PipelineState): Promise<void> {
  const o = st.opts;
  if (o.usm && o.usm > 0) {
    const options = { sigma: Math.min(10, Math.max(0.3, (o.usmrad ?? 2.5) / 2)), m1: 0, m2: (o.usm / 100) * 10 };
    await op(st, 'sharpen', (img) => img.sharpen(options));
  } else if (o.sharp) {
    const options = { sigma: 0.5 + (o.sharp / 100) * 2, m1: 0.5, m2: (o.sharp / 100) * 10 };
    await op(st, 'sharpen', (img) => img.sharpen(options));
  }
}
