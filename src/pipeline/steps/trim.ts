import { flush, STAGE, use, sharpColor, type PipelineState } from '../context.ts';

/**
 * trim=auto cuts borders of the top-left pixel's colour; trim=color cuts `trim-color` within
 * `trim-tol`. The trimmed size is only known after running, so the pipeline is materialised here
 * (trim is rare; everything else still decides its geometry once).
 */
export async function trim(st: PipelineState): Promise<void> {
  const { trim: mode } = st.opts;
  if (!mode) return;
  await use(st, STAGE.trim, 'trim');
  const threshold = Math.max(1, st.opts['trim-tol'] ?? 10);
  if (mode === 'color' && st.opts['trim-color']) st.img.trim({ background: sharpColor(st.opts['trim-color']), threshold });
  else st.img.trim({ threshold });
  await flush(st);
}
