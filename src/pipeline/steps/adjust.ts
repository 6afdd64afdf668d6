import { STAGE, use, type PipelineState } from '../context.ts';

/**
 * Tone and detail: bri/con/exp as one linear a·x+b, gam as a libvips gamma, sat/hue/vib as one
 * modulate, sharp/usm as sharpen, blur as a gaussian blur. Values follow imgix's −100…100 scales;
 * the exact curves differ from imgix's (documented as approximate).
 */
export async function adjust(st: PipelineState): Promise<void> {
  const o = st.opts;
  if (o.gam) {
    // gamma() runs around the resize in sharp's order and disables shrink-on-load: own segment.
    await use(st, STAGE.gamma, 'gamma');
    const g = 1 + (Math.abs(o.gam) / 100) * 2;
    if (o.gam > 0) st.img.gamma(1, g);
    else st.img.gamma(g, 1);
  }
  if (o.blur) {
    await use(st, STAGE.blur, 'blur');
    st.img.blur(Math.max(0.3, o.blur / 10));
  }
  if (o.usm && o.usm < 0) {
    await use(st, STAGE.blur, 'blur');
    st.img.blur(Math.max(0.3, ((o.usmrad ?? 2.5) * -o.usm) / 100));
  }
  if (o.sat || o.hue || o.vib) {
    await use(st, STAGE.modulate, 'modulate');
    const saturation = Math.max(0, (1 + (o.sat ?? 0) / 100) * (1 + (o.vib ?? 0) / 200));
    st.img.modulate({ saturation, hue: o.hue ?? 0 });
  }
  if (o.sharp || (o.usm && o.usm > 0)) {
    await use(st, STAGE.sharpen, 'sharpen');
    if (o.usm && o.usm > 0) st.img.sharpen({ sigma: Math.min(10, Math.max(0.3, (o.usmrad ?? 2.5) / 2)), m1: 0, m2: (o.usm / 100) * 10 });
    else st.img.sharpen({ sigma: 0.5 + (o.sharp! / 100) * 2, m1: 0.5, m2: (o.sharp! / 100) * 10 });
  }
  if (o.bri || o.con || o.exp) {
    await use(st, STAGE.linear, 'linear');
    const e = Math.pow(2, (o.exp ?? 0) / 50);
    const f = 1 + (o.con ?? 0) / 100;
    const a = e * f;
    const b = 128 * (1 - f) + (255 * (o.bri ?? 0)) / 100;
    st.img.linear(a, b);
  }
}
