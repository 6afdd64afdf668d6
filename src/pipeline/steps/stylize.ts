import { flush, STAGE, use, type PipelineState } from '../context.ts';

const LUMA = [0.2126, 0.7152, 0.0722];
const SEPIA = [
  [0.393, 0.769, 0.189],
  [0.349, 0.686, 0.168],
  [0.272, 0.534, 0.131],
];

/**
 * Stylize: px (pixelate: shrink then enlarge with nearest neighbour), monochrome (tint in the
 * colour, keeping luminance), sepia (a colour matrix blended by strength), duotone (luminance
 * mapped from the shadow colour to the highlight colour, one matrix plus offset, blended by
 * duotone-alpha) and invert.
 */
export async function stylize(st: PipelineState): Promise<void> {
  const o = st.opts;
  if (o.px && o.px > 1) {
    const W = st.width;
    const H = st.height;
    await use(st, STAGE.resize, 'resize');
    st.img.resize(Math.max(1, Math.round(W / o.px)), Math.max(1, Math.round(H / o.px)), { fit: 'fill' });
    await flush(st);
    await use(st, STAGE.resize, 'resize');
    st.img.resize(W, H, { fit: 'fill', kernel: 'nearest' });
    st.width = W;
    st.height = H;
  }
  if (o.sepia) {
    const k = o.sepia / 100;
    const m = SEPIA.map((row, i) => row.map((v, j) => k * v + (1 - k) * (i === j ? 1 : 0)));
    await use(st, STAGE.recomb, 'recomb');
    st.img.recomb(m as [[number, number, number], [number, number, number], [number, number, number]]);
  }
  if (o.duotone) {
    const [lo, hi] = o.duotone;
    const a = (o['duotone-alpha'] ?? 100) / 100;
    const d = [hi.r - lo.r, hi.g - lo.g, hi.b - lo.b];
    const m = [0, 1, 2].map((c) => [0, 1, 2].map((k) => (a * d[c]! * LUMA[k]!) / 255 + (1 - a) * (c === k ? 1 : 0)));
    await use(st, STAGE.recomb, 'recomb');
    st.img.recomb(m as [[number, number, number], [number, number, number], [number, number, number]]);
    await use(st, STAGE.linear, 'linear');
    st.img.linear([1, 1, 1], [a * lo.r, a * lo.g, a * lo.b]);
  }
  if (o.monochrome) {
    await use(st, STAGE.tint, 'tint');
    const c = o.monochrome;
    st.img.tint({ r: c.r, g: c.g, b: c.b });
  }
  if (o.invert) {
    await use(st, STAGE.negate, 'negate');
    st.img.negate({ alpha: false });
  }
}
