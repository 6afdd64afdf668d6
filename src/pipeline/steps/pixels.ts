import type { Sharp } from 'sharp';
import { bounded, type Budget } from '../context.ts';

/** A side pipeline (a mask, a measurement, an overlay) under the request's remaining time, as every materialisation (see `bounded`). */
export function timed(st: Budget, img: Sharp): Sharp {
  return bounded(st, img);
}
