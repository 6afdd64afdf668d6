import { flush, op } from '../queue.ts';
import type { PipelineState } from '../context.ts';

/** `px`: pixelate — shrink by px, then enlarge back with nearest neighbour. */
export async function pixelate(st: PipelineState): Promise<void> {
  const px = st.opts.px;
  if (!px || px <= 1) return;
  const W = st.width;
  const H = st.height;
  await op(st, 'resize', (img) => img.resize(Math.max(1, Math.round(W / px)), Math.max(1, Math.round(H / px)), { fit: 'fill' }));
  await flush(st);
  await op(st, 'resize', (img) => img.resize(W, H, { fit: 'fill', kernel: 'nearest' }));
  st.width = W;
  st.height = H;
}
