import sharp, { type OverlayOptions } from 'sharp';
import { op } from '../queue.ts';
import { type PipelineState, bounded, timedOut } from '../context.ts';
import { fontDescription, registerFonts } from '../fonts.ts';
import { place, overlayEntry } from './place.ts';
import { ServiceError } from '../../errors.ts';

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
type Bitmap = { data: Buffer; width: number; height: number };

/**
 * txt / txt64: text drawn over the image with Pango in the shipped Noto fonts (txt-font names map
 * to the closest face, see fonts.ts), txt-size in pixels, txt-color, txt-track (letter spacing),
 * txt-lead (line spacing), wrapped to txt-width (default the image width less txt-pad). txt-fit=max
 * shrinks text that does not fit; txt-clip keeps one line and cuts it at the end, start or middle,
 * with an ellipsis when asked. txt-line draws an outline of that width in txt-line-color (default
 * white), txt-shad a soft shadow. Placed by txt-align and txt-pad, or txt-x / txt-y.
 *
 * The text never needs a bitmap larger than the image: its height is estimated before
 * rendering (every explicit line, wrapped to its box, at a generous size per glyph), and text
 * that would be taller than the image is rendered fitted into the image's height instead of at
 * `txt-size`. The bitmap reaches the composite as a quickly compressed PNG, decoded as it is
 * composited, so its raw pixels are not held a second time. Text that Pango cannot lay out at all
 * is a 422 naming `txt`, never `corrupt_image`.
 */
export async function text(st: PipelineState): Promise<void> {
  const o = st.opts;
  if (!o.txt) return;
  await registerFonts();
  const W = st.width;
  const H = st.height;
  const padding = o['txt-pad'] ?? 10;
  const c = o['txt-color'] ?? { r: 0, g: 0, b: 0, alpha: 1 };
  const color = `#${[c.r, c.g, c.b].map((v) => v.toString(16).padStart(2, '0')).join('')}`;
  const sizePx = Math.max(1, o['txt-size'] ?? 12);
  const boxW = Math.max(1, Math.min(W - 2 * padding, o['txt-width'] || Infinity));
  const boxH = Math.max(1, H - 2 * padding);
  const track = o['txt-track'] ? ` letter_spacing="${Math.round(o['txt-track'] * 1024)}"` : '';
  const markup = (t: string) => `<span foreground="${color}"${c.alpha < 1 ? ` fgalpha="${Math.max(1, Math.round(c.alpha * 100))}%"` : ''}${track}>${esc(t)}</span>`;
  const font = fontDescription(o['txt-font']);
  const clip = o['txt-clip'];
  const draw = async (t: string, fit: 'size' | 'box', wrap: boolean): Promise<Bitmap & { autofitDpi?: number }> => {
    const size = fit === 'box' ? { width: boxW, height: boxH } : { dpi: 72, ...(wrap ? { width: boxW } : {}) };
    const img = sharp({ text: { text: markup(t), font: `${font} ${sizePx}`, rgba: true, ...size, ...(wrap ? { wrap: 'word-char' as const } : {}), ...(o['txt-lead'] ? { spacing: o['txt-lead'] } : {}) } });
    try {
      const { data, info } = await bounded(st, img.raw()).toBuffer({ resolveWithObject: true });
      return { data, width: info.width, height: info.height, autofitDpi: info.textAutofitDpi };
    } catch (err) {
      if (timedOut(st)) throw err;
      throw new ServiceError(422, 'unsupported_transformation', `txt: the text cannot be rendered on a ${W}×${H} image`, { cause: err });
    }
  };
  // Text estimated taller than its box is fitted into it, so that no request can make Pango render a giant bitmap.
  const tooBig = textHeight(o.txt, sizePx, boxW) > boxH;
  let bmp: Bitmap;
  if (clip) bmp = await clipped(o.txt, clip, boxW, (t) => draw(t, 'size', false));
  else {
    let drawn = await draw(o.txt, tooBig ? 'box' : 'size', true);
    // The estimate is generous: when fitting would make the text larger than txt-size, it is drawn as asked.
    if (tooBig && (drawn.autofitDpi ?? 0) > 72) drawn = await draw(o.txt, 'size', true);
    if (o['txt-fit'] === 'max' && (drawn.width > boxW || drawn.height > boxH)) drawn = await draw(o.txt, 'box', true);
    bmp = drawn;
  }
  bmp = await decorate(st, bmp);
  if (bmp.width > W || bmp.height > H) bmp = await crop(st, bmp, 0, Math.min(W, bmp.width), Math.min(H, bmp.height));
  const pos = place(W, H, bmp.width, bmp.height, o['txt-align'], padding, o['txt-x'], o['txt-y']);
  const png = await bounded(st, sharp(bmp.data, { raw: { width: bmp.width, height: bmp.height, channels: 4 } }).png({ compressionLevel: 1 })).toBuffer();
  const entry = await overlayEntry(st.pages, W, H, png, undefined, pos.left, pos.top, st);
  await op(st, 'composite', (img) => img.composite([entry]));
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

async function crop(st: PipelineState, b: Bitmap, left: number, width: number, height: number): Promise<Bitmap> {
  const { data, info } = await bounded(st, sharp(b.data, { raw: { width: b.width, height: b.height, channels: 4 } }).extract({ left, top: 0, width, height }).raw()).toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

/** txt-clip: one line, cut to `boxW` at the end (default), the start or the middle; with ellipsis, whole characters give way to "…". */
async function clipped(txt: string, clip: string[], boxW: number, draw: (t: string) => Promise<Bitmap>): Promise<Bitmap> {
  const line = txt.replace(/\s*\n\s*/g, ' ');
  const full = await draw(line);
  if (full.width <= boxW) return full;
  const side = clip.includes('start') ? 'start' : clip.includes('middle') ? 'middle' : 'end';
  const chars = [...line];
  if (clip.includes('ellipsis')) {
    // The longest cut whose ellipsised line fits (binary search on the characters kept).
    const cut = (n: number) => (side === 'start' ? `…${chars.slice(chars.length - n).join('')}` : side === 'middle' ? `${chars.slice(0, Math.ceil(n / 2)).join('')}…${chars.slice(chars.length - Math.floor(n / 2)).join('')}` : `${chars.slice(0, n).join('')}…`);
    let lo = 0;
    let hi = chars.length - 1;
    let best = await draw('…');
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      const b = await draw(cut(mid));
      if (b.width <= boxW) [lo, best] = [mid, b];
      else hi = mid - 1;
    }
    return best;
  }
  const left = side === 'start' ? full.width - boxW : side === 'middle' ? Math.floor((full.width - boxW) / 2) : 0;
  const out = Buffer.alloc(boxW * full.height * 4);
  for (let y = 0; y < full.height; y++) full.data.copy(out, y * boxW * 4, (y * full.width + left) * 4, (y * full.width + left + boxW) * 4);
  return { data: out, width: boxW, height: full.height };
}

/** txt-line (an outline: the glyphs' alpha dilated, in txt-line-color) and txt-shad (a blurred dark copy, offset), under the text. */
async function decorate(st: PipelineState, b: Bitmap): Promise<Bitmap> {
  const o = st.opts;
  const line = Math.min(100, Math.max(0, Math.round(o['txt-line'] ?? 0)));
  const shad = Math.max(0, o['txt-shad'] ?? 0);
  if (!line && !shad) return b;
  const m = line + Math.ceil(shad * 3) + 2;
  const width = b.width + 2 * m;
  const height = b.height + 2 * m;
  const alpha = Buffer.alloc(width * height);
  for (let y = 0; y < b.height; y++) for (let x = 0; x < b.width; x++) alpha[(y + m) * width + x + m] = b.data[(y * b.width + x) * 4 + 3]!;
  const grey = (buf: Buffer) => sharp(buf, { raw: { width, height, channels: 1 } });
  const layers: OverlayOptions[] = [];
  const solid = (a: Buffer, c: { r: number; g: number; b: number }, k: number) => {
    const out = Buffer.alloc(width * height * 4);
    for (let i = 0; i < width * height; i++) out.set([c.r, c.g, c.b, Math.round(a[i]! * k)], i * 4);
    return out;
  };
  if (shad) {
    const blurred = await bounded(st, grey(alpha).blur(Math.max(0.3, shad)).raw()).toBuffer();
    const off = Math.ceil(shad / 2) + 1;
    layers.push({ input: solid(blurred, { r: 0, g: 0, b: 0 }, Math.min(1, 0.5 + shad / 20)), raw: { width, height, channels: 4 }, left: off, top: off });
  }
  if (line) {
    const dilated = dilate(alpha, width, height, line);
    layers.push({ input: solid(dilated, o['txt-line-color'] ?? { r: 255, g: 255, b: 255 }, 1), raw: { width, height, channels: 4 }, left: 0, top: 0 });
  }
  layers.push({ input: b.data, raw: { width: b.width, height: b.height, channels: 4 }, left: m, top: m });
  const { data, info } = await bounded(st, sharp({ create: { width, height, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } }).composite(layers).raw()).toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

/** Grey-level dilation by a (2r+1)² square: two separable passes of a running maximum, each linear in the pixels whatever r is. */
function dilate(a: Buffer, width: number, height: number, r: number): Buffer {
  const tmp = Buffer.alloc(a.length);
  const out = Buffer.alloc(a.length);
  for (let y = 0; y < height; y++) runningMax(a, tmp, y * width, 1, width, r);
  for (let x = 0; x < width; x++) runningMax(tmp, out, x, width, height, r);
  return out;
}

/**
 * out[i] = max of src over [i−r, i+r] along one row or column (`n` values from `start`, `step`
 * apart), by van Herk / Gil–Werman: maxima running forward and backward within blocks of 2r+1.
 */
function runningMax(src: Buffer, out: Buffer, start: number, step: number, n: number, r: number): void {
  const k = 2 * r + 1;
  const fwd = new Uint8Array(n);
  const bwd = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const v = src[start + i * step]!;
    fwd[i] = i % k === 0 ? v : Math.max(fwd[i - 1]!, v);
  }
  for (let i = n - 1; i >= 0; i--) {
    const v = src[start + i * step]!;
    bwd[i] = i === n - 1 || (i + 1) % k === 0 ? v : Math.max(bwd[i + 1]!, v);
  }
  for (let i = 0; i < n; i++) {
    const lo = Math.max(0, i - r);
    const hi = Math.min(n - 1, i + r);
    out[start + i * step] = Math.max(bwd[lo]!, fwd[hi]!);
  }
}
