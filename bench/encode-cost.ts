/**
 * `node --import tsx bench/encode-cost.ts`: what each output format costs to encode as the output
 * grows — the measurement behind `transform.autoAvifMaxPixels` (auto=format stops choosing AVIF
 * above it) and behind progressive JPEG as the default.
 *
 * The 20.4 MP Debian wallpaper (lomiri-wallpapers-20.04) is decoded once and resized once per
 * output width to raw pixels, so only the encoder is timed: AVIF and WebP at the pipeline's
 * default settings (q 75, effort 4, 4:2:0 for AVIF), JPEG baseline and progressive (q 75, 4:2:0).
 * One encode at a time on one libvips thread (`configureSharp()`, as the server runs); CPU time
 * is the process's user + system time over the encode, which other load on a shared machine
 * disturbs far less than wall time. Then the plain w=400 render with baseline and progressive JPEG.
 * Options: --widths 400,1600,4096 --reps N --formats avif,webp --renders N --renders-only.
 */
import { parseArgs } from 'node:util';
import path from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { configureSharp } from '../src/runtime.ts';
import { PHOTO_ROOT, PHOTOS } from './ops.ts';

const { values: flags } = parseArgs({
  options: {
    widths: { type: 'string', default: '400,800,1200,1600,2048,2560,3200,4096,6028' },
    reps: { type: 'string', default: '3' },
    formats: { type: 'string', default: 'avif,webp,jpeg,pjpeg' },
    photo: { type: 'string', default: PHOTOS[0] },
    /** Only the w=400 render comparison (baseline vs progressive JPEG), this many renders of each. */
    renders: { type: 'string', default: '20' },
    'renders-only': { type: 'boolean', default: false },
  },
});

type Fmt = 'avif' | 'webp' | 'jpeg' | 'pjpeg';
const formats = flags.formats.split(',') as Fmt[];
const widths = flags.widths.split(',').map(Number);
const reps = Math.max(1, Number(flags.reps));

function encoder(img: Sharp, f: Fmt): Sharp {
  switch (f) {
    case 'avif':
      return img.avif({ quality: 75, effort: 4, chromaSubsampling: '4:2:0' });
    case 'webp':
      return img.webp({ quality: 75, effort: 4 });
    case 'jpeg':
      return img.jpeg({ quality: 75, progressive: false, chromaSubsampling: '4:2:0' });
    case 'pjpeg':
      return img.jpeg({ quality: 75, progressive: true, chromaSubsampling: '4:2:0' });
  }
}

/**
 * The plain `?w=400` path with the JPEG default changed: the whole render from the file (decode with
 * shrink-on-load, resize, encode), baseline and progressive interleaved so drifting load hits both.
 */
async function renders(file: string): Promise<void> {
  const n = Math.max(1, Number(flags.renders));
  const cpu: Record<'baseline' | 'progressive', number[]> = { baseline: [], progressive: [] };
  for (let i = 0; i < n; i++) {
    for (const mode of ['baseline', 'progressive'] as const) {
      const before = process.cpuUsage();
      await sharp(file, { sequentialRead: true }).resize(400).jpeg({ quality: 75, progressive: mode === 'progressive', chromaSubsampling: '4:2:0' }).toBuffer();
      const used = process.cpuUsage(before);
      cpu[mode].push((used.user + used.system) / 1000);
    }
  }
  const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
  const b = median(cpu.baseline);
  const p = median(cpu.progressive);
  console.log(`w=400 JPEG render from the file, ${n} each, median CPU ms: baseline ${b.toFixed(1)}, progressive ${p.toFixed(1)} (×${(p / b).toFixed(3)})`);
}

async function main(): Promise<void> {
  const settings = configureSharp({}, process.env);
  const file = path.join(PHOTO_ROOT, flags.photo);
  if (flags['renders-only']) return renders(file);
  const meta = await sharp(file).metadata();
  console.log(`photo ${flags.photo} ${meta.width}×${meta.height}; sharp ${sharp.versions.sharp}, libvips ${sharp.versions.vips}; libvips threads ${settings.concurrency}; ${reps} encodes per cell, median CPU ms and wall ms`);
  const full = await sharp(file).raw().toBuffer({ resolveWithObject: true });
  console.log(['width', 'MP', ...formats.map((f) => `${f} ms`), ...formats.map((f) => `${f} wall`), ...formats.map((f) => `${f} KB`)].join('\t'));
  for (const w of widths) {
    const raw = await sharp(full.data, { raw: { width: full.info.width, height: full.info.height, channels: full.info.channels } })
      .resize(Math.min(w, full.info.width))
      .raw()
      .toBuffer({ resolveWithObject: true });
    const { width, height, channels } = raw.info;
    const ms: number[] = [];
    const wallMs: number[] = [];
    const kb: number[] = [];
    for (const f of formats) {
      const cpu: number[] = [];
      const wall: number[] = [];
      let bytes = 0;
      for (let i = 0; i < reps; i++) {
        const before = process.cpuUsage();
        const t0 = performance.now();
        const out = await encoder(sharp(raw.data, { raw: { width, height, channels } }), f).toBuffer();
        wall.push(performance.now() - t0);
        const used = process.cpuUsage(before);
        cpu.push((used.user + used.system) / 1000);
        bytes = out.length;
      }
      const median = (a: number[]) => Math.round([...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!);
      ms.push(median(cpu));
      wallMs.push(median(wall));
      kb.push(Math.round(bytes / 1024));
    }
    console.log([width, ((width * height) / 1e6).toFixed(2), ...ms, ...wallMs, ...kb].join('\t'));
  }
  await renders(file);
}

await main();
