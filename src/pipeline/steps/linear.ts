import { op } from '../queue.ts';
import type { PipelineState } from '../context.ts';

/** `bri`, `con` and `exp` (−100…100) as one linear a·x+b: exposure scales, contrast pivots on mid-grey, brightness offsets. */
export async function linear(st: PipelineState): Promise<void> {
  const o = st.opts;
  if (!o.bri && !o.con && !o.exp) return;
  const e = Math.pow(2, (o.exp ?? 0) / 50);
  const f = 1 + (o.con ?? 0) / 100;
  const b = 128 * (1 - f) + (255 * (o.bri ?? 0)) / 100;
  await op(st, 'linear', (img) => img.linear(e * f, b));
}
