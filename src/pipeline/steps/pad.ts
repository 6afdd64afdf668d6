import { op } from '../queue.ts';
import { backgroundFor, sharpColor, type PipelineState } from '../context.ts';
import { roundedRectPath } from './radius.ts';
import { strokeSize } from '../geometry.ts';

/**
 * pad / pad-* add space in the bg colour (transparent when the output keeps alpha and no bg is
 * given, white otherwise); border adds its colour around that, `border-top`/`-bottom`/`-left`/
 * `-right` setting one side's width. `border-radius-inner` rounds the corners of what the border
 * frames: the border's colour fills the corners outside that rounded rectangle. With w/h all of it
 * fits inside the requested box (the geometry reserved room for it); without, it adds to the size.
 * border-stroke-size draws a line of that width around the border, in border-stroke-color.
 */
export async function pad(st: PipelineState): Promise<void> {
  const g = st.geometry;
  const p = g.pad;
  if (p.top || p.bottom || p.left || p.right) {
    const bg = backgroundFor(st);
    await op(st, 'extend', (img) => img.extend({ ...p, background: bg }));
    if (bg.alpha < 1) st.alpha = true;
    st.width += p.left + p.right;
    st.height += p.top + p.bottom;
  }
  const border = st.opts.border;
  if (!border) return;
  const color = sharpColor(border.color);
  const inner = st.opts['border-radius-inner'];
  if (inner && inner.some((v) => v > 0)) {
    const W = st.width;
    const H = st.height;
    const fill = `rgb(${color.r},${color.g},${color.b})`;
    // The border's colour outside the rounded rectangle (even-odd: the frame minus the rectangle).
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}"><path fill-rule="evenodd" fill="${fill}" fill-opacity="${color.alpha}" d="M0,0 H${W} V${H} H0 Z ${roundedRectPath(W, H, inner)}"/></svg>`;
    await op(st, 'composite', (img) => img.composite([{ input: Buffer.from(svg), ...(st.pages > 1 ? { tile: true } : {}) }]));
  }
  const b = g.border;
  if (b.top || b.bottom || b.left || b.right) {
    await op(st, 'extend', (img) => img.extend({ ...b, background: color }));
    if (border.color.alpha < 1) st.alpha = true;
    st.width += b.left + b.right;
    st.height += b.top + b.bottom;
  }
  // border-stroke-size: a line around the border in border-stroke-color (imgix's default: transparent white).
  const s = strokeSize(st.opts);
  if (s) {
    const c = st.opts['border-stroke-color'] ?? { r: 255, g: 255, b: 255, alpha: 0 };
    const background = backgroundFor(st, c);
    await op(st, 'extend', (img) => img.extend({ top: s, bottom: s, left: s, right: s, background }));
    if (background.alpha < 1) st.alpha = true;
    st.width += 2 * s;
    st.height += 2 * s;
  }
}
