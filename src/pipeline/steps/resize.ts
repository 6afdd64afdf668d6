import sharp from 'sharp';
import { op } from '../queue.ts';
import type { PipelineState } from '../context.ts';

/**
 * The resize the geometry decided: to its size, or cover-scaled and cut by a libvips smart crop
 * (attention, entropy). A plain resize lets libvips shrink on load; from a master (an input
 * smaller than the frame the geometry is in) the resize always runs, without libvips' coarse
 * shrink-on-load, which would add its own aliasing to the master's.
 */
export async function resize(st: PipelineState): Promise<void> {
  const { resize: size, crop } = st.geometry;
  const fromMaster = st.inputScale !== undefined;
  if (!size || (!fromMaster && size.width === st.width && size.height === st.height && !crop)) return;
  const load = fromMaster ? { fastShrinkOnLoad: false } : {};
  if (crop && 'strategy' in crop) {
    await op(st, 'resize', (img) => img.resize(crop.width, crop.height, { fit: 'cover', position: sharp.strategy[crop.strategy], ...load }));
    st.width = crop.width;
    st.height = crop.height;
  } else {
    await op(st, 'resize', (img) => img.resize(size.width, size.height, { fit: 'fill', ...load }));
    st.width = size.width;
    st.height = size.height;
  }
}
