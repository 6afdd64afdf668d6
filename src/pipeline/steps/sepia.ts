import { op } from '../queue.ts';
import type { PipelineState } from '../context.ts';

type Matrix = [[number, number, number], [number, number, number], [number, number, number]];

const SEPIA = [
  [0.393, 0.769, 0.189],
  [0.349, 0.686, 0.168],
  [0.272, 0.534, 0.131],
];

/** `sepia`: the sepia colour matrix blended with the identity by strength (0–100). */
export async function sepia(st: PipelineState): Promise<void> {
  if (!st.opts.sepia) return;
  const k = st.opts.sepia / 100;
  const m = SEPIA.map((row, i) => row.map((v, j) => k * v + (1 - k) * (i === j ? 1 : 0)));
  await op(st, 'recomb', (img) => img.recomb(m as Matrix));
}
