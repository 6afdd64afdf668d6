import { op } from '../queue.ts';
import type { PipelineState } from '../context.ts';
import { composeOrientation, orientToExif } from '../orientation.ts';

/**
 * Orientation. Without `orient`, the decoder applies the EXIF orientation itself (sharp
 * `autoOrient`, which keeps shrink-on-load) and `flip` runs after resizing. With `orient`, EXIF is
 * overridden and the orientation plus `flip` become one flop+rotate before resizing.
 */
export async function orient(st: PipelineState): Promise<void> {
  if (st.opts.orient === undefined) return;
  const o = composeOrientation(orientToExif(st.opts.orient), st.opts.flip);
  if (o.angle === 0 && !o.flop) return;
  await op(st, 'orient', (img) => {
    if (o.angle) img.rotate(o.angle);
    if (o.flop) img.flop();
  });
  if (o.swaps) [st.width, st.height] = [st.height, st.width];
}
