// CONTRACT STUB — replaced by the full imgix parameter parser (issue 3).
import type { TransformConfig } from '../pipeline/config.ts';

/** Typed, validated rendering options read from the query string. */
export interface TransformOptions {
  [name: string]: unknown;
}

/** Query → options. Throws ServiceError(400, 'invalid_parameter') naming the parameter. */
export function parseTransform(query: URLSearchParams, _config: TransformConfig): TransformOptions {
  const out: TransformOptions = {};
  for (const [k, v] of query) out[k] = v;
  return out;
}

/** A string that is equal for equal options whatever their order in the URL; defaults removed. */
export function canonicalKey(opts: TransformOptions): string {
  return Object.keys(opts).sort().map((k) => `${k}=${String(opts[k])}`).join('&');
}

/** True when nothing asks for a change: the original bytes are served untouched. */
export function isIdentity(opts: TransformOptions): boolean {
  return Object.keys(opts).filter((k) => k !== 's' && k !== 'expires').length === 0;
}
