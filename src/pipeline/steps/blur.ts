import { op } from '../queue.ts';
import type { PipelineState } from '../context.ts';

/** `blur` (sigma = blur / 10) and a negative `usm` (sigma from usmrad and the amount) as gaussian blurs, in that order. */
export async function blur(st: PipelineState): Promise<void> {
  const o = st.opts;
  if (o.blur) {
    const sigma = Math.max(0.3, o.blur / 10);
    await op(st, 'blur', (img) => img.blur(sigma));
  }
  if (o.usm && o.usm < 0) {
    const sigma = Math.max(0.3, ((o.usmrad ?? 2.5) * -o.usm) / 100);
    await op(st, 'blur', (img) => img.blur(sigma));
  }
}
