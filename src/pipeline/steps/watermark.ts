import sharp from 'sharp';
import { ServiceError } from '../../errors.ts';
import { op } from '../queue.ts';
import { bounded, checkDeadline, timedOut, type PipelineState } from '../context.ts';
import { probe } from './probe.ts';
import { place, overlayEntry } from './place.ts';
import { markPath } from '../../request/overlays.ts';

const MARK_FIT = { clip: 'inside', max: 'inside', crop: 'cover', fill: 'contain', scale: 'fill' } as const;


/**
 * mark / mark64: an image from this service's sources drawn over the result. Size from mark-w /
 * mark-h (pixels or fractions of the image) or mark-scale (percent of the image width), never
 * larger than the image; position from mark-align and mark-pad, or mark-x / mark-y; opacity
 * from mark-alpha. mark-fit fits it into mark-w × mark-h (default clip), mark-rot turns it,
 * mark-tile=grid repeats it over the image, mark-base prefixes its path, and mark-if-min-width /
 * mark-if-min-height leave smaller images without it. A missing mark is a 400 naming it.
 */
export async function watermark(st: PipelineState): Promise<void> {
  const o = st.opts;
  if (!o.mark) return;
  // mark-if-min-width / -height: no watermark on an image smaller than that.
  if (st.width < (o['mark-if-min-width'] ?? 0) || st.height < (o['mark-if-min-height'] ?? 0)) return;
  const path = markPath(o.mark, o['mark-base']);
  const buf = st.loadMark ? await st.loadMark(path) : undefined;
  if (!buf) throw new ServiceError(400, 'invalid_parameter', `mark: no image found at '${path.length > 80 ? `${path.slice(0, 80)}…` : path}'`);
  // The mark gets the same refusals as a source (svgz, oversized SVG, pixel limit, unknown formats).
  await probe(buf, st.config, false);
  checkDeadline(st);
  const W = st.width;
  const H = st.height;
  const size = (v: number | undefined, full: number) => (v === undefined ? undefined : Math.max(1, Math.round(v <= 1 ? v * full : v)));
  let mw = size(o['mark-w'], W);
  let mh = size(o['mark-h'], H);
  if (mw === undefined && mh === undefined && o['mark-scale']) mw = Math.max(1, Math.round((W * o['mark-scale']) / 100));
  let mark = sharp(buf, { limitInputPixels: st.config.maxPixels, failOn: st.config.failOn, autoOrient: true });
  // The mark is never drawn larger than the image: bound every resize by the image size.
  if (mw !== undefined && mh !== undefined) {
    const f = Math.min(1, W / mw, H / mh);
    const fit = MARK_FIT[o['mark-fit'] ?? 'clip'];
    mark = mark.resize(Math.max(1, Math.round(mw * f)), Math.max(1, Math.round(mh * f)), { fit, withoutEnlargement: o['mark-fit'] === 'max', background: { r: 0, g: 0, b: 0, alpha: 0 } });
  } else if (mw !== undefined) {
    mark = mark.resize(Math.min(mw, W), H, { fit: 'inside' });
  } else if (mh !== undefined) {
    mark = mark.resize(W, Math.min(mh, H), { fit: 'inside' });
  } else {
    mark = mark.resize(W, H, { fit: 'inside', withoutEnlargement: true });
  }
  let out;
  try {
    out = await bounded(st, mark.ensureAlpha().raw({ depth: 'uchar' })).toBuffer({ resolveWithObject: true });
  } catch (err) {
    if (err instanceof ServiceError || timedOut(st)) throw err;
    throw new ServiceError(422, 'corrupt_image', 'Unprocessable: the watermark image could not be read', { cause: err });
  }
  let { data, info } = out;
  if (o['mark-rot']) {
    // mark-rot: the mark turns counter-clockwise, as rot turns the image, on a transparent canvas.
    const r = await bounded(st, sharp(data, { raw: { width: info.width, height: info.height, channels: 4 } }).rotate(-o['mark-rot'], { background: { r: 0, g: 0, b: 0, alpha: 0 } }).raw()).toBuffer({ resolveWithObject: true });
    data = r.data;
    info = r.info;
  }
  if (info.width > W || info.height > H) {
    const r = await bounded(st, sharp(data, { raw: { width: info.width, height: info.height, channels: 4 } }).resize(W, H, { fit: 'inside' }).raw()).toBuffer({ resolveWithObject: true });
    data = r.data;
    info = r.info;
  }
  const alpha = (o['mark-alpha'] ?? 100) / 100;
  if (alpha < 1) for (let i = 3; i < data.length; i += 4) data[i] = Math.round(data[i]! * alpha);
  const raw = { width: info.width, height: info.height, channels: 4 } as const;
  if (o['mark-tile'] === 'grid') {
    // mark-tile=grid: the mark repeated over the whole image from its top-left corner.
    await op(st, 'composite', (img) => img.composite([{ input: data, raw, tile: true, gravity: 'northwest' }]));
    return;
  }
  const pos = place(W, H, info.width, info.height, o['mark-align'], o['mark-pad'] ?? 5, o['mark-x'], o['mark-y']);
  const entry = await overlayEntry(st.pages, W, H, data, raw, pos.left, pos.top, st);
  await op(st, 'composite', (img) => img.composite([entry]));
}
