import sharp from 'sharp';
import { STAGE, use, backgroundFor, type PipelineState } from '../context.ts';
import { computeGeometry } from '../geometry.ts';

/**
 * rect, resize, crop, fill/clamp space and (without `orient`) flip, from the geometry computed
 * once from the header. A plain resize lets libvips shrink on load; `rect` cuts before resizing.
 */
export async function resize(st: PipelineState): Promise<void> {
  const g = computeGeometry(st.width, st.height, st.opts, st.config.maxOutputSize);
  st.geometry = g;
  if (g.rect) {
    await use(st, STAGE.preExtract, 'extractPre');
    st.img.extract(g.rect);
  }
  if (g.resize && (g.resize.width !== (g.rect?.width ?? st.width) || g.resize.height !== (g.rect?.height ?? st.height) || g.crop)) {
    await use(st, STAGE.resize, 'resize');
    if (g.crop && 'strategy' in g.crop) {
      st.img.resize(g.crop.width, g.crop.height, { fit: 'cover', position: sharp.strategy[g.crop.strategy] });
    } else {
      st.img.resize(g.resize.width, g.resize.height, { fit: 'fill' });
    }
  }
  if (st.opts.flip && st.opts.orient === undefined) {
    await use(st, STAGE.flipAfter, 'flip');
    if (st.opts.flip.includes('h')) st.img.flop();
    if (st.opts.flip.includes('v')) st.img.flip();
  }
  if (g.crop && 'box' in g.crop) {
    await use(st, STAGE.postExtract, 'extractPost');
    st.img.extract(g.crop.box);
  }
  if (g.extend) {
    await use(st, STAGE.extend, 'extend');
    const fill = st.opts['fill-color'];
    st.img.extend({ ...g.extend, extendWith: g.extend.mode, background: backgroundFor(st, fill) });
    if (g.extend.mode === 'background' && backgroundFor(st, fill).alpha < 1) st.alpha = true;
  }
  st.width = g.width;
  st.height = g.height;
}
