import sharp, { type Blend } from 'sharp';
import { ServiceError } from '../../errors.ts';
import type { BlendMode, Color } from '../../request/params.ts';
import { flush, op, restart } from '../queue.ts';
import type { PipelineState } from '../context.ts';
import { place, overlayEntry } from './place.ts';
import { layerPixels, loadLayer } from './layer.ts';

/** The most pixels a non-separable blend mode (hue, saturation, color, luminosity) is computed for. */
const NON_SEPARABLE_MAX_PIXELS = 16_000_000;

/** imgix blend modes libvips composites itself. */
const LIBVIPS: Partial<Record<BlendMode, Blend>> = {
  normal: 'over', multiply: 'multiply', screen: 'screen', overlay: 'overlay', darken: 'darken', lighten: 'lighten',
  dodge: 'colour-dodge', burn: 'colour-burn', hardlight: 'hard-light', softlight: 'soft-light', difference: 'difference', exclusion: 'exclusion',
};

/**
 * blend: a colour over the whole image, or an image from the service's sources (loaded as
 * watermarks are), combined by blend-mode (default overlay) at blend-alpha. The image's size comes
 * from blend-w/blend-h and blend-fit (blend-crop anchors a crop), or with blend-size=inherit from
 * the output itself; its place from blend-align (default centre), blend-pad, or blend-x/blend-y. It
 * is never larger than the image. The non-separable modes (hue, saturation, color, luminosity)
 * are computed here with the W3C formulas; the others by libvips.
 */
export async function blend(st: PipelineState): Promise<void> {
  const o = st.opts;
  const colour = o.blend && 'color' in o.blend ? o.blend.color : o['blend-color'];
  const path = o.blend && 'path' in o.blend ? o.blend.path : undefined;
  if (!colour && !path) return;
  const W = st.width;
  const H = st.height;
  let layer: { data: Buffer; width: number; height: number };
  let left = 0;
  let top = 0;
  if (path) {
    layer = await blendImage(st, path, W, H);
    const pos = place(W, H, layer.width, layer.height, o['blend-align'] ?? ['middle', 'center'], o['blend-pad'] ?? 0, o['blend-x'], o['blend-y']);
    left = pos.left;
    top = pos.top;
  } else {
    const c = colour as Color;
    const data = Buffer.alloc(W * H * 4);
    for (let i = 0; i < W * H; i++) data.set([c.r, c.g, c.b, Math.round(c.alpha * 255)], i * 4);
    layer = { data, width: W, height: H };
  }
  const alpha = (o['blend-alpha'] ?? 100) / 100;
  if (alpha < 1) for (let i = 3; i < layer.data.length; i += 4) layer.data[i] = Math.round(layer.data[i]! * alpha);
  const mode = o['blend-mode'] ?? 'overlay';
  const libvips = LIBVIPS[mode];
  if (libvips) {
    const entry = await overlayEntry(st.pages, W, H, layer.data, { width: layer.width, height: layer.height, channels: 4 }, left, top, st);
    await op(st, 'composite', (img) => img.composite([{ ...entry, blend: libvips }]));
    return;
  }
  // Computed in JavaScript, outside libvips' timeout: bounded by size instead.
  if (layer.width * layer.height * Math.max(1, st.pages) > NON_SEPARABLE_MAX_PIXELS) {
    throw new ServiceError(422, 'unsupported_transformation', `Unprocessable: blend-mode=${mode} is limited to ${NON_SEPARABLE_MAX_PIXELS / 1e6} million blended pixels`);
  }
  const { data, info } = await flush(st);
  nonSeparable(data, info.width, info.height, info.channels, layer, left, top, H, st.pages, mode);
  restart(st, sharp(data, { raw: { width: info.width, height: info.height, channels: info.channels, ...(st.pages > 1 ? { pageHeight: H } : {}) }, ...(st.pages > 1 ? { pages: -1 } : {}) }));
}

async function blendImage(st: PipelineState, path: string, W: number, H: number): Promise<{ data: Buffer; width: number; height: number }> {
  const o = st.opts;
  let img = await loadLayer(st, 'blend', path);
  const size = (v: number | undefined, full: number) => (v === undefined ? undefined : Math.max(1, Math.round(v <= 1 ? v * full : v)));
  const bw = size(o['blend-w'], W);
  const bh = size(o['blend-h'], H);
  if (o['blend-size'] === 'inherit') {
    const fit = o.fit === 'crop' || o.fit === 'min' || o.fit === 'facearea' ? 'cover' : o.fit === 'scale' ? 'fill' : 'inside';
    img = img.resize(W, H, { fit });
  } else if (bw !== undefined && bh !== undefined) {
    const fit = o['blend-fit'] ?? 'clip';
    if (fit === 'crop') {
      const c = o['blend-crop'] ?? [];
      const position = c.includes('faces') ? sharp.strategy.attention : [c.find((x) => x === 'top' || x === 'bottom'), c.find((x) => x === 'left' || x === 'right')].filter(Boolean).join(' ') || 'centre';
      img = img.resize(bw, bh, { fit: 'cover', position });
    } else if (fit === 'scale') img = img.resize(bw, bh, { fit: 'fill' });
    else if (fit === 'clamp') img = img.resize(bw, bh, { fit: 'contain', background: { r: 0, g: 0, b: 0, alpha: 0 } });
    else img = img.resize(bw, bh, { fit: 'inside', withoutEnlargement: fit === 'max' });
  } else if (bw !== undefined || bh !== undefined) {
    img = img.resize(bw ?? null, bh ?? null);
  }
  let layer = await layerPixels(st, img, 'blend');
  if (o['blend-fit'] === 'clamp' && bw !== undefined && bh !== undefined) layer = clampEdges(layer);
  if (layer.width > W || layer.height > H) {
    layer = await layerPixels(st, sharp(layer.data, { raw: { width: layer.width, height: layer.height, channels: 4 } }).resize(W, H, { fit: 'inside' }), 'blend');
  }
  return layer;
}

/** blend-fit=clamp: the transparent margins `contain` left are filled with the nearest edge pixels of the content. */
function clampEdges(l: { data: Buffer; width: number; height: number }): { data: Buffer; width: number; height: number } {
  const { data, width, height } = l;
  let x0 = width, y0 = height, x1 = -1, y1 = -1;
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) if (data[(y * width + x) * 4 + 3]! > 0) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
  if (x1 < 0) return l;
  const out = Buffer.alloc(data.length);
  for (let y = 0; y < height; y++) {
    const sy = Math.min(y1, Math.max(y0, y));
    for (let x = 0; x < width; x++) {
      const sx = Math.min(x1, Math.max(x0, x));
      data.copy(out, (y * width + x) * 4, (sy * width + sx) * 4, (sy * width + sx) * 4 + 4);
    }
  }
  return { data: out, width, height };
}

type RGB = [number, number, number];
const lum = (c: RGB) => 0.3 * c[0] + 0.59 * c[1] + 0.11 * c[2];
function clip(c: RGB): RGB {
  const l = lum(c);
  const n = Math.min(...c);
  const x = Math.max(...c);
  let out = c;
  if (n < 0) out = out.map((v) => l + ((v - l) * l) / (l - n)) as RGB;
  if (x > 1) out = out.map((v) => l + ((v - l) * (1 - l)) / (x - l)) as RGB;
  return out;
}
const setLum = (c: RGB, l: number): RGB => clip(c.map((v) => v + l - lum(c)) as RGB);
const sat = (c: RGB) => Math.max(...c) - Math.min(...c);
function setSat(c: RGB, s: number): RGB {
  const max = Math.max(...c);
  const min = Math.min(...c);
  if (max === min) return [0, 0, 0];
  return c.map((v) => ((v - min) * s) / (max - min)) as RGB;
}
const MODES: Record<string, (b: RGB, s: RGB) => RGB> = {
  hue: (b, s) => setLum(setSat(s, sat(b)), lum(b)),
  saturation: (b, s) => setLum(setSat(b, sat(s)), lum(b)),
  color: (b, s) => setLum(s, lum(b)),
  luminosity: (b, s) => setLum(b, lum(s)),
};

/** The W3C non-separable blend modes, on raw pixels; the layer repeats on every frame. */
function nonSeparable(data: Buffer, width: number, height: number, channels: number, layer: { data: Buffer; width: number; height: number }, left: number, top: number, pageHeight: number, pages: number, mode: BlendMode): void {
  const f = MODES[mode]!;
  if (channels < 3) return;
  for (let p = 0; p < Math.max(1, pages); p++) {
    for (let y = 0; y < layer.height; y++) {
      const iy = p * pageHeight + top + y;
      if (iy >= height) break;
      for (let x = 0; x < layer.width; x++) {
        const li = (y * layer.width + x) * 4;
        const a = layer.data[li + 3]! / 255;
        if (a === 0) continue;
        const i = (iy * width + left + x) * channels;
        const b: RGB = [data[i]! / 255, data[i + 1]! / 255, data[i + 2]! / 255];
        const r = f(b, [layer.data[li]! / 255, layer.data[li + 1]! / 255, layer.data[li + 2]! / 255]);
        for (let c = 0; c < 3; c++) data[i + c] = Math.round(255 * Math.min(1, Math.max(0, (1 - a) * b[c]! + a * r[c]!)));
      }
    }
  }
}
