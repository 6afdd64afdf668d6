import sharp from 'sharp';
import { flush, restart } from '../queue.ts';
import type { PipelineState } from '../context.ts';
import type { Color } from '../../request/params.ts';

const GRID: [Color, Color] = [
  { r: 0xd0, g: 0xd7, b: 0xdd, alpha: 1 },
  { r: 255, g: 255, b: 255, alpha: 1 },
];

/**
 * transparency=grid: transparent areas show a checkerboard of `grid-colors` (imgix's default
 * D0D7DD,FFFFFF) in squares of `grid-size` pixels, as an editor shows transparency.
 */
export async function transparency(st: PipelineState): Promise<void> {
  if (st.opts.transparency !== 'grid' || !st.alpha) return;
  const [a, b] = st.opts['grid-colors'] ?? GRID;
  const s = Math.max(1, st.opts['grid-size'] ?? 4);
  const { data, info } = await flush(st);
  const rgb = (c: Color) => `rgb(${c.r},${c.g},${c.b})`;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${info.width}" height="${info.height}"><defs><pattern id="p" width="${2 * s}" height="${2 * s}" patternUnits="userSpaceOnUse"><rect width="${2 * s}" height="${2 * s}" fill="${rgb(b)}"/><rect width="${s}" height="${s}" fill="${rgb(a)}"/><rect x="${s}" y="${s}" width="${s}" height="${s}" fill="${rgb(a)}"/></pattern></defs><rect width="100%" height="100%" fill="url(#p)"/></svg>`;
  restart(st, sharp(Buffer.from(svg), { limitInputPixels: false }).composite([{ input: data, raw: { width: info.width, height: info.height, channels: info.channels } }]), 'composite');
  // An animation continues from raw pixels, which keeps its frames.
  if (st.pages > 1) await flush(st);
  st.alpha = false;
}
