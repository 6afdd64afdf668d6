import { op } from '../queue.ts';
import type { PipelineState } from '../context.ts';

/** `rect`: the source region cut before resizing, as the geometry decided. */
export async function rect(st: PipelineState): Promise<void> {
  const box = st.geometry.rect;
  if (!box) return;
  await op(st, 'extractPre', (img) => img.extract(box));
  st.width = box.width;
  st.height = box.height;
}
