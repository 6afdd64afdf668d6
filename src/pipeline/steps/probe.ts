import type { Metadata } from 'sharp';
import { ServiceError, sourceChanged } from '../../errors.ts';
import type { TransformConfig } from '../../config/transform.ts';
import { detectContentType } from '../../content-type.ts';
import { decoder, isPixels, inputHead, inputSize, type PipelineInput } from '../context.ts';
import type { TransformOptions } from '../../request/params.ts';
import { composeOrientation, orientToExif } from '../orientation.ts';

/** Source formats the pipeline decodes (as sharp names them). */
const READABLE = new Set(['jpeg', 'png', 'webp', 'gif', 'heif', 'avif', 'tiff', 'svg', 'jp2', 'jxl']);
/** The same, as their first bytes name them. */
const READABLE_TYPES = new Set(['image/jpeg', 'image/png', 'image/webp', 'image/gif', 'image/heic', 'image/avif', 'image/tiff', 'image/svg+xml', 'image/jxl']);

/**
 * Read the header only (no pixel decode) and refuse what must not be decoded: unknown formats
 * (415 `unsupported_image`), unreadable headers (422 `corrupt_image`) and sources above the pixel
 * limit (422 `image_too_large`; frames count for animations, up to the frames kept).
 */
export async function probe(input: PipelineInput, config: TransformConfig, animatedOutput: boolean): Promise<{ meta: Metadata; frames: number }> {
  // Compressed input that libvips would inflate before parsing (svgz): a 40 KB file can expand
  // to millions of SVG elements. Refused before any parser sees it; plain SVG is capped by bytes.
  const head = inputHead(input);
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) {
    throw new ServiceError(415, 'unsupported_image', 'Unsupported Media Type: compressed (gzip/svgz) sources are not supported');
  }
  if (inputSize(input) > config.maxSvgBytes && detectContentType(head) === 'image/svg+xml') throw svgTooLarge(config);
  // No bytes at all: a source that could not be read rather than one of another format.
  if (inputSize(input) === 0) throw new ServiceError(422, 'corrupt_image', 'Unprocessable: the source image is empty');
  let meta: Metadata;
  try {
    meta = await decoder(input, { limitInputPixels: false, failOn: config.failOn }).metadata();
  } catch (err) {
    // The first bytes tell which: a format this service reads with a header libvips cannot parse, or no such format.
    if (READABLE_TYPES.has(detectContentType(head) ?? '')) throw new ServiceError(422, 'corrupt_image', 'Unprocessable: the source image could not be read', { cause: err });
    throw new ServiceError(415, 'unsupported_image', 'Unsupported Media Type: the source is not an image format this service reads', { cause: err });
  }
  // A file is handed to libvips only when its first bytes named a raster format: SVG now means it
  // was rewritten since, and SVG is never decoded from a file (see the image handler).
  if (meta.format === 'svg' && !Buffer.isBuffer(input)) {
    throw sourceChanged();
  }
  // Whatever the first bytes looked like: what libvips parsed as SVG is capped too (before it is rasterised).
  if (meta.format === 'svg' && inputSize(input) > config.maxSvgBytes) throw svgTooLarge(config);
  // Pixels come only from this service's own decode (a master in memory), never from a source.
  if (!meta.format || !(READABLE.has(meta.format) || (meta.format === 'raw' && isPixels(input)))) {
    throw new ServiceError(415, 'unsupported_image', `Unsupported Media Type: ${meta.format ?? 'unknown'} sources are not supported`);
  }
  const width = meta.width ?? 0;
  const height = meta.pageHeight ?? meta.height ?? 0;
  if (width <= 0 || height <= 0) throw new ServiceError(422, 'corrupt_image', 'Unprocessable: the source image has no size');
  const pages = meta.pages ?? 1;
  const frames = animatedOutput && pages > 1 ? Math.min(pages, config.maxFrames) : 1;
  if (width * height * frames > config.maxPixels) {
    throw new ServiceError(422, 'image_too_large', `Unprocessable: the source has ${width}×${height}${frames > 1 ? `×${frames} frames` : ''} pixels, more than the limit of ${config.maxPixels}`);
  }
  return { meta, frames };
}

function svgTooLarge(config: TransformConfig): ServiceError {
  return new ServiceError(422, 'image_too_large', `Unprocessable: SVG sources are limited to ${config.maxSvgBytes} bytes`);
}

/**
 * What the parameters cannot do to an animation, known before decoding: libvips turns frames
 * only upside down (rot and orient by anything but 180°), and trim works on one frame.
 */
export function refuseForFrames(opts: TransformOptions, frames: number, hasAlpha: boolean): void {
  if (frames <= 1) return;
  const turned = (opts.rot !== undefined && opts.rot % 180 !== 0) || (opts.orient !== undefined && composeOrientation(orientToExif(opts.orient), opts.flip).swaps);
  if (turned) throw new ServiceError(422, 'unsupported_transformation', 'Unprocessable: rot and orient turn an animation by 180° only');
  // trim=alpha leaves an image without transparency as it is.
  if (opts.trim && !(opts.trim === 'alpha' && !hasAlpha)) throw new ServiceError(422, 'unsupported_transformation', 'Unprocessable: trim cannot be applied to an animation');
}
