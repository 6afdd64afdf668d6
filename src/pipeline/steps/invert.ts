import { op } from '../queue.ts';
import type { PipelineState } from '../context.ts';

/** `invert`: the colours negated, alpha kept. */
export async function invert(st: PipelineState): Promise<void> {
  if (!st.opts.invert) return;
  await op(st, 'negate', (img) => img.negate({ alpha: false }));
}
