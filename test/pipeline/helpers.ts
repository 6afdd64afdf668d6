import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import sharp, { type Metadata } from 'sharp';
import { parseTransform } from '../../src/request/params.ts';
import { negotiateFormat } from '../../src/request/negotiate.ts';
import { runPipeline, type PipelineContext, type PipelineResult } from '../../src/pipeline/run.ts';
import { transformConfigSchema, type TransformConfig } from '../../src/config/transform.ts';

export const config: TransformConfig = transformConfigSchema.parse({});

export interface Rendered extends PipelineResult {
  meta: Metadata;
  vary: boolean;
}

/** Parse, negotiate and run the pipeline exactly as the HTTP layer does. */
export async function render(input: Buffer, query: string, extra: { accept?: string; config?: Partial<TransformConfig>; ctx?: Partial<PipelineContext> } = {}): Promise<Rendered> {
  const cfg = extra.config ? transformConfigSchema.parse(extra.config) : config;
  const opts = parseTransform(new URLSearchParams(query), cfg);
  const { format, vary, insteadOfAvif } = negotiateFormat(opts, extra.accept);
  const res = await runPipeline(input, opts, { config: cfg, format, insteadOfAvif, ...extra.ctx });
  const meta = res.contentType.startsWith('image/') ? await sharp(res.body).metadata() : ({} as Metadata);
  return { ...res, meta, vary };
}

/** RGBA of one pixel (first frame). */
export async function pixel(buf: Buffer, x: number, y: number): Promise<[number, number, number, number]> {
  const { data, info } = await sharp(buf).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  const i = (y * info.width + x) * 4;
  return [data[i]!, data[i + 1]!, data[i + 2]!, data[i + 3]!];
}

/** Per-channel mean and standard deviation. */
export async function stats(buf: Buffer): Promise<{ mean: number[]; stdev: number[] }> {
  const s = await sharp(buf).stats();
  return { mean: s.channels.map((c) => c.mean), stdev: s.channels.map((c) => c.stdev) };
}

export function near(actual: number[], expected: number[], tol = 12): boolean {
  return expected.every((v, i) => Math.abs(actual[i]! - v) <= tol);
}

/** A solid image. */
export function solid(width: number, height: number, c: { r: number; g: number; b: number; alpha?: number }, format: 'png' | 'jpeg' = 'png'): Promise<Buffer> {
  const img = sharp({ create: { width, height, channels: 4, background: { alpha: 1, ...c } } });
  return (format === 'png' ? img.png() : img.jpeg({ quality: 95 })).toBuffer();
}

export const RED = { r: 255, g: 0, b: 0 };
export const GREEN = { r: 0, g: 255, b: 0 };
export const BLUE = { r: 0, g: 0, b: 255 };
export const WHITE = { r: 255, g: 255, b: 255 };

/**
 * A 200×100 image in four quadrants: red (top-left), green (top-right), blue (bottom-left),
 * white (bottom-right). Every orientation and crop anchor shows in its corner colours.
 */
export async function quadrants(format: 'png' | 'jpeg' = 'png', width = 200, height = 100): Promise<Buffer> {
  const hw = width / 2;
  const hh = height / 2;
  const q = (c: typeof RED) => sharp({ create: { width: hw, height: hh, channels: 3, background: c } }).png().toBuffer();
  const img = sharp({ create: { width, height, channels: 3, background: WHITE } }).composite([
    { input: await q(RED), left: 0, top: 0 },
    { input: await q(GREEN), left: hw, top: 0 },
    { input: await q(BLUE), left: 0, top: hh },
  ]);
  return format === 'png' ? img.png().toBuffer() : img.jpeg({ quality: 95 }).toBuffer();
}

/** An animated GIF of `frames` frames (each a different solid colour), built from a tall strip. */
export async function animatedGif(frames: number, width = 40, height = 30): Promise<Buffer> {
  const colours = [RED, GREEN, BLUE, WHITE];
  const parts = await Promise.all(
    Array.from({ length: frames }, (_, i) => sharp({ create: { width, height, channels: 3, background: colours[i % colours.length]! } }).png().toBuffer()),
  );
  const { data, info } = await sharp({ create: { width, height: height * frames, channels: 3, background: WHITE } })
    .composite(parts.map((input, i) => ({ input, left: 0, top: i * height })))
    .raw()
    .toBuffer({ resolveWithObject: true });
  return sharp(data, { raw: { width: info.width, height: info.height, channels: info.channels, pageHeight: height } })
    .gif({ loop: 0, delay: Array(frames).fill(100) })
    .toBuffer();
}

const PHOTO_DIRS = ['/usr/share/backgrounds'];

/** JPEG photos from Debian's wallpaper packages, largest first. */
export function photos(): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    if (!existsSync(d)) return;
    for (const n of readdirSync(d)) {
      const p = path.join(d, n);
      const s = statSync(p);
      if (s.isDirectory()) walk(p);
      else if (/\.jpe?g$/i.test(n)) out.push(p);
    }
  };
  PHOTO_DIRS.forEach(walk);
  return out.sort((a, b) => statSync(b).size - statSync(a).size);
}

/**
 * Skip reason when real photos are missing: tests skip with a reason outside CI, and fail under
 * CI=true (CI installs mate-backgrounds and lomiri-wallpapers-20.04).
 */
export function photoSkip(): string | false {
  if (photos().length > 0) return false;
  if (process.env.CI === 'true') throw new Error('real photos missing under /usr/share/backgrounds: install mate-backgrounds and lomiri-wallpapers-20.04');
  return 'no photos under /usr/share/backgrounds (apt-get install mate-backgrounds lomiri-wallpapers-20.04)';
}

/** A JPEG with an IPTC caption (APP13, Photoshop 3.0 resource 0x0404) after its SOI marker. */
export function withIptc(jpeg: Buffer, caption: string): Buffer {
  const text = Buffer.from(caption, 'utf8');
  const iptc = Buffer.concat([Buffer.from([0x1c, 0x02, 0x78, text.length >> 8, text.length & 255]), text]);
  const padded = iptc.length % 2 ? Buffer.concat([iptc, Buffer.from([0])]) : iptc;
  const size = Buffer.alloc(4);
  size.writeUInt32BE(iptc.length);
  const payload = Buffer.concat([Buffer.from('Photoshop 3.0\0', 'latin1'), Buffer.from('8BIM', 'latin1'), Buffer.from([0x04, 0x04, 0, 0]), size, padded]);
  const len = Buffer.alloc(2);
  len.writeUInt16BE(payload.length + 2);
  return Buffer.concat([jpeg.subarray(0, 2), Buffer.from([0xff, 0xed]), len, payload, jpeg.subarray(2)]);
}
