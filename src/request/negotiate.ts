// CONTRACT STUB — replaced by the full implementation (issue 3).
import type { TransformOptions } from './params.ts';

export type OutputFormat = 'jpeg' | 'png' | 'webp' | 'avif' | 'gif' | 'json' | 'blurhash';

/**
 * The output format chosen from `fm`, `auto=format` and the Accept header, before the source is
 * read (it is part of the cache key). `format` undefined = keep the source's format.
 * `vary` is true whenever Accept could change the answer (auto=format without fm).
 */
export function negotiateFormat(_opts: TransformOptions, _accept: string | undefined): { format?: OutputFormat; vary: boolean } {
  return { vary: false };
}
