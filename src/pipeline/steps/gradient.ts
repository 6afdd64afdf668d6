import sharp from 'sharp';
import type { Color, TransformOptions } from '../../request/params.ts';
import { restart } from '../queue.ts';
import { checkDeadline, type PipelineState, bounded } from '../context.ts';

type Space = NonNullable<TransformOptions['fill-gradient-cs']>;
type Vec = [number, number, number];

const toLinear = (c: number) => ((c /= 255) <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
const fromLinear = (v: number) => 255 * (v <= 0.0031308 ? 12.92 * v : 1.055 * Math.max(0, v) ** (1 / 2.4) - 0.055);

function oklab([r, g, b]: Vec): Vec {
  const l = Math.cbrt(0.4122214708 * r + 0.5363325363 * g + 0.0514459929 * b);
  const m = Math.cbrt(0.2119034982 * r + 0.6806995451 * g + 0.1073969566 * b);
  const s = Math.cbrt(0.0883024619 * r + 0.2817188376 * g + 0.6299787005 * b);
  return [0.2104542553 * l + 0.793617785 * m - 0.0040720468 * s, 1.9779984951 * l - 2.428592205 * m + 0.4505937099 * s, 0.0259040371 * l + 0.7827717662 * m - 0.808675766 * s];
}
function fromOklab([L, a, b]: Vec): Vec {
  const l = (L + 0.3963377774 * a + 0.2158037573 * b) ** 3;
  const m = (L - 0.1055613458 * a - 0.0638541728 * b) ** 3;
  const s = (L - 0.0894841775 * a - 1.291485548 * b) ** 3;
  return [4.0767416621 * l - 3.3077115913 * m + 0.2309699292 * s, -1.2684380046 * l + 2.6097574011 * m - 0.3413193965 * s, -0.0041960863 * l - 0.7034186147 * m + 1.707614701 * s];
}
function hsl([r, g, b]: Vec): Vec {
  const max = Math.max(r, g, b);
  const min = Math.min(r, g, b);
  const l = (max + min) / 2;
  const d = max - min;
  if (d === 0) return [NaN, 0, l];
  const s = d / (1 - Math.abs(2 * l - 1));
  const h = max === r ? ((g - b) / d + 6) % 6 : max === g ? (b - r) / d + 2 : (r - g) / d + 4;
  return [h * 60, s, l];
}
function fromHsl([h, s, l]: Vec): Vec {
  const c = (1 - Math.abs(2 * l - 1)) * s;
  const hp = (((h % 360) + 360) % 360) / 60;
  const x = c * (1 - Math.abs((hp % 2) - 1));
  const [r, g, b]: Vec = hp < 1 ? [c, x, 0] : hp < 2 ? [x, c, 0] : hp < 3 ? [0, c, x] : hp < 4 ? [0, x, c] : hp < 5 ? [x, 0, c] : [c, 0, x];
  const m = l - c / 2;
  return [r + m, g + m, b + m];
}
/** Hue angles take the shorter way round; an undefined hue (grey) takes the other colour's. */
function mixHue(a: number, b: number, t: number): number {
  if (Number.isNaN(a)) return b;
  if (Number.isNaN(b)) return a;
  let d = b - a;
  if (d > 180) d -= 360;
  if (d < -180) d += 360;
  return a + d * t;
}
const lerp = (a: number, b: number, t: number) => a + (b - a) * t;

/** The colour a fraction `t` of the way from `a` to `b`, interpolated in `space`. */
export function mixColor(a: Color, b: Color, t: number, space: Space): Color {
  const A: Vec = [a.r, a.g, a.b];
  const B: Vec = [b.r, b.g, b.b];
  let rgb: Vec;
  if (space === 'srgb') rgb = [0, 1, 2].map((i) => lerp(A[i]!, B[i]!, t)) as Vec;
  else {
    const la = A.map(toLinear) as Vec;
    const lb = B.map(toLinear) as Vec;
    let lin: Vec;
    if (space === 'linear') lin = [0, 1, 2].map((i) => lerp(la[i]!, lb[i]!, t)) as Vec;
    else if (space === 'oklab') {
      const [p, q] = [oklab(la), oklab(lb)];
      lin = fromOklab([0, 1, 2].map((i) => lerp(p[i]!, q[i]!, t)) as Vec);
    } else if (space === 'lch') {
      const [p, q] = [oklab(la), oklab(lb)];
      const [cp, cq] = [Math.hypot(p[1], p[2]), Math.hypot(q[1], q[2])];
      const hp = cp < 1e-4 ? NaN : (Math.atan2(p[2], p[1]) * 180) / Math.PI;
      const hq = cq < 1e-4 ? NaN : (Math.atan2(q[2], q[1]) * 180) / Math.PI;
      const h = ((Number.isNaN(hp) && Number.isNaN(hq) ? 0 : mixHue(hp, hq, t)) * Math.PI) / 180;
      const c = lerp(cp, cq, t);
      lin = fromOklab([lerp(p[0], q[0], t), c * Math.cos(h), c * Math.sin(h)]);
    } else {
      const [p, q] = [hsl(A.map((v) => v / 255) as Vec), hsl(B.map((v) => v / 255) as Vec)];
      const h = Number.isNaN(p[0]) && Number.isNaN(q[0]) ? 0 : mixHue(p[0], q[0], t);
      rgb = fromHsl([h, lerp(p[1], q[1], t), lerp(p[2], q[2], t)]).map((v) => v * 255) as Vec;
      return { r: clamp(rgb[0]), g: clamp(rgb[1]), b: clamp(rgb[2]), alpha: lerp(a.alpha, b.alpha, t) };
    }
    rgb = lin.map(fromLinear) as Vec;
  }
  return { r: clamp(rgb[0]), g: clamp(rgb[1]), b: clamp(rgb[2]), alpha: lerp(a.alpha, b.alpha, t) };
}
const clamp = (v: number) => Math.min(255, Math.max(0, Math.round(v)));

const STOPS = 16;
const WHITE: Color = { r: 255, g: 255, b: 255, alpha: 1 };
const BLACK: Color = { r: 0, g: 0, b: 0, alpha: 1 };

/** An SVG of the gradient fill=gradient asks for, `width`×`height`. */
export function gradientSvg(o: TransformOptions, width: number, height: number): string {
  const space = o['fill-gradient-cs'] ?? 'srgb';
  const radial = o['fill-gradient-type'] === 'radial';
  const [from, to] = (radial ? o['fill-gradient-radial'] : o['fill-gradient-linear']) ?? [WHITE, BLACK];
  const stop = (offset: number, t: number) => {
    const c = mixColor(from, to, t, space);
    return `<stop offset="${offset.toFixed(4)}" stop-color="rgb(${c.r},${c.g},${c.b})" stop-opacity="${c.alpha}"/>`;
  };
  let def: string;
  if (radial) {
    const big = Math.max(width, height);
    const px = (v: number, full: number) => (v <= 1 ? v * full : v);
    const [r0, r1] = (o['fill-gradient-radial-radius'] ?? [0.25, 0.5]).map((v) => px(v, big)) as [number, number];
    const outer = Math.max(1, r0, r1);
    const inner = Math.min(r0, r1) / outer;
    const cx = px(o['fill-gradient-radial-x'] ?? 0.5, width);
    const cy = px(o['fill-gradient-radial-y'] ?? 0.5, height);
    const stops = Array.from({ length: STOPS + 1 }, (_, i) => stop(inner + ((1 - inner) * i) / STOPS, i / STOPS)).join('');
    def = `<radialGradient id="g" gradientUnits="userSpaceOnUse" cx="${cx}" cy="${cy}" r="${outer}">${stops}</radialGradient>`;
  } else {
    const d = o['fill-gradient-linear-direction'] ?? [];
    const dx = d.includes('right') && !d.includes('left') ? 1 : d.includes('left') && !d.includes('right') ? -1 : 0;
    let dy = d.includes('bottom') && !d.includes('top') ? 1 : d.includes('top') && !d.includes('bottom') ? -1 : 0;
    if (dx === 0 && dy === 0) dy = 1;
    const stops = Array.from({ length: STOPS + 1 }, (_, i) => stop(i / STOPS, i / STOPS)).join('');
    def = `<linearGradient id="g" x1="${0.5 - dx / 2}" y1="${0.5 - dy / 2}" x2="${0.5 + dx / 2}" y2="${0.5 + dy / 2}">${stops}</linearGradient>`;
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><defs>${def}</defs><rect width="100%" height="100%" fill="url(#g)"/></svg>`;
}

/** fill=gradient: the free space of fit=fill shows the gradient instead of a colour. */
export async function fillGradient(st: PipelineState, width: number, height: number, left: number, top: number): Promise<void> {
  const { data, info } = await bounded(st, st.img.ensureAlpha().raw({ depth: 'uchar' })).toBuffer({ resolveWithObject: true });
  const raw = { width: info.width, height: info.height, channels: info.channels };
  restart(st, sharp(Buffer.from(gradientSvg(st.opts, width, height)), { limitInputPixels: false }).composite([{ input: data, raw, left, top }]), 'composite');
  st.alpha = true;
  checkDeadline(st);
}
