import { op } from '../queue.ts';
import type { PipelineState } from '../context.ts';

/** The crop of the resized image the geometry decided (anchors, focal point, fit=min). */
export async function crop(st: PipelineState): Promise<void> {
  const c = st.geometry.crop;
  if (!c || !('box' in c)) return;
  await op(st, 'extractPost', (img) => img.extract(c.box));
  st.width = c.box.width;
  st.height = c.box.height;
}
