import sharp from 'sharp';
import { STAGE, use, type PipelineState } from '../context.ts';
import { place, overlayEntry } from './place.ts';
import { ServiceError } from '../../errors.ts';

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/**
 * txt / txt64: text drawn over the image with Pango (txt-font, txt-size in pixels, txt-color,
 * txt-align, txt-pad), wrapped to the image width. Fonts are the server's installed fonts.
 *
 * The text never needs a bitmap larger than the image: its height is estimated before
 * rendering (every explicit line, wrapped to the image width, at a generous size per glyph), and
 * text that would be taller than the image is rendered fitted into the image's height instead
 * of at `txt-size`. The bitmap reaches the composite as a quickly compressed PNG, decoded as it
 * is composited, so its raw pixels are not held a second time.
 * Text that Pango cannot lay out at all is a 422 naming `txt`, never `corrupt_image`.
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
  const boxHeight = Math.max(1, H - 2 * padding);
  const render = async (fit: { height: number } | { dpi: number }) => {
    try {
      return await sharp({ text: { text: markup, font: `${family} ${sizePx}`, ...fit, rgba: true, width: wrap, wrap: 'word-char' } })
        .png({ compressionLevel: 1 })
        .toBuffer({ resolveWithObject: true });
    } catch (err) {
      throw new ServiceError(422, 'unsupported_transformation', `txt: the text cannot be rendered on a ${W}×${H} image`, { cause: err });
    }
  };
  let rendered = await render(textHeight(o.txt, sizePx, wrap) > boxHeight ? { height: boxHeight } : { dpi: 72 });
  // The estimate is generous: when fitting would make the text larger than txt-size, it fits as asked.
  if ((rendered.info.textAutofitDpi ?? 0) > 72) rendered = await render({ dpi: 72 });
  let { data, info } = rendered;
  if (info.width > W || info.height > H) {
    const r = await sharp(data).extract({ left: 0, top: 0, width: Math.min(W, info.width), height: Math.min(H, info.height) }).png({ compressionLevel: 1 }).toBuffer({ resolveWithObject: true });
    data = r.data;
    info = r.info;
  }
  const pos = place(W, H, info.width, info.height, o['txt-align'], padding);
  await use(st, STAGE.composite, 'composite');
  st.img.composite([await overlayEntry(st.pages, W, H, data, undefined, pos.left, pos.top)]);
}

/**
 * A generous estimate of the height of `txt` at `sizePx`, wrapped to `wrap` pixels: each
 * explicit line takes as many rows as its characters need at 1.3 em each (wider than the
 * glyphs of the usual fonts, CJK included), and a row is 1.6 em high.
 */
export function textHeight(txt: string, sizePx: number, wrap: number): number {
  const perRow = Math.max(1, Math.floor(wrap / (1.3 * sizePx)));
  const rows = txt.split('\n').reduce((n, line) => n + Math.max(1, Math.ceil([...line].length / perRow)), 0);
  return rows * sizePx * 1.6;
}
