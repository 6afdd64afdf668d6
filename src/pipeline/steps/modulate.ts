import { op } from '../queue.ts';
import type { PipelineState } from '../context.ts';

/** `sat`, `vib` and `hue` as one libvips modulate (vibrance counts half as much as saturation). */
export async function modulate(st: PipelineState): Promise<void> {
  const o = st.opts;
  if (!o.sat && !o.hue && !o.vib) return;
  const saturation = Math.max(0, (1 + (o.sat ?? 0) / 100) * (1 + (o.vib ?? 0) / 200));
  await op(st, 'modulate', (img) => img.modulate({ saturation, hue: o.hue ?? 0 }));
}
