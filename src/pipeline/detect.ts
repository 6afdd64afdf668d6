/**
 * Content type from the first bytes of a file (magic numbers), never from the file name:
 * a `.jpeg` that holds a PNG is served as image/png.
 */
export function detectContentType(buf: Buffer): string | undefined {
  if (buf.length < 4) return undefined;
  const ascii = (start: number, end: number) => buf.subarray(start, end).toString('latin1');
  if (buf[0] === 0xff && buf[1] === 0xd8 && buf[2] === 0xff) return 'image/jpeg';
  if (ascii(0, 8) === '\x89PNG\r\n\x1a\n') return 'image/png';
  if (ascii(0, 6) === 'GIF87a' || ascii(0, 6) === 'GIF89a') return 'image/gif';
  if (ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'image/webp';
  if (ascii(4, 8) === 'ftyp') {
    const brand = ascii(8, 12);
    if (brand === 'avif' || brand === 'avis') return 'image/avif';
    if (['heic', 'heix', 'hevc', 'hevx', 'mif1', 'msf1'].includes(brand)) {
      // mif1 files may still be AVIF: look for the avif compatible brand.
      return ascii(8, Math.min(buf.length, 64)).includes('avif') ? 'image/avif' : 'image/heic';
    }
  }
  if (ascii(0, 4) === 'II*\0' || ascii(0, 4) === 'MM\0*') return 'image/tiff';
  if (buf[0] === 0xff && buf[1] === 0x0a) return 'image/jxl';
  if (ascii(0, 12) === '\0\0\0\x0cJXL \r\n\x87\n') return 'image/jxl';
  if (ascii(0, 2) === 'BM') return 'image/bmp';
  if (buf[0] === 0 && buf[1] === 0 && buf[2] === 1 && buf[3] === 0) return 'image/x-icon';
  if (ascii(0, 4) === '%PDF') return 'application/pdf';
  const head = ascii(0, Math.min(buf.length, 1024)).replace(/^\uFEFF/, '').trimStart();
  if (/^(<\?xml[^>]*>\s*)?(<!--[\s\S]*?-->\s*)*(<!DOCTYPE svg[^>]*>\s*)?<svg[\s>]/i.test(head)) return 'image/svg+xml';
  return undefined;
}
