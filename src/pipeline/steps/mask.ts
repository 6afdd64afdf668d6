import type { OverlayOptions } from 'sharp';
import { op } from '../queue.ts';
import { sharpColor, type PipelineState } from '../context.ts';
import { roundedRectPath } from './radius.ts';
import { layerPixels, loadLayer } from './layer.ts';

/**
 * mask: the image is kept inside an ellipse (mask=ellipse), a rounded rectangle (mask=corners,
 * radii from corner-radius, default a tenth of the shorter side), or the alpha of a mask image
 * from the service's sources stretched over it (its luminance when it has no alpha). Outside,
 * the image is transparent, or `mask-bg` (formats without alpha show white, as everywhere).
 */
export async function mask(st: PipelineState): Promise<void> {
  const m = st.opts.mask;
  if (!m) return;
  const W = st.width;
  const H = st.height;
  let input: OverlayOptions;
  if ('keyword' in m) {
    const shape =
      m.keyword === 'ellipse'
        ? `<ellipse cx="${W / 2}" cy="${H / 2}" rx="${W / 2}" ry="${H / 2}" fill="#fff"/>`
        : `<path d="${roundedRectPath(W, H, st.opts['corner-radius'] ?? Array(4).fill(Math.round(Math.min(W, H) / 10)))}" fill="#fff"/>`;
    input = { input: Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}">${shape}</svg>`) };
  } else {
    const img = await loadLayer(st, 'mask', m.path);
    const meta = await img.metadata();
    const sized = img.resize(W, H, { fit: 'fill' });
    // The mask's alpha, or its luminance when it has none, becomes the alpha of a white layer.
    const src = await layerPixels(st, meta.hasAlpha ? sized : sized.greyscale(), 'mask');
    const out = Buffer.alloc(W * H * 4, 255);
    for (let i = 0; i < W * H; i++) out[i * 4 + 3] = meta.hasAlpha ? src.data[i * 4 + 3]! : src.data[i * 4]!;
    input = { input: out, raw: { width: W, height: H, channels: 4 } };
  }
  const tile = st.pages > 1 ? { tile: true } : {};
  const layers: OverlayOptions[] = [{ ...input, blend: 'dest-in', ...tile }];
  const bg = st.opts['mask-bg'];
  if (bg) layers.push({ input: { create: { width: W, height: H, channels: 4, background: sharpColor(bg) } }, blend: 'dest-over', ...tile });
  await op(st, 'composite', (img) => img.composite(layers));
  if (!bg || bg.alpha < 1) st.alpha = true;
}
