/**
 * What an original is, in one place: the type read from its first bytes, the type an origin
 * declared (kept only when it names a passive image), and the type an untouched original is
 * served under. The pipeline, the HTTP handler and the storage adapters all ask here.
 */

/**
 * How many leading bytes detection reads: sources hand this much to the detector, and the SVG
 * rule looks this far (libvips looks at 1000 bytes).
 */
export const SNIFF_BYTES = 4096;

/**
 * Content-Type of an image from its first bytes (magic numbers), without decoding it. Used for
 * originals served untouched and to refuse what the pipeline cannot read before it tries.
 * Returns undefined when the bytes are not a known image format.
 */
export function detectContentType(buf: Buffer): string | undefined {
  if (buf.length < 4) return undefined;
  const b = buf;
  if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'image/jpeg';
  if (b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) return 'image/png';
  if (b.toString('latin1', 0, 4) === 'GIF8') return 'image/gif';
  if (b.length >= 12 && b.toString('latin1', 0, 4) === 'RIFF' && b.toString('latin1', 8, 12) === 'WEBP') return 'image/webp';
  if (b.length >= 12 && b.toString('latin1', 4, 8) === 'ftyp') {
    const brands = b.toString('latin1', 8, Math.min(b.length, 64));
    const major = brands.slice(0, 4);
    if (major === 'avif' || major === 'avis') return 'image/avif';
    if (['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'mif1', 'msf1'].includes(major)) {
      return brands.includes('avif') ? 'image/avif' : 'image/heic';
    }
    return undefined;
  }
  if ((b[0] === 0x49 && b[1] === 0x49 && b[2] === 0x2a && b[3] === 0x00) || (b[0] === 0x4d && b[1] === 0x4d && b[2] === 0x00 && b[3] === 0x2a)) return 'image/tiff';
  if (b[0] === 0x42 && b[1] === 0x4d && b.length >= 14) return 'image/bmp';
  if (b[0] === 0x00 && b[1] === 0x00 && b[2] === 0x01 && b[3] === 0x00) return 'image/x-icon';
  if ((b[0] === 0xff && b[1] === 0x0a) || (b.length >= 12 && b.toString('latin1', 4, 8) === 'JXL ' && b[0] === 0 && b[1] === 0 && b[2] === 0 && b[3] === 0x0c)) return 'image/jxl';
  // SVG: decided by libvips' own sniffing rule (svgload's is_a), so that nothing libvips would
  // load as SVG escapes the SVG checks: the text `<svg`, in any case, within the first
  // SNIFF_BYTES. libvips looks at the first 1000 bytes; looking further only widens the net.
  // A doctype with an internal subset, processing instructions, comments, a BOM or a prefixed
  // root (`<svg:svg>`) change nothing.
  if (/<svg/i.test(b.toString('latin1', 0, Math.min(b.length, SNIFF_BYTES)))) return 'image/svg+xml';
  return undefined;
}

/**
 * A declared Content-Type (an origin's header, an object's metadata) when it names a passive
 * image type, lower-cased and without parameters; undefined otherwise. SVG is never passive (it
 * can carry scripts), and an origin's HTML error page must never be served as HTML from the
 * image service's origin.
 */
export function passiveImageType(declared: string | undefined): string | undefined {
  const t = declared?.split(';')[0].trim().toLowerCase();
  return t && /^image\/[a-z0-9.+-]+$/.test(t) && !t.includes('svg') ? t : undefined;
}

/**
 * The Content-Type an untouched original is served under: what its first bytes say, else the
 * declared type when it is a passive image type, else application/octet-stream.
 */
export function originalContentType(head: Buffer, declared: string | undefined): string {
  return detectContentType(head) ?? passiveImageType(declared) ?? 'application/octet-stream';
}
