import { ServiceError } from '../../errors.ts';
import { op } from '../queue.ts';
import type { PipelineState } from '../context.ts';

/**
 * `upscale`: an enlarged image is sharpened after libvips' lanczos3 (no super-resolution model),
 * within imgix's limits: sources up to 4096×4096, still images, enlarged. Where it cannot apply,
 * the image renders without it, or with upscale-fallback=false is refused, as imgix does.
 */
export async function upscale(st: PipelineState): Promise<void> {
  const o = st.opts;
  if (!o.upscale) return;
  const g = st.geometry;
  const srcW = g.rect?.width ?? st.meta.width ?? Infinity;
  const srcH = g.rect?.height ?? st.meta.pageHeight ?? st.meta.height ?? Infinity;
  const applies = st.pages === 1 && Math.max(srcW, srcH) <= 4096 && g.resize !== undefined && g.resize.width * g.resize.height > srcW * srcH;
  if (applies) {
    await op(st, 'sharpen', (img) => img.sharpen({ sigma: 1, m1: 1, m2: 3 }));
  } else if (o['upscale-fallback'] === false) {
    throw new ServiceError(422, 'unsupported_transformation', 'Unprocessable: upscale cannot be applied to this image (it is not enlarged, animated, or larger than 4096×4096), and upscale-fallback=false');
  }
}
