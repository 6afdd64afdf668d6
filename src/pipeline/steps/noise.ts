import { op } from '../queue.ts';
import type { PipelineState } from '../context.ts';

/**
 * `nr` (noise reduction, 1–100): a median filter, 3×3 up to 50 and 5×5 above; `nrs` (its
 * sharpening, default 20) restores edges after it.
 */
export async function noise(st: PipelineState): Promise<void> {
  const o = st.opts;
  if (!o.nr || o.nr <= 0) return;
  const size = o.nr > 50 ? 5 : 3;
  await op(st, 'median', (img) => img.median(size));
  const nrs = o.nrs ?? 20;
  if (nrs > 0) await op(st, 'sharpen', (img) => img.sharpen({ sigma: 1, m1: 0, m2: nrs / 10 }));
}
