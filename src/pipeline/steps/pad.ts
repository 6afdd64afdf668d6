import { STAGE, use, backgroundFor, sharpColor, type PipelineState } from '../context.ts';

/**
 * pad / pad-* add space in the bg colour (transparent when the output keeps alpha and no bg is
 * given, white otherwise); border adds its colour around that. With w/h both fit inside the
 * requested box (the geometry reserved room for them); without, they add to the size.
 */
export async function pad(st: PipelineState): Promise<void> {
  const g = st.geometry;
  if (!g) return;
  const p = g.pad;
  if (p.top || p.bottom || p.left || p.right) {
    await use(st, STAGE.extend, 'extend');
    const bg = backgroundFor(st);
    st.img.extend({ ...p, background: bg });
    if (bg.alpha < 1) st.alpha = true;
    st.width += p.left + p.right;
    st.height += p.top + p.bottom;
  }
  const border = st.opts.border;
  if (border) {
    await use(st, STAGE.extend, 'extend');
    const b = border.width;
    st.img.extend({ top: b, bottom: b, left: b, right: b, background: sharpColor(border.color) });
    if (border.color.alpha < 1) st.alpha = true;
    st.width += 2 * b;
    st.height += 2 * b;
  }
}
