import sharp from 'sharp';
import { op } from '../queue.ts';
import { type PipelineState, bounded } from '../context.ts';
import type { Encoded } from './encode.ts';

const hex = (c: number[]) => `#${c.map((v) => v.toString(16).padStart(2, '0')).join('')}`;

/**
 * palette=json|css: the colours of the rendered image instead of the image, as imgix answers:
 * `colors` (default 6, at most 16) colours found by median cut on a 64-pixel copy, the largest share
 * first; json lists them with channels as fractions and hex, with the average luminance; css gives
 * `.<prefix>-fg-N` / `.<prefix>-bg-N` rules (prefix default `image`).
 */
export async function palette(st: PipelineState, headers: Record<string, string>): Promise<Encoded> {
  const o = st.opts;
  const n = Math.min(16, Math.max(0, o.colors ?? 6));
  await op(st, 'resize', (img) => img.resize(64, 64, { fit: 'inside', kernel: 'nearest' }));
  const { data, info } = await bounded(st, st.img.flatten({ background: '#ffffff' }).removeAlpha().toColourspace('srgb').raw()).toBuffer({ resolveWithObject: true });
  const px: number[][] = [];
  let lum = 0;
  for (let i = 0; i < data.length; i += info.channels) {
    const c = info.channels >= 3 ? [data[i]!, data[i + 1]!, data[i + 2]!] : [data[i]!, data[i]!, data[i]!];
    px.push(c);
    lum += (0.2126 * c[0]! + 0.7152 * c[1]! + 0.0722 * c[2]!) / 255;
  }
  const pixels = px.length;
  const colours = medianCut(px, n);
  if (o.palette === 'css') {
    const prefix = (o.prefix ?? 'image').replace(/[^A-Za-z0-9_-]/g, '') || 'image';
    const css = colours
      .map((c, i) => `.${prefix}-fg-${i + 1} { color:${hex(c)} !important; }\n.${prefix}-bg-${i + 1} { background-color:${hex(c)} !important; }\n`)
      .join('');
    return { body: Buffer.from(css, 'utf8'), contentType: 'text/css; charset=utf-8', width: st.width, height: st.height, headers };
  }
  const json = {
    colors: colours.map((c) => ({ red: round(c[0]! / 255), green: round(c[1]! / 255), blue: round(c[2]! / 255), hex: hex(c) })),
    average_luminance: round(pixels ? lum / pixels : 0),
  };
  return { body: Buffer.from(JSON.stringify(json), 'utf8'), contentType: 'application/json', width: st.width, height: st.height, headers };
}

const round = (v: number) => Math.round(v * 1e6) / 1e6;

/** Median cut: split the box with the widest channel range at its median until there are `n`; each box's mean colour, largest box first. */
function medianCut(px: number[][], n: number): number[][] {
  if (n === 0 || px.length === 0) return [];
  const range = (box: number[][], c: number) => Math.max(...box.map((p) => p[c]!)) - Math.min(...box.map((p) => p[c]!));
  const boxes = [px];
  while (boxes.length < n) {
    let best = -1;
    let bestRange = 0;
    let channel = 0;
    boxes.forEach((b, i) => {
      for (let c = 0; c < 3; c++) {
        const r = range(b, c);
        if (r > bestRange) [best, bestRange, channel] = [i, r, c];
      }
    });
    if (best < 0) break;
    const box = boxes[best]!.sort((a, b) => a[channel]! - b[channel]!);
    // Split between distinct values nearest the median, so a flat colour never straddles two boxes.
    let cut = box.length >> 1;
    while (cut < box.length && box[cut]![channel] === box[cut - 1]![channel]) cut++;
    if (cut === box.length) {
      cut = box.length >> 1;
      while (cut > 0 && box[cut]![channel] === box[cut - 1]![channel]) cut--;
    }
    boxes.splice(best, 1, box.slice(0, cut), box.slice(cut));
  }
  return boxes
    .sort((a, b) => b.length - a.length)
    .map((b) => [0, 1, 2].map((c) => Math.round(b.reduce((s, p) => s + p[c]!, 0) / b.length)));
}
