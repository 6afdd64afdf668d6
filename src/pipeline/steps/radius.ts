import { op } from '../queue.ts';
import type { PipelineState } from '../context.ts';

/** An SVG path of a W×H rectangle with corner radii [top-left, top-right, bottom-right, bottom-left], each at most half the shorter side. */
export function roundedRectPath(W: number, H: number, r: readonly number[]): string {
  const max = Math.min(W, H) / 2;
  const [tl, tr, br, bl] = r.map((v) => Math.min(v, max)) as [number, number, number, number];
  return `M${tl},0 H${W - tr} A${tr},${tr} 0 0 1 ${W},${tr} V${H - br} A${br},${br} 0 0 1 ${W - br},${H} H${bl} A${bl},${bl} 0 0 1 0,${H - bl} V${tl} A${tl},${tl} 0 0 1 ${tl},0 Z`;
}

/** border-radius: corners outside the rounded rectangle become transparent (a dest-in mask). */
export async function radius(st: PipelineState): Promise<void> {
  const r = st.opts['border-radius'];
  if (!r || r.every((v) => v === 0)) return;
  const W = st.width;
  const H = st.height;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}"><path d="${roundedRectPath(W, H, r)}" fill="#fff"/></svg>`;
  await op(st, 'composite', (img) => img.composite([{ input: Buffer.from(svg), blend: 'dest-in', ...(st.pages > 1 ? { tile: true } : {}) }]));
  st.alpha = true;
}
