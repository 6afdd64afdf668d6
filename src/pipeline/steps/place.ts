import type { Align } from '../../request/params.ts';
import { bounded, type Budget } from '../context.ts';

/**
 * Top-left corner of a `w`×`h` overlay on a `W`×`H` image for imgix's mark-align/txt-align
 * (default bottom,right), `pad` pixels from the edges, with optional absolute x/y overrides.
 */
export function place(W: number, H: number, w: number, h: number, align: Align[] | undefined, pad: number, x?: number, y?: number): { left: number; top: number } {
  const a = align ?? [];
  const horiz = a.includes('left') ? 'left' : a.includes('center') ? 'center' : a.includes('right') ? 'right' : 'right';
  const vert = a.includes('top') ? 'top' : a.includes('middle') ? 'middle' : a.includes('bottom') ? 'bottom' : 'bottom';
  let left = x ?? (horiz === 'left' ? pad : horiz === 'center' ? (W - w) / 2 : W - w - pad);
  let top = y ?? (vert === 'top' ? pad : vert === 'middle' ? (H - h) / 2 : H - h - pad);
  left = Math.min(Math.max(0, Math.round(left)), Math.max(0, W - w));
  top = Math.min(Math.max(0, Math.round(top)), Math.max(0, H - h));
  return { left, top };
}

/**
 * A composite entry for an overlay at (left, top). Animations get a page-sized transparent
 * canvas holding the overlay, tiled down the frame strip so that every frame carries it. The
 * canvas is made under `budget`'s deadline (see `bounded`).
 */
export async function overlayEntry(
  pages: number,
  W: number,
  H: number,
  input: Buffer,
  raw: { width: number; height: number; channels: 4 } | undefined,
  left: number,
  top: number,
  budget: Budget = {},
): Promise<import('sharp').OverlayOptions> {
  if (pages <= 1) return { input, ...(raw ? { raw } : {}), left, top };
  const { default: sharp } = await import('sharp');
  const canvas = sharp({ create: { width: W, height: H, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } })
    .composite([{ input, ...(raw ? { raw } : {}), left, top }])
    .png({ compressionLevel: 0 });
  const page = await bounded(budget, canvas).toBuffer();
  return { input: page, tile: true, left: 0, top: 0 };
}
