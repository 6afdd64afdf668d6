import { ServiceError } from '../errors.ts';
import type { TransformOptions } from '../request/params.ts';
import type { OutputFormat } from '../request/negotiate.ts';
import { computeGeometry, type Geometry } from './geometry.ts';

const ROW_UNITS = 200;
const OP_UNITS = 2;
const ENCODE_UNITS: Record<OutputFormat, number> = { jpeg: 8, png: 12, webp: 16, avif: 40, gif: 30, blurhash: 1, json: 0 };

/**
 * The cost of a render, estimated from the header and the options before anything is decoded,
 * in work units: one unit is about the work of decoding one pixel (4–7 ns on one core of the
 * reference 2-core machine). Rough by design — it only has to tell a render that finishes in
 * seconds from one that cannot finish at all.
 *
 *   frames × (decode + output pixels × (encoder + operations))
 *
 * `src` is the stored size (`swap`: shown turned by 90°, per its EXIF orientation); `geometry`,
 * when the caller planned it already, is the one for the upright frame.
 *
 * - decode: the source's pixels plus ROW_UNITS per row: libvips' per-line overhead dominates
 *   very narrow images (a 1 × 100,000,000 PNG decodes at about 800 ns a row: 80 s);
 * - encoder: units per output pixel by format (JPEG cheapest, AVIF and GIF dearest);
 * - operations: OP_UNITS per output pixel for the resize and for each operation asked for, a
 *   gaussian blur more with its sigma.
 */
export function renderCost(src: { width: number; height: number; frames: number; swap: boolean }, opts: TransformOptions, format: OutputFormat, maxOutputSize: number, geometry?: Geometry): number {
  const g = geometry ?? (src.swap ? computeGeometry(src.height, src.width, opts, maxOutputSize) : computeGeometry(src.width, src.height, opts, maxOutputSize));
  const outW = g.width + g.pad.left + g.pad.right + g.border.left + g.border.right;
  const outH = g.height + g.pad.top + g.pad.bottom + g.border.top + g.border.bottom;
  const flags = [
    opts.trim, opts.rot, opts.bri, opts.con, opts.exp, opts.gam, opts.sat, opts.hue, opts.vib, opts.sharp, opts.usm,
    opts.px, opts.monochrome, opts.sepia, opts.invert, opts.duotone, opts.mark, opts.txt, opts['border-radius'],
    g.extend, g.pad.top + g.pad.bottom + g.pad.left + g.pad.right + g.border.top + g.border.left || undefined,
  ].filter((v) => v !== undefined && v !== 0 && v !== false).length;
  let perPixel = ENCODE_UNITS[format] + OP_UNITS * (1 + flags);
  // sigma = blur / 10; measured: about 1.5 units per pixel per unit of sigma (sigma 200 over 12.6 MP: 20 s).
  if (opts.blur) perPixel += OP_UNITS + (1.5 * opts.blur) / 10;
  if (opts.fill === 'blur') perPixel += OP_UNITS * 2;
  return src.frames * (src.width * src.height + ROW_UNITS * src.height + outW * outH * perPixel);
}

/** Refuse, before decoding, a render whose estimated cost is over `maxRenderCost`: 422 `render_too_costly`. */
export function checkRenderCost(cost: number, maxRenderCost: number): void {
  if (cost <= maxRenderCost) return;
  throw new ServiceError(
    422,
    'render_too_costly',
    `Unprocessable: this source and these parameters would cost about ${(cost / 1e9).toFixed(1)} G work units to render, more than transform.maxRenderCost (${(maxRenderCost / 1e9).toFixed(1)} G); ask for a smaller output, fewer frames or fewer operations`,
  );
}
