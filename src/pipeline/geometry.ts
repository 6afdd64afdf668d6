import type { TransformOptions, RectValue } from '../request/params.ts';

export interface Box {
  left: number;
  top: number;
  width: number;
  height: number;
}

/**
 * Every size decision for one request, made once from the header dimensions (in the upright
 * frame, i.e. after orientation) before any pixel is decoded.
 */
export interface Geometry {
  /** Source region cut before resizing (`rect`), if any. */
  rect?: Box;
  /** Resize target; undefined = keep the size. */
  resize?: { width: number; height: number };
  /** Crop of the resized image, by offsets (computed) or by a libvips strategy. */
  crop?: { box: Box } | { strategy: 'attention' | 'entropy'; width: number; height: number };
  /** Space added around the content to reach the requested box (fit=fill, fillmax, clamp). */
  extend?: { top: number; bottom: number; left: number; right: number; mode: 'background' | 'copy' };
  /** Padding added around the result (pad, pad-*), and the border's width on each side. */
  pad: Sides;
  border: Sides;
  /** Size of the image after crop/extend, before pad and border. */
  width: number;
  height: number;
}

export interface Sides {
  top: number;
  bottom: number;
  left: number;
  right: number;
}

/** The border's width per side: `border`'s width, or `border-top`/`-bottom`/`-left`/`-right` where given (0 without `border`). */
export function borderSides(opts: TransformOptions): Sides {
  const b = opts.border?.width;
  if (b === undefined) return { top: 0, bottom: 0, left: 0, right: 0 };
  return { top: opts['border-top'] ?? b, bottom: opts['border-bottom'] ?? b, left: opts['border-left'] ?? b, right: opts['border-right'] ?? b };
}

/** The width of the stroke around the border (border-stroke-size; none without `border`). */
export function strokeSize(opts: TransformOptions): number {
  return opts.border ? (opts['border-stroke-size'] ?? 0) : 0;
}

function rectCoord(v: RectValue, full: number, size: number, isSize: boolean): number {
  if ('px' in v) return v.px;
  if ('frac' in v) return Math.round(v.frac * full);
  if (isSize) return full;
  if (v.keyword === 'left' || v.keyword === 'top') return 0;
  if (v.keyword === 'right' || v.keyword === 'bottom') return Math.max(0, full - size);
  return Math.max(0, Math.round((full - size) / 2));
}

/** `rect` → a box inside the source (clamped to it, at least 1×1). */
export function rectBox(rect: NonNullable<TransformOptions['rect']>, srcW: number, srcH: number): Box {
  const width0 = Math.max(1, rectCoord(rect[2], srcW, 0, true));
  const height0 = Math.max(1, rectCoord(rect[3], srcH, 0, true));
  const left = Math.min(Math.max(0, rectCoord(rect[0], srcW, width0, false)), srcW - 1);
  const top = Math.min(Math.max(0, rectCoord(rect[1], srcH, height0, false)), srcH - 1);
  return { left, top, width: Math.min(width0, srcW - left), height: Math.min(height0, srcH - top) };
}

const clampInt = (n: number, lo: number, hi: number) => Math.min(Math.max(Math.round(n), lo), hi);

/**
 * The requested box in output pixels (undefined = that side is free), as imgix documents it:
 * - w/h are pixels or fractions of the source, times dpr;
 * - `ar` (fit=crop, facearea, fill, fillmax) supplies a missing side: w=280&ar=2:1 → 280×140; with
 *   neither side, crop takes the largest box of that ratio inside the source (ar=9:1 on 900×270 →
 *   900×100) and fill the smallest one around it;
 * - min-w/max-w/min-h/max-h (fit=crop, facearea) bound the output, in the same units as w/h (so
 *   dpr scales them too). A side not given follows the source's aspect ratio (or `ar`) before the
 *   bounds apply, so fit=crop&h=200&max-w=200 on a 3:2 source is 200×200, cropped; with `ar` a
 *   bound that changes one side changes the other with it, keeping the ratio.
 */
function targetSize(sw: number, sh: number, opts: TransformOptions, fit: NonNullable<TransformOptions['fit']>): { w?: number; h?: number } {
  const dpr = opts.dpr ?? 1;
  const frac = (v: number | undefined, full: number) => (v === undefined ? undefined : (v <= 1 ? v * full : v) * dpr);
  let w = frac(opts.w, sw);
  let h = frac(opts.h, sh);
  const cropLike = fit === 'crop' || fit === 'facearea';
  const ar = cropLike || fit === 'fill' || fit === 'fillmax' ? opts.ar : undefined;
  if (ar) {
    if (w !== undefined && h === undefined) h = w / ar;
    else if (h !== undefined && w === undefined) w = h * ar;
    else if (w === undefined && h === undefined) {
      // crop: the largest box of ratio ar inside the source; fill: the smallest around it.
      if (sw / sh > ar === cropLike) { h = sh; w = sh * ar; } else { w = sw; h = sw / ar; }
    }
  }
  const bounds = { minW: opts['min-w'], maxW: opts['max-w'], minH: opts['min-h'], maxH: opts['max-h'] };
  if (!cropLike || Object.values(bounds).every((b) => b === undefined)) return { w, h };
  // Bounds are in the units of w and h: device pixels when a size was given (dpr applies).
  const k = opts.w !== undefined || opts.h !== undefined ? dpr : 1;
  if (w === undefined && h === undefined) { w = sw; h = sh; }
  else if (w === undefined) w = (h! * sw) / sh;
  else if (h === undefined) h = (w * sh) / sw;
  const bound = (v: number, lo?: number, hi?: number) => Math.min(Math.max(v, (lo ?? 0) * k), (hi ?? Infinity) * k);
  const bw = bound(w, bounds.minW, bounds.maxW);
  const bh = bound(h!, bounds.minH, bounds.maxH);
  if (ar && bw !== w) return { w: bw, h: bw / ar };
  if (ar && bh !== h) return { w: bh * ar, h: bh };
  return { w: bw, h: bh };
}

/**
 * imgix fit semantics on a `sw`×`sh` source (after rect):
 * clip = fit inside (upscales); max = clip without upscaling; scale = exact w×h; crop = cover and
 * cut; facearea = crop with a saliency anchor (no face detector); min = crop without upscaling
 * (cuts the source to the aspect ratio instead); fill = fit inside, then pad to w×h with the fill
 * colour; fillmax = fill without upscaling; clamp = fill, padding with the edge pixels.
 * The requested box comes from targetSize (w, h, dpr, ar, min/max bounds); pad/border fit inside w×h
 * when a size is given, and are added around the image otherwise; no side exceeds `maxSize`.
 */
export function computeGeometry(srcW: number, srcH: number, opts: TransformOptions, maxSize: number): Geometry {
  const rect = opts.rect ? rectBox(opts.rect, srcW, srcH) : undefined;
  const sw = rect ? rect.width : srcW;
  const sh = rect ? rect.height : srcH;
  const fit = opts.fit ?? 'clip';
  const pad = {
    top: opts['pad-top'] ?? opts.pad ?? 0,
    bottom: opts['pad-bottom'] ?? opts.pad ?? 0,
    left: opts['pad-left'] ?? opts.pad ?? 0,
    right: opts['pad-right'] ?? opts.pad ?? 0,
  };
  const border = borderSides(opts);
  // Padding may take at most half of the largest output side: scale it down beyond that.
  const room = maxSize / 2;
  const stroke = 2 * strokeSize(opts);
  const padW = pad.left + pad.right + border.left + border.right + stroke;
  const padH = pad.top + pad.bottom + border.top + border.bottom + stroke;
  if (padW > room || padH > room) {
    const k = Math.min(padW > room ? room / padW : 1, padH > room ? room / padH : 1);
    pad.top = Math.floor(pad.top * k);
    pad.bottom = Math.floor(pad.bottom * k);
    pad.left = Math.floor(pad.left * k);
    pad.right = Math.floor(pad.right * k);
  }
  const decoW = pad.left + pad.right + border.left + border.right + stroke;
  const decoH = pad.top + pad.bottom + border.top + border.bottom + stroke;

  let { w, h } = targetSize(sw, sh, opts, fit);
  // Requested sizes include padding and border.
  if (w !== undefined) w = Math.max(1, w - decoW);
  if (h !== undefined) h = Math.max(1, h - decoH);

  // Keep the whole output within maxSize × maxSize, keeping the aspect ratio.
  const limit = (tw: number, th: number) => {
    const f = Math.min(1, (maxSize - decoW) / tw, (maxSize - decoH) / th);
    return f;
  };

  let g: Geometry;
  if (w === undefined && h === undefined) {
    g = { pad, border, width: sw, height: sh };
  } else if (w === undefined || h === undefined || fit === 'clip' || fit === 'max' || ((fit === 'fill' || fit === 'fillmax' || fit === 'clamp') && (w === undefined || h === undefined))) {
    let scale = w !== undefined && h !== undefined ? Math.min(w / sw, h / sh) : w !== undefined ? w / sw : h! / sh;
    if ((fit === 'max' || fit === 'fillmax') && scale > 1) scale = 1;
    const rw = Math.max(1, Math.round(sw * scale));
    const rh = Math.max(1, Math.round(sh * scale));
    g = { pad, border, resize: { width: rw, height: rh }, width: rw, height: rh };
  } else if (fit === 'scale') {
    g = { pad, border, resize: { width: Math.max(1, Math.round(w)), height: Math.max(1, Math.round(h)) }, width: Math.max(1, Math.round(w)), height: Math.max(1, Math.round(h)) };
  } else if (fit === 'fill' || fit === 'fillmax' || fit === 'clamp') {
    let scale = Math.min(w / sw, h / sh);
    if (fit === 'fillmax' && scale > 1) scale = 1;
    const tw = Math.max(1, Math.round(w));
    const th = Math.max(1, Math.round(h));
    const rw = Math.min(tw, Math.max(1, Math.round(sw * scale)));
    const rh = Math.min(th, Math.max(1, Math.round(sh * scale)));
    const left = Math.floor((tw - rw) / 2);
    const top = Math.floor((th - rh) / 2);
    g = {
      pad, border, resize: { width: rw, height: rh },
      extend: { left, right: tw - rw - left, top, bottom: th - rh - top, mode: fit === 'clamp' ? 'copy' : 'background' },
      width: tw, height: th,
    };
  } else {
    // crop, facearea, min
    let tw = Math.max(1, Math.round(w));
    let th = Math.max(1, Math.round(h));
    let scale = Math.max(tw / sw, th / sh);
    if (fit === 'min' && scale > 1) {
      // No upscaling: cut the largest region of the requested aspect ratio from the source.
      const ar = tw / th;
      if (sw / sh > ar) { th = sh; tw = Math.max(1, Math.round(sh * ar)); } else { tw = sw; th = Math.max(1, Math.round(sw / ar)); }
      scale = 1;
    }
    const crops = opts.crop ?? [];
    const focal = crops.includes('focalpoint');
    if (focal) scale *= opts['fp-z'] ?? 1;
    const rw = Math.max(tw, Math.round(sw * scale));
    const rh = Math.max(th, Math.round(sh * scale));
    let strategy: 'attention' | 'entropy' | undefined;
    if (!focal) {
      if (crops.includes('entropy')) strategy = 'entropy';
      else if (crops.includes('faces') || crops.includes('edges') || fit === 'facearea') strategy = 'attention';
    }
    if (strategy && (rw > tw || rh > th)) {
      g = { pad, border, resize: { width: rw, height: rh }, crop: { strategy, width: tw, height: th }, width: tw, height: th };
    } else {
      let left: number;
      let top: number;
      if (focal) {
        left = Math.round((opts['fp-x'] ?? 0.5) * rw - tw / 2);
        top = Math.round((opts['fp-y'] ?? 0.5) * rh - th / 2);
      } else {
        left = crops.includes('left') ? 0 : crops.includes('right') ? rw - tw : Math.floor((rw - tw) / 2);
        top = crops.includes('top') ? 0 : crops.includes('bottom') ? rh - th : Math.floor((rh - th) / 2);
      }
      left = clampInt(left, 0, rw - tw);
      top = clampInt(top, 0, rh - th);
      g = {
        pad, border, resize: { width: rw, height: rh },
        crop: rw === tw && rh === th ? undefined : { box: { left, top, width: tw, height: th } },
        width: tw, height: th,
      };
    }
  }
  if (rect) g.rect = rect;
  return scaleDown(g, limit(g.width, g.height));
}

/** Shrink a geometry by `f` (< 1) so that the output stays within the size limit. */
function scaleDown(g: Geometry, f: number): Geometry {
  if (f >= 1) return g;
  const s = (n: number) => Math.max(1, Math.floor(n * f));
  const out: Geometry = { ...g, width: s(g.width), height: s(g.height) };
  const baseW = g.resize?.width ?? g.width;
  const baseH = g.resize?.height ?? g.height;
  out.resize = { width: s(baseW), height: s(baseH) };
  if (g.crop && 'box' in g.crop) {
    const b = g.crop.box;
    const width = out.width;
    const height = out.height;
    out.crop = { box: { left: clampInt(b.left * f, 0, Math.max(0, out.resize.width - width)), top: clampInt(b.top * f, 0, Math.max(0, out.resize.height - height)), width, height } };
  } else if (g.crop) {
    out.crop = { ...g.crop, width: out.width, height: out.height };
  }
  if (g.extend) {
    out.resize = { width: Math.min(out.resize.width, out.width), height: Math.min(out.resize.height, out.height) };
    const left = Math.floor((out.width - out.resize.width) / 2);
    const top = Math.floor((out.height - out.resize.height) / 2);
    out.extend = { ...g.extend, left, right: out.width - out.resize.width - left, top, bottom: out.height - out.resize.height - top };
  }
  return out;
}
