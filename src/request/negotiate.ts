import type { TransformOptions } from './params.ts';

export type OutputFormat = 'jpeg' | 'png' | 'webp' | 'avif' | 'gif' | 'json' | 'blurhash';

/** `fm` value → encoder format. pjpg/png8/png32 keep their variant in TransformOptions.fm. */
const FM_FORMAT: Record<NonNullable<TransformOptions['fm']>, OutputFormat> = {
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

/** The negotiated output: `format` undefined keeps the source's format; `vary` asks for `Vary: Accept`. */
export interface NegotiatedFormat {
  format?: OutputFormat;
  vary: boolean;
}

/**
 * The output format chosen from `fm`, `auto=format` and the Accept header, before the source is
 * read (it is part of the cache key). `fm` wins. With auto=format (and no fm) AVIF is preferred,
 * then WebP, when Accept names them explicitly with q > 0 (`image/*` and `*\/*` do not count, as
 * with imgix). `format` undefined = keep the source's format. `vary` is true whenever Accept could
 * change the answer (auto=format without fm), whatever was chosen.
 */
export function negotiateFormat(opts: TransformOptions, accept: string | undefined): NegotiatedFormat {
  if (opts.fm) return { format: FM_FORMAT[opts.fm], vary: false };
  if (!opts.auto?.includes('format')) return { vary: false };
  const avif = acceptQuality(accept, 'image/avif');
  const webp = acceptQuality(accept, 'image/webp');
  if (avif > 0) return { format: 'avif', vary: true };
  if (webp > 0) return { format: 'webp', vary: true };
  return { vary: true };
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
