import sharp, { type Metadata } from 'sharp';
import { encode as blurhashEncode } from 'blurhash';
import { FORMAT_CONTENT_TYPE, FORMAT_FM_NAME, FORMAT_SUBSTITUTED_HEADER, SUBSTITUTED_FM } from '../../request/negotiate.ts';
import { op, restart } from '../queue.ts';
import { bounded, formatHasAlpha, type PipelineState } from '../context.ts';
import { flatten } from './flatten.ts';
import { iccProfileName, readExif, readJfif } from './exif.ts';
import { palette } from './palette.ts';
import { animationOptions } from './animation.ts';

export interface Encoded {
  body: Buffer;
  contentType: string;
  width: number;
  height: number;
  headers: Record<string, string>;
}

/**
 * The one encode: sRGB and no metadata unless cs=origin (keeps the ICC profile); quality from q,
 * else 45 with auto=compress, else the configured default; JPEG progressive unless
 * jpg-progressive=false (imgix's default; pjpg always); png8 palette;
 * lossless WebP/AVIF; chromasub 444 keeps full chroma; dpi sets the density in the file; colorquant
 * limits the colours (the palette of PNG and GIF; other formats get the reduced colours). Formats without alpha are flattened onto
 * bg or white. fm=blurhash encodes a small copy of the result with the blurhash package.
 */
export async function encode(st: PipelineState): Promise<Encoded> {
  const o = st.opts;
  const headers: Record<string, string> = { ...st.headers };
  if (o.fm && SUBSTITUTED_FM.has(o.fm)) headers[FORMAT_SUBSTITUTED_HEADER] = `${o.fm}->${FORMAT_FM_NAME[st.format]}`;

  if (o.palette) return palette(st, headers);
  if (st.format === 'blurhash') {
    await op(st, 'resize', (img) => img.resize(32, 32, { fit: 'inside' }));
    const small = await bounded(st, st.img.ensureAlpha().raw({ depth: 'uchar' })).toBuffer({ resolveWithObject: true });
    const [cx, cy] = st.config.blurhashComponents;
    const hash = blurhashEncode(new Uint8ClampedArray(small.data.buffer, small.data.byteOffset, small.data.length), small.info.width, small.info.height, cx, cy);
    return { body: Buffer.from(hash, 'utf8'), contentType: FORMAT_CONTENT_TYPE.blurhash, width: st.width, height: st.height, headers };
  }

  if (st.alpha && !formatHasAlpha(st.format)) await flatten(st);
  if (o.cs === 'origin') st.img.keepIccProfile();
  if (o.dpi) st.img.withDensity(o.dpi);
  const colours = o.colorquant;
  if (colours && st.format !== 'png' && st.format !== 'gif') {
    // Formats without a palette: the colours are reduced by libimagequant first (a lossless PNG of them).
    const quantised = await bounded(st, st.img.clone().png({ palette: true, colours, dither: 0 })).toBuffer();
    restart(st, sharp(quantised, { limitInputPixels: false }));
    if (o.dpi) st.img.withDensity(o.dpi);
    if (o.cs === 'origin') st.img.keepIccProfile();
  }

  const compress = o.auto?.includes('compress');
  const quality = Math.max(1, Math.min(100, o.q ?? (compress ? st.config.compressQuality : st.config.defaultQuality)));
  const chroma = o.chromasub === '444' ? '4:4:4' : '4:2:0';
  switch (st.format) {
    case 'jpeg':
      st.img.jpeg({ quality, progressive: o.fm === 'pjpg' || o['jpg-progressive'] !== false, chromaSubsampling: chroma });
      break;
    case 'png':
      st.img.png(o.fm === 'png8' || colours ? { palette: true, quality: o.q ?? 100, ...(colours ? { colours, dither: 0 } : {}) } : { compressionLevel: compress ? 9 : 6 });
      break;
    case 'webp':
      st.img.webp({ quality, lossless: o.lossless === true, effort: st.config.webpEffort, ...animationOptions(st) });
      break;
    case 'avif':
      st.img.avif({ quality, lossless: o.lossless === true, effort: st.config.avifEffort, chromaSubsampling: chroma });
      break;
    case 'gif':
      st.img.gif({ ...(colours ? { colours, dither: 0 } : {}), ...animationOptions(st) });
      break;
    default:
      break;
  }
  const { data: encoded, info } = await bounded(st, st.img).toBuffer({ resolveWithObject: true });
  const data = o.iptc === 'allow' && st.format === 'jpeg' && st.meta.iptc ? withApp13(encoded, st.meta.iptc) : encoded;
  const height = st.pages > 1 ? (info.pageHeight ?? Math.round(info.height / st.pages)) : info.height;
  return { body: data, contentType: FORMAT_CONTENT_TYPE[st.format], width: info.width, height, headers };
}

/**
 * iptc=allow: the source's IPTC block (its APP13 "Photoshop 3.0" payload, as libvips reads it) is
 * written into the JPEG after its JFIF header; nothing else of the source's metadata is kept.
 */
function withApp13(jpeg: Buffer, payload: Buffer): Buffer {
  if (payload.length > 65533 || jpeg[0] !== 0xff || jpeg[1] !== 0xd8) return jpeg;
  let at = 2;
  if (jpeg[2] === 0xff && jpeg[3] === 0xe0) at = 4 + jpeg.readUInt16BE(4);
  const len = Buffer.alloc(2);
  len.writeUInt16BE(payload.length + 2);
  return Buffer.concat([jpeg.subarray(0, at), Buffer.from([0xff, 0xed]), len, payload, jpeg.subarray(at)]);
}

/**
 * imgix `fm=json`: the source's metadata in imgix's field names, from the header alone, with
 * imgix's blocks — TIFF and Exif (from the EXIF data), JFIF (JPEG), the ICC profile's own name,
 * and Output (the size the same URL renders without fm=json).
 */
export function jsonMetadata(meta: Metadata, byteLength: number, contentType: string, head?: Buffer, output?: { width: number; height: number }): Record<string, unknown> {
  const colorModel = meta.space === 'b-w' || meta.space === 'grey16' ? 'Gray' : meta.space === 'cmyk' ? 'CMYK' : 'RGB';
  const depthBits: Record<string, number> = { uchar: 8, char: 8, ushort: 16, short: 16, uint: 32, int: 32, float: 32, double: 64 };
  const out: Record<string, unknown> = {
    'Content-Type': contentType,
    'Content-Length': String(byteLength),
    PixelWidth: meta.width,
    PixelHeight: meta.pageHeight ?? meta.height,
    Orientation: meta.orientation ?? 1,
    ColorModel: colorModel,
    Depth: meta.depth ? depthBits[meta.depth] ?? 8 : 8,
    HasAlpha: meta.hasAlpha === true,
  };
  if (meta.density) {
    out.DPIWidth = meta.density;
    out.DPIHeight = meta.density;
  }
  if (meta.icc) out.ProfileName = iccProfileName(meta.icc) ?? 'embedded';
  if (meta.pages && meta.pages > 1) out.Frames = meta.pages;
  Object.assign(out, readExif(meta.exif));
  const jfif = head && meta.format === 'jpeg' ? readJfif(head, meta.isProgressive === true) : undefined;
  if (jfif) out.JFIF = jfif;
  if (output) out.Output = { PixelWidth: output.width, PixelHeight: output.height };
  return out;
}
