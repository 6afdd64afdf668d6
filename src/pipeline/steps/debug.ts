import { op } from '../queue.ts';
import type { PipelineState } from '../context.ts';

/**
 * fp-debug=true with crop=focalpoint: a crosshair and circle mark where the focal point (fp-x,
 * fp-y) lands in the cropped image, for checking focal points by eye. Runs right after the crop.
 */
export async function focalDebug(st: PipelineState): Promise<void> {
  const o = st.opts;
  const g = st.geometry;
  if (!o['fp-debug'] || !o.crop?.includes('focalpoint')) return;
  const rw = g.resize?.width ?? st.width;
  const rh = g.resize?.height ?? st.height;
  const box = g.crop && 'box' in g.crop ? g.crop.box : { left: 0, top: 0 };
  const x = Math.round((o['fp-x'] ?? 0.5) * rw - box.left);
  const y = Math.round((o['fp-y'] ?? 0.5) * rh - box.top);
  const W = st.width;
  const H = st.height;
  const r = Math.max(4, Math.round(Math.min(W, H) / 12));
  const stroke = 2 * Math.max(1, Math.round(Math.min(W, H) / 200));
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}"><g stroke="#ff00ff" stroke-width="${stroke}" fill="none"><line x1="${x}" y1="0" x2="${x}" y2="${H}"/><line x1="0" y1="${y}" x2="${W}" y2="${y}"/><circle cx="${x}" cy="${y}" r="${r}"/></g></svg>`;
  await op(st, 'composite', (img) => img.composite([{ input: Buffer.from(svg), ...(st.pages > 1 ? { tile: true } : {}) }]));
}
