import { op } from '../queue.ts';
import type { PipelineState } from '../context.ts';

/** `flip` without `orient`: after the resize, before the crop (with `orient`, the orient step flips). */
export async function flip(st: PipelineState): Promise<void> {
  const f = st.opts.flip;
  if (!f || st.opts.orient !== undefined) return;
  await op(st, 'flip', (img) => {
    if (f.includes('h')) img.flop();
    if (f.includes('v')) img.flip();
  });
}
