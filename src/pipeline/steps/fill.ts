import sharp from 'sharp';
import { op, restart } from '../queue.ts';
import { backgroundFor, bounded, checkDeadline, type PipelineState } from '../context.ts';
import { fillGradient } from './gradient.ts';

/**
 * The space fit=fill, fillmax and clamp add around the image to reach the requested box: the
 * fill colour (`fill-color`, else as `bg`), the edge pixels (clamp), a blurred copy of the image
 * (fill=blur) or a gradient (fill=gradient); animations get the colour.
 */
export async function fill(st: PipelineState): Promise<void> {
  const g = st.geometry;
  const e = g.extend;
  if (!e) return;
  if (e.mode === 'background' && st.opts.fill === 'blur' && st.pages === 1) {
    await fillBlur(st, g.width, g.height, e.left, e.top);
  } else if (e.mode === 'background' && st.opts.fill === 'gradient' && st.pages === 1) {
    await fillGradient(st, g.width, g.height, e.left, e.top);
  } else {
    const background = backgroundFor(st, st.opts['fill-color']);
    await op(st, 'extend', (img) => img.extend({ ...e, extendWith: e.mode, background }));
    if (e.mode === 'background' && background.alpha < 1) st.alpha = true;
  }
  st.width = g.width;
  st.height = g.height;
}

/**
 * fill=blur: the free space shows a blurred, cover-scaled copy of the image instead of a colour.
 * The blur (sigma = the longer side / 40) is made on a copy `k` times smaller with a sigma `k`
 * times smaller, then scaled up: the same soft background for a tiny part of the work (a
 * sigma-200 blur over an 8192² canvas costs minutes of CPU).
 */
async function fillBlur(st: PipelineState, width: number, height: number, left: number, top: number): Promise<void> {
  const { data, info } = await bounded(st, st.img.raw({ depth: 'uchar' })).toBuffer({ resolveWithObject: true });
  const raw = { width: info.width, height: info.height, channels: info.channels };
  const sigma = Math.max(0.3, Math.max(width, height) / 40);
  const k = Math.max(1, Math.floor(sigma / 2));
  const small = { width: Math.max(1, Math.round(width / k)), height: Math.max(1, Math.round(height / k)), channels: info.channels };
  const bg = await bounded(st, sharp(data, { raw }).resize(small.width, small.height, { fit: 'cover' }).blur(Math.max(0.3, sigma / k)).raw()).toBuffer();
  restart(st, sharp(bg, { raw: small }).resize(width, height, { fit: 'fill' }).composite([{ input: data, raw, left, top }]), 'resize', 'composite');
  checkDeadline(st);
}
