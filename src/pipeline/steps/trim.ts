import sharp from 'sharp';
import { flush, op } from '../queue.ts';
import { sharpColor, type PipelineState, bounded } from '../context.ts';
import type { Box } from '../geometry.ts';

/**
 * trim=auto cuts borders of the top-left pixel's colour (within trim-tol, else trim-md, default
 * 10) when the outermost pixels deviate by at most trim-sd (default 10; a noisy border is cut
 * around its mean colour within three deviations); trim=color cuts `trim-color` within `trim-tol`; trim=alpha cuts fully transparent borders
 * (alpha at most `trim-alpha`); trim=colorunlessalpha is alpha for an image with transparency,
 * color otherwise. `trim-pad` keeps that many pixels of the cut border (negative: cuts further
 * in). The trimmed size is only known after running, so the pipeline is materialised here (trim is
 * rare; everything else still decides its geometry once).
 */
export async function trim(st: PipelineState): Promise<void> {
  const o = st.opts;
  let mode = o.trim;
  if (!mode) return;
  if (mode === 'colorunlessalpha') mode = st.alpha ? 'alpha' : 'color';
  if (mode === 'alpha' && !st.alpha) return;
  const { data, info } = await flush(st);
  const raw = { width: info.width, height: info.height, channels: info.channels };
  const box = mode === 'alpha' ? alphaBox(data, raw, o['trim-alpha'] ?? 0) : await colourBox(st, data, raw, mode);
  if (!box) return;
  const p = o['trim-pad'] ?? 0;
  const left = Math.max(0, box.left - p);
  const top = Math.max(0, box.top - p);
  const right = Math.min(raw.width, box.left + box.width + p);
  const bottom = Math.min(raw.height, box.top + box.height + p);
  const cut = { left, top, width: Math.max(1, right - left), height: Math.max(1, bottom - top) };
  if (right <= left || bottom <= top) Object.assign(cut, { left: Math.min(left, raw.width - 1), top: Math.min(top, raw.height - 1) });
  if (cut.left === 0 && cut.top === 0 && cut.width === raw.width && cut.height === raw.height) return;
  await op(st, 'extractPre', (img) => img.extract(cut));
  st.width = cut.width;
  st.height = cut.height;
}

/** The box libvips' find_trim keeps, from the pixels (offsets reported by sharp's trim). */
async function colourBox(st: PipelineState, data: Buffer, raw: { width: number; height: number; channels: 1 | 2 | 3 | 4 }, mode: 'auto' | 'color'): Promise<Box | undefined> {
  const o = st.opts;
  let background: { r: number; g: number; b: number } | undefined;
  let threshold = Math.max(1, o['trim-tol'] ?? (mode === 'auto' ? o['trim-md'] : undefined) ?? 10);
  if (mode === 'auto') {
    // trim-sd: the outermost pixels count as a border only when their standard deviation is at
    // most trim-sd (default 10); a noisy but uniform border is then cut within three deviations.
    const { sd, mean } = frameStats(data, raw);
    if (sd > (o['trim-sd'] ?? 10)) return undefined;
    if (sd >= 1) {
      threshold = Math.max(threshold, Math.ceil(3 * sd));
      background = { r: mean[0]!, g: mean[1] ?? mean[0]!, b: mean[2] ?? mean[0]! };
    }
  }
  const bg = mode === 'color' && o['trim-color'] ? sharpColor(o['trim-color']) : background;
  const img = sharp(data, { raw }).trim(bg ? { background: bg, threshold } : { threshold });
  const { info } = await bounded(st, img).raw().toBuffer({ resolveWithObject: true });
  return { left: -(info.trimOffsetLeft ?? 0), top: -(info.trimOffsetTop ?? 0), width: info.width, height: info.height };
}

/** The mean colour and the largest per-channel standard deviation of the image's outermost pixels. */
function frameStats(data: Buffer, raw: { width: number; height: number; channels: number }): { sd: number; mean: number[] } {
  const { width, height, channels } = raw;
  const colour = channels === 2 || channels === 4 ? channels - 1 : channels;
  const idx: number[] = [];
  for (let x = 0; x < width; x++) idx.push(x, (height - 1) * width + x);
  for (let y = 1; y < height - 1; y++) idx.push(y * width, y * width + width - 1);
  let worst = 0;
  const means: number[] = [];
  for (let c = 0; c < colour; c++) {
    let sum = 0;
    let sq = 0;
    for (const i of idx) {
      const v = data[i * channels + c]!;
      sum += v;
      sq += v * v;
    }
    const mean = sum / idx.length;
    means.push(Math.round(mean));
    worst = Math.max(worst, Math.sqrt(Math.max(0, sq / idx.length - mean * mean)));
  }
  return { sd: worst, mean: means };
}

/** The bounding box of the pixels whose alpha exceeds `threshold` (undefined when none does). */
function alphaBox(data: Buffer, raw: { width: number; height: number; channels: number }, threshold: number): Box | undefined {
  const { width, height, channels } = raw;
  const a = channels - 1;
  let x0 = width;
  let y0 = height;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < height; y++) {
    const row = y * width * channels;
    for (let x = 0; x < width; x++) {
      if (data[row + x * channels + a]! > threshold) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        y1 = y;
      }
    }
  }
  return x1 < 0 ? undefined : { left: x0, top: y0, width: x1 - x0 + 1, height: y1 - y0 + 1 };
}
