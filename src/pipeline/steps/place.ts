import type { Align } from '../../request/params.ts';

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
