import type { TransformOptions } from './params.ts';

/** The mark's path: `mark`, after `mark-base` when given (imgix's prefix for mark paths). */
export function markPath(mark: string, base: string | undefined): string {
  return base ? `${base.replace(/\/+$/, '')}/${mark.replace(/^\/+/, '')}` : mark;
}

/**
 * Every object a request pulls in besides its original, by the parameter that names it: the
 * watermark (after mark-base), a blend image and a mask image. Each is read through the same
 * access decision as the original, and its identity joins the cache key.
 */
export function overlayPaths(opts: TransformOptions): Array<['mark' | 'blend' | 'mask', string]> {
  const out: Array<['mark' | 'blend' | 'mask', string]> = [];
  if (opts.mark) out.push(['mark', markPath(opts.mark, opts['mark-base'])]);
  if (opts.blend && 'path' in opts.blend) out.push(['blend', opts.blend.path]);
  if (opts.mask && 'path' in opts.mask) out.push(['mask', opts.mask.path]);
  return out;
}
