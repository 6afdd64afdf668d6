import sharp, { type Sharp } from 'sharp';
import { ServiceError } from '../../errors.ts';
import { bounded, timedOut, type PipelineState } from '../context.ts';
import { probe } from './probe.ts';

/**
 * An image a parameter pulls in (blend, mask), loaded as watermarks are: from the service's own
 * sources through the same loader (and so the same access decision), with the same refusals as a
 * source (pixel limit, oversized SVG, unknown formats). A missing image is a 400 naming the parameter.
 */
export async function loadLayer(st: PipelineState, param: string, path: string): Promise<Sharp> {
  const buf = st.loadMark ? await st.loadMark(path) : undefined;
  if (!buf) throw new ServiceError(400, 'invalid_parameter', `${param}: no image found at '${path.length > 80 ? `${path.slice(0, 80)}…` : path}'`);
  await probe(buf, st.config, false);
  return sharp(buf, { limitInputPixels: st.config.maxPixels, failOn: st.config.failOn, autoOrient: true });
}

/** Run a layer's pipeline to RGBA pixels under the request's time; a layer libvips cannot read is a 422. */
export async function layerPixels(st: PipelineState, img: Sharp, what: string): Promise<{ data: Buffer; width: number; height: number }> {
  try {
    const { data, info } = await bounded(st, img.ensureAlpha().raw({ depth: 'uchar' })).toBuffer({ resolveWithObject: true });
    return { data, width: info.width, height: info.height };
  } catch (err) {
    if (err instanceof ServiceError || timedOut(st)) throw err;
    throw new ServiceError(422, 'corrupt_image', `Unprocessable: the ${what} image could not be read`, { cause: err });
  }
}
