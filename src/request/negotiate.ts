import type { TransformOptions } from './params.ts';

export type OutputFormat = 'jpeg' | 'png' | 'webp' | 'avif' | 'gif' | 'json' | 'blurhash';

/**
 * `fm` value → encoder format. pjpg/png8/png32 keep their variant in TransformOptions.fm. Formats
 * imgix offers that imagegate cannot encode get the closest one it can: JPEG 2000 and JPEG XR
 * (lossless-capable, with alpha) → PNG; video and sprite sheets → undefined, the source's own
 * format, so an animated GIF stays animated. The response names the substitution
 * (FORMAT_SUBSTITUTED_HEADER).
 */
const FM_FORMAT: Record<NonNullable<TransformOptions['fm']>, OutputFormat | undefined> = {
  jp2: 'png',
  jxr: 'png',
  mp4: undefined,
  webm: undefined,
  spritesheet: undefined,
  jpg: 'jpeg',
  pjpg: 'jpeg',
  png: 'png',
  png8: 'png',
  png32: 'png',
  webp: 'webp',
  avif: 'avif',
  gif: 'gif',
  json: 'json',
  blurhash: 'blurhash',
};

/** The q-value the Accept header gives to `type` (exact media type only; 0 when absent or refused). */
export function acceptQuality(accept: string | undefined, type: string): number {
  if (!accept) return 0;
  let best = 0;
  for (const part of accept.split(',')) {
    const [media, ...params] = part.split(';');
    if (media!.trim().toLowerCase() !== type) continue;
    let q = 1;
    for (const p of params) {
      const [k, v] = p.split('=');
      if (k!.trim().toLowerCase() === 'q') {
        const n = Number(v?.trim());
        q = Number.isFinite(n) ? Math.min(Math.max(n, 0), 1) : 0;
      }
    }
    best = Math.max(best, q);
  }
  return best;
}

/** `fm` values imagegate answers with another format. */
export const SUBSTITUTED_FM: ReadonlySet<string> = new Set(['jp2', 'jxr', 'mp4', 'webm', 'spritesheet']);

/** Response header naming an `fm` imagegate cannot produce and what it sent instead, as `<fm>-><fm>`: `jp2->png`. */
export const FORMAT_SUBSTITUTED_HEADER = 'X-Imagegate-Format-Substituted';

/**
 * The negotiated output: `format` undefined keeps the source's format; `vary` asks for `Vary: Accept`.
 * `insteadOfAvif` is set when auto=format chose AVIF: what to encode when AVIF does not suit the
 * source after all (an animation, or an output above transform.autoAvifMaxPixels) — WebP when
 * Accept allows it, else the source's own format.
 */
export interface NegotiatedFormat {
  format?: OutputFormat;
  vary: boolean;
  insteadOfAvif?: 'webp' | 'source';
}

/**
 * The output format chosen from `fm`, `auto=format` and the Accept header, before the source is
 * read (it is part of the cache key). `fm` wins. With auto=format (and no fm) AVIF is preferred,
 * then WebP, when Accept names them explicitly with q > 0 (`image/*` and `*\/*` do not count, as
 * with imgix). `format` undefined = keep the source's format. `vary` is true whenever Accept could
 * change the answer (auto=format without fm), whatever was chosen.
 */
export function negotiateFormat(opts: TransformOptions, accept: string | undefined): NegotiatedFormat {
  if (opts.fm) {
    const format = FM_FORMAT[opts.fm];
    return format ? { format, vary: false } : { vary: false };
  }
  if (!opts.auto?.includes('format')) return { vary: false };
  const avif = acceptQuality(accept, 'image/avif');
  const webp = acceptQuality(accept, 'image/webp');
  if (avif > 0) return { format: 'avif', vary: true, insteadOfAvif: webp > 0 ? 'webp' : 'source' };
  if (webp > 0) return { format: 'webp', vary: true };
  return { vary: true };
}

/**
 * The negotiated output as the cache key and ETag see it: the format, and for auto=format's AVIF
 * what replaces it, since two Accept headers that both take AVIF may differ there.
 */
export function formatKey(n: NegotiatedFormat): string {
  return `${n.format ?? 'source'}${n.insteadOfAvif ? `>${n.insteadOfAvif}` : ''}`;
}

/** Content-Type of an encoded output format. */
export const FORMAT_CONTENT_TYPE: Record<OutputFormat, string> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  avif: 'image/avif',
  gif: 'image/gif',
  json: 'application/json',
  blurhash: 'text/plain; charset=utf-8',
};

/** The `fm` name of an encoded format, for the substitution header. */
export const FORMAT_FM_NAME: Record<OutputFormat, string> = { jpeg: 'jpg', png: 'png', webp: 'webp', avif: 'avif', gif: 'gif', json: 'json', blurhash: 'blurhash' };

/**
 * auto=format's AVIF, reconsidered once the source's header is read: an animation gets WebP (or
 * its own format: animated AVIF is not encoded), and so does an output of more than `maxPixels`
 * pixels, where AVIF's encode time would dominate the render (see bench/encode-cost.ts).
 * `ownFormat` is what the output would be without auto=format (never AVIF: then JPEG or PNG).
 */
export function autoFormatFor(format: OutputFormat, instead: NegotiatedFormat['insteadOfAvif'], source: { animated: boolean; outputPixels: number; ownFormat: OutputFormat }, maxPixels: number): OutputFormat {
  if (format !== 'avif' || instead === undefined) return format;
  if (!source.animated && source.outputPixels <= maxPixels) return 'avif';
  if (instead === 'webp') return 'webp';
  return source.ownFormat;
}
