import type { TransformOptions } from '../request/params.ts';
import type { OutputFormat } from '../request/negotiate.ts';
import { computeGeometry } from '../pipeline/geometry.ts';

/**
 * Which requests may render from a master, by parameter family. A parameter not listed here
 * keeps the request on the original (the safe side): the list grows only with a measurement.
 *
 * | family                                   | from a master | why                                                       |
 * |------------------------------------------|---------------|-----------------------------------------------------------|
 * | w, h, dpr, fit, crop, ar, min/max-w/h    | yes           | geometry is computed on the original's size; only the     |
 * | rect, fp-x, fp-y, fp-z, flip             |               | source pixels come from the master, when it has enough    |
 * | fm / auto=format: jpeg, pjpg, webp, avif | yes           | lossy photo formats                                       |
 * | q, auto=compress, jpg-progressive, dl, bg, ch | yes   | encoder settings and headers only                         |
 * | chromasub=444                            | no            | the master's chroma is subsampled like the default outputs |
 * | fm=png, png8, gif, json, blurhash; lossless | no         | lossless or metadata outputs show the master's own loss    |
 * | cs=origin, iptc                          | no            | the master keeps no ICC profile or IPTC block              |
 * | orient, rot, trim, pad, border, fill     | no            | not measured yet                                          |
 * | tone, colour, sharpening, blur, overlays (mark, blend, txt, mask), animation, palette | no | not measured yet |
 *
 * Originals never given a master: animations, SVG, and images whose long edge is under
 * 1.5 × `longEdge` (a master would save less than half the decoded pixels).
 */
const GEOMETRY = new Set(['w', 'h', 'dpr', 'fit', 'crop', 'ar', 'min-w', 'max-w', 'min-h', 'max-h', 'rect', 'fp-x', 'fp-y', 'fp-z', 'flip']);
const ENCODING = new Set(['fm', 'q', 'auto', 'chromasub', 'jpg-progressive', 'dl', 'bg', 'ch']);
const LOSSY: ReadonlySet<string> = new Set<OutputFormat>(['jpeg', 'webp', 'avif']);

/** The parameters alone allow a master (the original's size and the output format are checked later). */
export function eligibleParams(opts: Readonly<TransformOptions>): boolean {
  for (const [name, value] of Object.entries(opts)) {
    if (value === undefined) continue;
    if (!GEOMETRY.has(name) && !ENCODING.has(name)) return false;
  }
  if (opts.auto && opts.auto.some((a) => a !== 'format' && a !== 'compress')) return false;
  if (opts.chromasub === '444') return false;
  if (opts.fm && opts.fm !== 'jpg' && opts.fm !== 'pjpg' && opts.fm !== 'webp' && opts.fm !== 'avif') return false;
  return true;
}

/** What a master records of its original: the upright size and what a direct render reads from its header. */
export interface MasterOf {
  /** The original's upright size (after EXIF orientation). */
  width: number;
  height: number;
  /** The format a render without `fm` keeps (the original's own, see keepFormat). */
  format: OutputFormat;
  alpha: boolean;
}

/**
 * True when a request may render from a master of `master`'s size made from `of`: the output
 * format is lossy, and the source pixels it needs (after rect, crop, dpr, fp-z) are no more than
 * the master holds, across and down — never an enlargement of the master.
 */
export function fitsMaster(opts: Readonly<TransformOptions>, format: OutputFormat, of: MasterOf, master: { width: number; height: number }, maxOutputSize: number): boolean {
  if (!LOSSY.has(format)) return false;
  const g = computeGeometry(of.width, of.height, opts, maxOutputSize);
  if (!g.resize) return false;
  const region = g.rect ?? { width: of.width, height: of.height };
  return g.resize.width / region.width <= master.width / of.width && g.resize.height / region.height <= master.height / of.height;
}
