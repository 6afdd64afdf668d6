import sharp from 'sharp';
import { STAGE, use, type PipelineState } from '../context.ts';
import { place, overlayEntry } from './place.ts';

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/**
 * txt / txt64: text drawn over the image with Pango (txt-font, txt-size in pixels, txt-color,
 * txt-align, txt-pad), wrapped to the image width. Fonts are the server's installed fonts.
 */
export async function text(st: PipelineState): Promise<void> {
  const o = st.opts;
  if (!o.txt) return;
  const W = st.width;
  const H = st.height;
  const padding = o['txt-pad'] ?? 10;
  const c = o['txt-color'] ?? { r: 0, g: 0, b: 0, alpha: 1 };
  const color = `#${[c.r, c.g, c.b].map((v) => v.toString(16).padStart(2, '0')).join('')}`;
  const sizePx = Math.max(1, o['txt-size'] ?? 12);
  const family = (o['txt-font'] ?? 'sans-serif').replace(/[^\w ,-]/g, '');
  const markup = `<span foreground="${color}" ${c.alpha < 1 ? `fgalpha="${Math.max(1, Math.round(c.alpha * 100))}%"` : ''}>${esc(o.txt)}</span>`;
  const wrap = Math.max(1, W - 2 * padding);
  // Text that would cover more than the image (long text, huge size) is fitted into the image
  // instead, so that no request can make Pango render a giant bitmap.
  const tooBig = o.txt.length * sizePx * sizePx * 0.6 > W * H || sizePx > H;
  const fitted = tooBig ? { height: Math.max(1, H - 2 * padding) } : { dpi: 72 };
  const rendered = await sharp({ text: { text: markup, font: `${family} ${sizePx}`, ...fitted, rgba: true, width: wrap, wrap: 'word-char' } })
    .png()
    .toBuffer({ resolveWithObject: true });
  let { data, info } = rendered;
  if (info.width > W || info.height > H) {
    const r = await sharp(data).extract({ left: 0, top: 0, width: Math.min(W, info.width), height: Math.min(H, info.height) }).png().toBuffer({ resolveWithObject: true });
    data = r.data;
    info = r.info;
  }
  const pos = place(W, H, info.width, info.height, o['txt-align'], padding);
  await use(st, STAGE.composite, 'composite');
  st.img.composite([await overlayEntry(st.pages, W, H, data, undefined, pos.left, pos.top)]);
}
