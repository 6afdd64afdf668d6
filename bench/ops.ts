/**
 * What the benchmark measures: the photos, the operation (`?w=400` at q 75 as JPEG, WebP, AVIF)
 * and how each contender spells it.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import sharp, { type Sharp } from 'sharp';

/** Debian's wallpapers (mate-backgrounds, lomiri-wallpapers-20.04): real 9–20 MP photos. */
export const PHOTO_ROOT = '/usr/share/backgrounds';
export const PHOTOS = [
  'Kleiber_by_Lukas_Baubkus.jpg', // 6028×3391 (20.4 MP), baseline 4:2:0, lomiri-wallpapers-20.04
  'mate/abstract/Elephants_5640x3172.jpg', // 5640×3172 (17.9 MP), progressive 4:2:0, mate-backgrounds
  'Fossa_by_Jasper_Roks.jpg', // 4096×2304 (9.4 MP), baseline 4:4:4, lomiri-wallpapers-20.04
];

export type Format = 'jpeg' | 'webp' | 'avif';
export const FORMATS: Format[] = ['jpeg', 'webp', 'avif'];
export const WIDTH = 400;
export const QUALITY = 75;

export function missingPhotos(): string[] {
  return PHOTOS.filter((p) => !existsSync(path.join(PHOTO_ROOT, p)));
}

/**
 * imagegate URL (imgix syntax). With `unique`, a `dl=` parameter (it only adds a
 * Content-Disposition header) makes each request a distinct derivative, so request coalescing
 * cannot merge concurrent identical requests and every response is a full render.
 */
export function imagegatePath(photo: string, fmt: Format, unique?: number): string {
  const dl = unique === undefined ? '' : `&dl=b${unique}.${fmt === 'jpeg' ? 'jpg' : fmt}`;
  return `/${photo}?w=${WIDTH}${fmt === 'jpeg' ? '' : `&fm=${fmt}`}${dl}`;
}

/** ipx URL: modifiers then the id. */
export function ipxPath(photo: string, fmt: Format): string {
  return `/w_${WIDTH},q_${QUALITY},f_${fmt}/${photo}`;
}

/**
 * The physical limit: the same operation straight on sharp from a buffer, with the settings the
 * service's pipeline uses for `?w=400` (or another `width`) — EXIF orientation applied by the decoder, shrink-on-load
 * resize to 400 wide, sRGB with metadata stripped (sharp's default), one encode at q 75 with the
 * same encoder options (`encodeAs`). The service's extra work — the header probe, the source
 * read, HTTP — is what the ratio measures.
 */
export function rawTransform(input: Buffer, fmt: Format, width = WIDTH): Promise<Buffer> {
  return encodeAs(rawResize(input, width), fmt).toBuffer();
}

/** Everything of `rawTransform` before the encoder: decoder options and the resize. */
export function rawResize(input: Buffer, width = WIDTH): Sharp {
  return sharp(input, { failOn: 'error', limitInputPixels: 100_000_000, sequentialRead: true, autoOrient: true }).resize({ width });
}

/**
 * The encoder at the pipeline's defaults: q 75; JPEG progressive 4:2:0 (imgix's default); WebP
 * effort 4; AVIF effort 4, 4:2:0. One place for every raw-sharp contender, so that the
 * encode-only floor of bench/srcset.ts encodes exactly as raw sharp does.
 */
export function encodeAs(img: Sharp, fmt: Format): Sharp {
  switch (fmt) {
    case 'jpeg':
      return img.jpeg({ quality: QUALITY, progressive: true, chromaSubsampling: '4:2:0' });
    case 'webp':
      return img.webp({ quality: QUALITY, lossless: false, effort: 4 });
    case 'avif':
      return img.avif({ quality: QUALITY, lossless: false, effort: 4, chromaSubsampling: '4:2:0' });
  }
}
