import { op } from '../queue.ts';
import type { PipelineState } from '../context.ts';

type Matrix = [[number, number, number], [number, number, number], [number, number, number]];

const LUMA = [0.2126, 0.7152, 0.0722];

/**
 * `duotone`: luminance mapped from the shadow colour to the highlight colour (one matrix plus an
 * offset), blended with the image by duotone-alpha.
 */
export async function duotone(st: PipelineState): Promise<void> {
  if (!st.opts.duotone) return;
  const [lo, hi] = st.opts.duotone;
  const a = (st.opts['duotone-alpha'] ?? 100) / 100;
  const d = [hi.r - lo.r, hi.g - lo.g, hi.b - lo.b];
  const m = [0, 1, 2].map((c) => [0, 1, 2].map((k) => (a * d[c]! * LUMA[k]!) / 255 + (1 - a) * (c === k ? 1 : 0)));
  await op(st, 'recomb', (img) => img.recomb(m as Matrix));
  await op(st, 'linear', (img) => img.linear([1, 1, 1], [a * lo.r, a * lo.g, a * lo.b]));
}
