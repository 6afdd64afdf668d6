/**
 * Orientation algebra: EXIF orientation (or the `orient` override) followed by `flip`, reduced to
 * the one (flop, then rotate clockwise by `angle`) pair sharp applies before resizing, so the
 * whole change of frame costs one libvips operation.
 */
type M = [number, number, number, number]; // row-major 2×2 acting on (x, y), y down

const I: M = [1, 0, 0, 1];
const R90: M = [0, -1, 1, 0]; // clockwise quarter turn in image coordinates
const FLOP: M = [-1, 0, 0, 1];
const FLIP: M = [1, 0, 0, -1];

function mul(a: M, b: M): M {
  return [a[0] * b[0] + a[1] * b[2], a[0] * b[1] + a[1] * b[3], a[2] * b[0] + a[3] * b[2], a[2] * b[1] + a[3] * b[3]];
}
function rot(angle: number): M {
  let m = I;
  for (let i = 0; i < angle / 90; i++) m = mul(R90, m);
  return m;
}

/** EXIF orientation 1–8 → the transform that displays the stored pixels upright (sharp: rotate, then flop). */
function exifMatrix(orientation: number): M {
  const table: Record<number, [number, boolean]> = { 6: [90, false], 3: [180, false], 8: [270, false], 2: [0, true], 7: [270, true], 4: [180, true], 5: [90, true] };
  const [angle, flop] = table[orientation] ?? [0, false];
  return flop ? mul(FLOP, rot(angle)) : rot(angle);
}

export interface Orientation {
  /** Clockwise rotation, applied after `flop`. */
  angle: 0 | 90 | 180 | 270;
  flop: boolean;
  /** True when width and height swap. */
  swaps: boolean;
}

/** Compose EXIF/override orientation with a user flip into sharp's (flop, rotate) pair. */
export function composeOrientation(exif: number, flip: 'h' | 'v' | 'hv' | undefined): Orientation {
  let m = exifMatrix(exif);
  if (flip === 'h' || flip === 'hv') m = mul(FLOP, m);
  if (flip === 'v' || flip === 'hv') m = mul(FLIP, m);
  for (const angle of [0, 90, 180, 270] as const) {
    for (const flop of [false, true]) {
      const c = flop ? mul(rot(angle), FLOP) : rot(angle);
      if (c.every((v, i) => v === m[i])) return { angle, flop, swaps: angle === 90 || angle === 270 };
    }
  }
  /* c8 ignore next */
  return { angle: 0, flop: false, swaps: false };
}

/** `orient` value → EXIF orientation 1–8 (90 = 6, 180 = 3, 270 = 8; 0 = upright, ignoring EXIF). */
export function orientToExif(orient: string): number {
  const n = Number(orient);
  if (n === 90) return 6;
  if (n === 180) return 3;
  if (n === 270) return 8;
  return n >= 1 && n <= 8 ? n : 1;
}
