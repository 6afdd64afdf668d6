import type { TransformOptions } from './params.ts';

/** The request headers each `ch` member reads (the Sec-CH- form first, then the legacy one). */
const HINT_HEADERS: Record<string, string[]> = {
  width: ['Sec-CH-Width', 'Width'],
  dpr: ['Sec-CH-DPR', 'DPR'],
  'save-data': ['Save-Data'],
};

/**
 * Client hints (`ch=Width,DPR,Save-Data`), as imgix honours them: the parameters the hints stand
 * for, as a query to append (a repeated parameter takes its last value). Width is the image's
 * width in device pixels: it sets `w` and `dpr=1` (it already counts the pixel ratio); DPR alone
 * sets `dpr`; `Save-Data: on` lowers the quality to `saveDataQuality` unless `q` is given.
 * Empty when no hint applies.
 */
export function clientHintQuery(opts: TransformOptions, header: (name: string) => string | undefined, saveDataQuality: number): string {
  const ch = opts.ch;
  if (!ch?.length) return '';
  const read = (k: string) => HINT_HEADERS[k]!.map(header).find((v) => v !== undefined && v !== '');
  const out: string[] = [];
  const width = ch.includes('width') ? Number(read('width')) : NaN;
  const dpr = ch.includes('dpr') ? Number(read('dpr')) : NaN;
  if (Number.isFinite(width) && width >= 1) out.push(`w=${Math.round(width)}`, 'dpr=1');
  else if (Number.isFinite(dpr) && dpr > 0) out.push(`dpr=${dpr}`);
  if (ch.includes('save-data') && read('save-data')?.toLowerCase() === 'on' && opts.q === undefined) out.push(`q=${saveDataQuality}`);
  return out.join('&');
}

/** Accept-CH and Vary for a response to a URL with `ch`: the hints it asked for, by header name. */
export function clientHintHeaders(opts: TransformOptions): string[] {
  return (opts.ch ?? []).flatMap((k) => HINT_HEADERS[k] ?? []);
}
