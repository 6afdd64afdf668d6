/**
 * Readers for the metadata blocks of imgix's `fm=json`: EXIF (TIFF and Exif IFDs, named as imgix
 * names them), the ICC profile's description, and the JPEG's JFIF header. Each returns undefined
 * for what it cannot read; a malformed block is never an error.
 */

const TIFF_TAGS: Record<number, string> = {
  0x010e: 'ImageDescription', 0x010f: 'Make', 0x0110: 'Model', 0x0112: 'Orientation', 0x011a: 'XResolution', 0x011b: 'YResolution',
  0x0128: 'ResolutionUnit', 0x0131: 'Software', 0x0132: 'DateTime', 0x013b: 'Artist', 0x8298: 'Copyright',
};
const EXIF_TAGS: Record<number, string> = {
  0x829a: 'ExposureTime', 0x829d: 'FNumber', 0x8822: 'ExposureProgram', 0x8827: 'ISOSpeedRatings', 0x9000: 'ExifVersion', 0x9003: 'DateTimeOriginal',
  0x9004: 'DateTimeDigitized', 0x9201: 'ShutterSpeedValue', 0x9202: 'ApertureValue', 0x9203: 'BrightnessValue', 0x9204: 'ExposureBiasValue',
  0x9205: 'MaxApertureValue', 0x9207: 'MeteringMode', 0x9209: 'Flash', 0x920a: 'FocalLength', 0xa001: 'ColorSpace', 0xa002: 'PixelXDimension',
  0xa003: 'PixelYDimension', 0xa402: 'ExposureMode', 0xa403: 'WhiteBalance', 0xa405: 'FocalLenIn35mmFilm', 0xa406: 'SceneCaptureType',
  0xa433: 'LensMake', 0xa434: 'LensModel',
};
const SIZES: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 7: 1, 9: 4, 10: 8 };

/** The TIFF (IFD0) and Exif blocks of an EXIF buffer (as sharp's metadata gives it, with or without the "Exif\0\0" prefix). */
export function readExif(buf: Buffer | undefined): { TIFF?: Record<string, unknown>; Exif?: Record<string, unknown> } {
  if (!buf) return {};
  try {
    const t = buf.subarray(0, 6).toString('latin1') === 'Exif\0\0' ? buf.subarray(6) : buf;
    const le = t.toString('latin1', 0, 2) === 'II';
    if (!le && t.toString('latin1', 0, 2) !== 'MM') return {};
    const u16 = (o: number) => (le ? t.readUInt16LE(o) : t.readUInt16BE(o));
    const u32 = (o: number) => (le ? t.readUInt32LE(o) : t.readUInt32BE(o));
    const i32 = (o: number) => (le ? t.readInt32LE(o) : t.readInt32BE(o));
    const ifd = (offset: number, names: Record<number, string>): { out: Record<string, unknown>; exifAt?: number } => {
      const out: Record<string, unknown> = {};
      let exifAt: number | undefined;
      const n = u16(offset);
      for (let i = 0; i < n && offset + 2 + 12 * (i + 1) <= t.length; i++) {
        const e = offset + 2 + 12 * i;
        const tag = u16(e);
        const type = u16(e + 2);
        const count = u32(e + 4);
        if (tag === 0x8769) exifAt = u32(e + 8);
        const name = names[tag];
        const size = SIZES[type];
        if (!name || !size || count > 4096) continue;
        const at = size * count > 4 ? u32(e + 8) : e + 8;
        if (at + size * count > t.length) continue;
        let v: unknown;
        if (type === 2) v = t.toString('latin1', at, at + count).replace(/\0+$/, '').trim();
        else if (type === 7) v = t.toString('latin1', at, at + count);
        else {
          const vals: number[] = [];
          for (let k = 0; k < count; k++) {
            const o = at + k * size;
            if (type === 1) vals.push(t[o]!);
            else if (type === 3) vals.push(u16(o));
            else if (type === 4) vals.push(u32(o));
            else if (type === 9) vals.push(i32(o));
            else if (type === 5) vals.push(u32(o) / (u32(o + 4) || 1));
            else vals.push(i32(o) / (i32(o + 4) || 1));
          }
          v = count === 1 && tag !== 0x8827 ? vals[0] : vals;
        }
        out[name] = v;
      }
      return { out, exifAt };
    };
    const ifd0 = ifd(u32(4), TIFF_TAGS);
    const result: { TIFF?: Record<string, unknown>; Exif?: Record<string, unknown> } = {};
    if (Object.keys(ifd0.out).length) result.TIFF = ifd0.out;
    if (ifd0.exifAt !== undefined && ifd0.exifAt < t.length) {
      const exif = ifd(ifd0.exifAt, EXIF_TAGS).out;
      if (Object.keys(exif).length) result.Exif = exif;
    }
    return result;
  } catch {
    return {};
  }
}

/** The description of an ICC profile ('desc' tag: ICC v2 text description or v4 multi-localised text). */
export function iccProfileName(icc: Buffer | undefined): string | undefined {
  if (!icc || icc.length < 132) return undefined;
  try {
    const n = icc.readUInt32BE(128);
    for (let i = 0; i < n && 132 + 12 * (i + 1) <= icc.length; i++) {
      const e = 132 + 12 * i;
      if (icc.toString('latin1', e, e + 4) !== 'desc') continue;
      const at = icc.readUInt32BE(e + 4);
      const type = icc.toString('latin1', at, at + 4);
      if (type === 'desc') {
        const len = icc.readUInt32BE(at + 8);
        return icc.toString('latin1', at + 12, at + 12 + len).replace(/\0+$/, '') || undefined;
      }
      if (type === 'mluc') {
        const len = icc.readUInt32BE(at + 20);
        const off = icc.readUInt32BE(at + 24);
        const s = icc.subarray(at + off, at + off + len);
        return Buffer.from(s).swap16().toString('utf16le').replace(/\0+$/, '') || undefined;
      }
    }
  } catch {
    return undefined;
  }
  return undefined;
}

/** The JFIF APP0 header of a JPEG's first bytes, in imgix's field names. */
export function readJfif(head: Buffer, progressive: boolean): Record<string, unknown> | undefined {
  if (head.length < 20 || head[0] !== 0xff || head[1] !== 0xd8 || head[2] !== 0xff || head[3] !== 0xe0) return undefined;
  if (head.toString('latin1', 6, 11) !== 'JFIF\0') return undefined;
  return { DensityUnit: head[13], XDensity: head.readUInt16BE(14), YDensity: head.readUInt16BE(16), IsProgressive: progressive };
}
