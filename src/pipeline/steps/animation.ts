import sharp from 'sharp';
import type { TransformOptions } from '../../request/params.ts';
import { flush, restart } from '../queue.ts';
import type { PipelineState } from '../context.ts';

/** The frames an animation keeps, in order: every `interval`-th from the first, without every `skip`-th, reversed with `reverse`. */
export function keptFrames(count: number, o: TransformOptions): number[] {
  let idx = Array.from({ length: count }, (_, i) => i);
  if (o.interval && o.interval > 1) idx = idx.filter((i) => i % o.interval! === 0);
  if (o.skip && o.skip > 1) idx = idx.filter((_, k) => (k + 1) % o.skip! !== 0);
  if (o.reverse) idx.reverse();
  return idx.length ? idx : [0];
}

/** Frames of an animated output: interval, skip and reverse pick and order them (fps and loop are set at encoding). */
export async function animation(st: PipelineState): Promise<void> {
  const o = st.opts;
  if (st.pages <= 1 || (!o.interval && !o.skip && !o.reverse)) return;
  const { data, info } = await flush(st);
  const frameBytes = info.width * st.height * info.channels;
  const idx = keptFrames(st.pages, o);
  const out = Buffer.concat(idx.map((i) => data.subarray(i * frameBytes, (i + 1) * frameBytes)));
  st.pages = idx.length;
  const many = idx.length > 1;
  restart(st, sharp(out, { raw: { width: info.width, height: st.height * idx.length, channels: info.channels, ...(many ? { pageHeight: st.height } : {}) }, ...(many ? { pages: -1 } : {}) }));
}

/** Encoder options for an animation: the frame delay from fps (else the source's, once frames were picked), and loop. */
export function animationOptions(st: PipelineState): { delay?: number[]; loop?: number } {
  const o = st.opts;
  if (st.pages <= 1) return {};
  const picked = Boolean(o.interval || o.skip || o.reverse);
  const delay = o.fps ? Math.round(1000 / o.fps) : picked ? (st.meta.delay?.[0] ?? 100) : undefined;
  return { ...(delay !== undefined ? { delay: Array(st.pages).fill(delay) } : {}), ...(o.loop !== undefined ? { loop: o.loop } : {}) };
}
