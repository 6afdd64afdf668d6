import sharp from 'sharp';
import { STAGE, use, backgroundFor, bounded, checkDeadline, type PipelineState } from '../context.ts';
import { computeGeometry, type Box } from '../geometry.ts';
import { fillGradient } from './gradient.ts';

/**
 * rect, resize, crop, fill/clamp space and (without `orient`) flip, from the geometry computed
 * once from the header. A plain resize lets libvips shrink on load; `rect` cuts before resizing.
 */
export async function resize(st: PipelineState): Promise<void> {
  const g = computeGeometry(st.width, st.height, st.opts, st.config.maxOutputSize);
  if (st.pages > 1 && g.crop && 'strategy' in g.crop && g.resize) {
    // libvips' smart crops work on one frame only: animations are cut at the centre.
    const { width, height } = g.crop;
    g.crop = { box: { left: Math.floor((g.resize.width - width) / 2), top: Math.floor((g.resize.height - height) / 2), width, height } };
  }
  st.geometry = g;
  if (g.rect) {
    await use(st, STAGE.preExtract, 'extractPre');
    st.img.extract(st.inputScale ? scaledBox(g.rect, st.inputScale, st.meta.width!, st.meta.height!) : g.rect);
  }
  if (g.resize && (st.inputScale !== undefined || g.resize.width !== (g.rect?.width ?? st.width) || g.resize.height !== (g.rect?.height ?? st.height) || g.crop)) {
    await use(st, STAGE.resize, 'resize');
    // From a master, libvips' coarse shrink-on-load would add its own aliasing to the master's.
    const load = st.inputScale === undefined ? {} : { fastShrinkOnLoad: false };
    if (g.crop && 'strategy' in g.crop) {
      st.img.resize(g.crop.width, g.crop.height, { fit: 'cover', position: sharp.strategy[g.crop.strategy], ...load });
    } else {
      st.img.resize(g.resize.width, g.resize.height, { fit: 'fill', ...load });
    }
  }
  if (st.opts.flip && st.opts.orient === undefined) {
    await use(st, STAGE.flipAfter, 'flip');
    if (st.opts.flip.includes('h')) st.img.flop();
    if (st.opts.flip.includes('v')) st.img.flip();
  }
  if (g.crop && 'box' in g.crop) {
    await use(st, STAGE.postExtract, 'extractPost');
    st.img.extract(g.crop.box);
  }
  if (g.extend && g.extend.mode === 'background' && st.opts.fill === 'blur' && st.pages === 1) {
    await fillBlur(st, g.width, g.height, g.extend.left, g.extend.top);
  } else if (g.extend && g.extend.mode === 'background' && st.opts.fill === 'gradient' && st.pages === 1) {
    await fillGradient(st, g.width, g.height, g.extend.left, g.extend.top);
  } else if (g.extend) {
    await use(st, STAGE.extend, 'extend');
    const fill = st.opts['fill-color'];
    st.img.extend({ ...g.extend, extendWith: g.extend.mode, background: backgroundFor(st, fill) });
    if (g.extend.mode === 'background' && backgroundFor(st, fill).alpha < 1) st.alpha = true;
  }
  st.width = g.width;
  st.height = g.height;
}

/**
 * fill=blur: the free space shows a blurred, cover-scaled copy of the image instead of a colour.
 * The blur (sigma = the longer side / 40) is made on a copy `k` times smaller with a sigma `k`
 * times smaller, then scaled up: the same soft background for a tiny part of the work (a
 * sigma-200 blur over an 8192² canvas costs minutes of CPU).
 */
async function fillBlur(st: PipelineState, width: number, height: number, left: number, top: number): Promise<void> {
  const { data, info } = await bounded(st, st.img.raw({ depth: 'uchar' })).toBuffer({ resolveWithObject: true });
  const raw = { width: info.width, height: info.height, channels: info.channels };
  const sigma = Math.max(0.3, Math.max(width, height) / 40);
  const k = Math.max(1, Math.floor(sigma / 2));
  const small = { width: Math.max(1, Math.round(width / k)), height: Math.max(1, Math.round(height / k)), channels: info.channels };
  const bg = await bounded(st, sharp(data, { raw }).resize(small.width, small.height, { fit: 'cover' }).blur(Math.max(0.3, sigma / k)).raw()).toBuffer();
  st.img = sharp(bg, { raw: small }).resize(width, height, { fit: 'fill' }).composite([{ input: data, raw, left, top }]);
  st.stage = STAGE.composite;
  st.used = new Set(['resize', 'composite']);
  checkDeadline(st);
}

/** A box of the original's frame in the pixels of an input `k` times its size (a master), within its `width`×`height`: edges to the nearest pixel, so the region shifts by half a master pixel at most. */
function scaledBox(b: Box, k: number, width: number, height: number): Box {
  const left = Math.min(Math.round(b.left * k), width - 1);
  const top = Math.min(Math.round(b.top * k), height - 1);
  const right = Math.max(left + 1, Math.min(Math.round((b.left + b.width) * k), width));
  const bottom = Math.max(top + 1, Math.min(Math.round((b.top + b.height) * k), height));
  return { left, top, width: right - left, height: bottom - top };
}
