import sharp from 'sharp';
import { op } from '../queue.ts';
import type { PipelineState } from '../context.ts';

/**
 * The resize the geometry decided: to its size, or cover-scaled and cut by a libvips smart crop
 * (attention, entropy). A plain resize lets libvips shrink on load.
 */
export async function resize(st: PipelineState): Promise<void> {
  const { resize: size, crop } = st.geometry;
  if (!size || (size.width === st.width && size.height === st.height && !crop)) return;
  if (crop && 'strategy' in crop) {
    await op(st, 'resize', (img) => img.resize(crop.width, crop.height, { fit: 'cover', position: sharp.strategy[crop.strategy] }));
    st.width = crop.width;
    st.height = crop.height;
  } else {
    await op(st, 'resize', (img) => img.resize(size.width, size.height, { fit: 'fill' }));
    st.width = size.width;
    st.height = size.height;
  }
}
