import { flush, op } from '../queue.ts';
import { backgroundFor, type PipelineState } from '../context.ts';

/**
 * `rot`: imgix rotates counter-clockwise within the existing frame and zooms so that the frame
 * stays covered (unlike `orient`, which turns the frame). The rotated image is cut back to the
 * largest centred box of the frame's aspect ratio and scaled to the frame size (imgix's default
 * rot-type=straighten). rot-type=pivot keeps the whole rotated image on a canvas grown to hold it.
 */
export async function rotate(st: PipelineState): Promise<void> {
  const deg = st.opts.rot;
  if (!deg) return;
  const W = st.width;
  const H = st.height;
  const background = backgroundFor(st);
  await op(st, 'rotate', (img) => img.rotate(-deg, { background }));
  await flush(st);
  // rot-type=pivot: the whole image on the larger canvas, corners in bg.
  if (st.opts['rot-type'] === 'pivot') return;
  const t = (deg * Math.PI) / 180;
  const c = Math.abs(Math.cos(t));
  const s = Math.abs(Math.sin(t));
  const zoom = Math.max((W * c + H * s) / W, (W * s + H * c) / H);
  const cw = Math.min(st.width, Math.max(1, Math.floor(W / zoom)));
  const ch = Math.min(st.height, Math.max(1, Math.floor(H / zoom)));
  const box = { left: Math.floor((st.width - cw) / 2), top: Math.floor((st.height - ch) / 2), width: cw, height: ch };
  await op(st, 'extractPre', (img) => img.extract(box));
  await op(st, 'resize', (img) => img.resize(W, H, { fit: 'fill' }));
  st.width = W;
  st.height = H;
}
