import { op } from '../queue.ts';
import type { PipelineState } from '../context.ts';
import type { Box } from '../geometry.ts';

/** `rect`: the source region cut before resizing, as the geometry decided (scaled into a master's pixels when the input is one). */
export async function rect(st: PipelineState): Promise<void> {
  const box = st.geometry.rect;
  if (!box) return;
  const cut = st.inputScale === undefined ? box : scaledBox(box, st.inputScale, st.meta.width!, st.meta.height!);
  await op(st, 'extractPre', (img) => img.extract(cut));
  st.width = box.width;
  st.height = box.height;
}

/** A box of the original's frame in the pixels of an input `k` times its size (a master), within its `width`×`height`: edges to the nearest pixel, so the region shifts by half a master pixel at most. */
function scaledBox(b: Box, k: number, width: number, height: number): Box {
  const left = Math.min(Math.round(b.left * k), width - 1);
  const top = Math.min(Math.round(b.top * k), height - 1);
  const right = Math.max(left + 1, Math.min(Math.round((b.left + b.width) * k), width));
  const bottom = Math.max(top + 1, Math.min(Math.round((b.top + b.height) * k), height));
  return { left, top, width: right - left, height: bottom - top };
}
