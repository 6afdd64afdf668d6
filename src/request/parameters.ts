/**
 * The imgix rendering parameters imagegate accepts, as plain data. The query parser is driven by
 * this table, and the OpenAPI document and the typed client are generated from it, so it holds
 * only JSON-compatible values. Names, aliases and ranges follow imgix's machine-readable spec
 * (npm `imgix-url-params`, `dist/parameters.json`); a test checks that they agree.
 *
 * Bad values are handled as imgix handles them: a value that cannot be read is ignored (the
 * parameter counts as absent), a number outside a strict range is clamped into it, unknown members
 * of a list are dropped, and a repeated parameter takes its last value. With `transform.strict`
 * every one of those is a 400 naming the parameter instead. Every parameter but `auto` and `ch`
 * also takes its value base64url-encoded as `<name>64` (imgix's base64 variants); bad base64 there
 * is a 400 either way, as with imgix.
 *
 * Range rules:
 * - `range: 'strict'` — imgix's strict range: a value outside [min, max] is clamped into it (a 400
 *   with `transform.strict`; a value at an exclusive minimum is ignored).
 * - `range: 'clamp'`  — imgix only suggests a range; values outside it are clamped into it.
 * - `wrap`            — angles are taken modulo `wrap` (rot, hue).
 * - `size` values (w, h, mark-w, mark-h) are integers from `min` up, or a fraction in (0, 1] of the
 *   source; finite integers above `max` are clamped to `max` as imgix does.
 */
import type { TransformOptions } from './params.ts';

type ParameterType =
  | 'size' // integer ≥ min (clamped at max) or fraction 0 < x ≤ 1
  | 'sizes' // comma-separated list of `length` sizes
  | 'integer'
  | 'number'
  | 'boolean' // true/false/1/0
  | 'enum' // one of `values`
  | 'list' // comma-separated subset of `values`
  | 'color' // RGB, ARGB, RRGGBB, AARRGGBB hex (optional #) or a colour keyword
  | 'colors' // comma-separated list of `length` colours
  | 'string' // free text up to `maxLength` characters
  | 'path' // a source path up to `maxLength` characters
  | 'color-or-path' // a colour (hex or keyword) or else a source path
  | 'keyword-or-path' // one of `values` or else a source path
  | 'ratio' // "W:H" or a positive number
  | 'rect' // x,y,w,h: integers, fractions or keywords
  | 'border' // width,colour
  | 'radius' // one integer or four (top-left, top-right, bottom-right, bottom-left)
  | 'timestamp' // unix seconds
  | 'interval' // N, or a range of integers N-M (either end optional)
  | 'signature'; // imgix signature (checked by the signature module, ignored by the parser)

export interface ParameterSpec {
  /** Canonical imgix name; TransformOptions uses it as the key. */
  name: string;
  /** Other accepted spellings (from imgix's spec). */
  aliases: readonly string[];
  type: ParameterType;
  /** imgix category, for documentation. */
  category: 'size' | 'crop' | 'blending' | 'mask' | 'palette' | 'format' | 'animation' | 'rotation' | 'adjustment' | 'stylize' | 'background' | 'border-and-padding' | 'trim' | 'watermark' | 'text' | 'security';
  min?: number;
  /** True when `min` itself is not allowed (dpr > 0). */
  exclusiveMin?: boolean;
  max?: number;
  range?: 'strict' | 'clamp';
  wrap?: number;
  /** Allowed keywords for enum/list types (as strings, also for numeric enums like chromasub). */
  values?: readonly string[];
  /** Number of items for `colors`. */
  length?: number;
  maxLength?: number;
  /**
   * A value clients usually send base64url-encoded (text, paths): the client encodes it and the
   * OpenAPI document lists `<name>64`. Every parameter but those in NOT_BASE64 accepts `<name>64`.
   */
  base64?: boolean;
  /** Value used when absent (documentation; the parser removes values equal to it). */
  default?: string | number | boolean;
  /**
   * The value used when absent depends on other parameters or the configuration (`q`: auto=compress
   * and transform.defaultQuality); `default` is imgix's nominal one, and a value given in the URL is
   * always kept, even when equal to it.
   */
  contextualDefault?: boolean;
  /** Short description for generated documentation. */
  description: string;
  /** Set when imagegate renders the parameter differently from imgix; says how. */
  approximation?: string;
}

/** The default that documentation states: none where it depends on context (the description says what applies). */
export function documentedDefault(p: ParameterSpec): ParameterSpec['default'] {
  return p.contextualDefault ? undefined : p.default;
}

const SIZE_MAX = 8192;

/**
 * The table with its literal types (`as const`), so that `TransformOptions` can be checked
 * against its rows (below).
 */
const TABLE = [
  // size
  { name: 'w', aliases: ['width'], type: 'size', category: 'size', min: 2, max: SIZE_MAX, description: 'Output width in pixels, or a fraction (0–1] of the source width. Values above 8192 are clamped.' },
  { name: 'h', aliases: ['height'], type: 'size', category: 'size', min: 2, max: SIZE_MAX, description: 'Output height in pixels, or a fraction (0–1] of the source height. Values above 8192 are clamped.' },
  {
    name: 'fit', aliases: ['f'], type: 'enum', category: 'size', default: 'clip',
    values: ['clamp', 'clip', 'crop', 'facearea', 'fill', 'fillmax', 'max', 'min', 'scale'],
    description: 'How the source maps onto w×h: clip (fit inside), max (clip without upscaling), min (crop without upscaling), crop, fill (pad), fillmax (pad without upscaling), scale (distort), clamp (extend edge pixels), facearea. A comma list gives fallbacks: facearea,fill fills when no face is found.',
    approximation: 'facearea is a saliency (attention) crop: there is no face detector, so with a fallback (facearea,fill) the fallback applies, as imgix does for an image without faces.',
  },
  { name: 'ar', aliases: [], type: 'ratio', category: 'size', min: 0, exclusiveMin: true, range: 'strict', description: 'Aspect ratio W:H for fit=crop, facearea, fill and fillmax when only one of w/h (or neither) is given; min/max bounds keep it.' },
  { name: 'min-w', aliases: ['min-width'], type: 'integer', category: 'size', min: 1, max: SIZE_MAX, range: 'strict', description: 'Minimum output width for fit=crop (also with one side or none given; dpr scales it).' },
  { name: 'max-w', aliases: ['max-width'], type: 'integer', category: 'size', min: 1, max: SIZE_MAX, range: 'strict', description: 'Maximum output width for fit=crop (also with one side or none given; dpr scales it).' },
  { name: 'min-h', aliases: ['min-height'], type: 'integer', category: 'size', min: 1, max: SIZE_MAX, range: 'strict', description: 'Minimum output height for fit=crop (also with one side or none given; dpr scales it).' },
  { name: 'max-h', aliases: ['max-height'], type: 'integer', category: 'size', min: 1, max: SIZE_MAX, range: 'strict', description: 'Maximum output height for fit=crop (also with one side or none given; dpr scales it).' },
  { name: 'dpr', aliases: [], type: 'number', category: 'size', min: 0, exclusiveMin: true, max: 5, range: 'strict', default: 1, description: 'Device pixel ratio: multiplies w and h.' },
  { name: 'rect', aliases: [], type: 'rect', category: 'size', description: 'Source region x,y,w,h (pixels, fractions, or left/center/right and top/middle/bottom for x and y) cut before resizing.' },
  // crop
  {
    name: 'crop', aliases: [], type: 'list', category: 'crop',
    values: ['top', 'bottom', 'left', 'right', 'faces', 'entropy', 'edges', 'focalpoint'],
    description: 'Crop anchor for fit=crop: top/bottom/left/right (combinable), focalpoint, entropy, edges or faces; centre by default.',
    approximation: 'faces and edges use libvips attention (saliency); entropy uses libvips entropy.',
  },
  { name: 'fp-x', aliases: [], type: 'number', category: 'crop', min: 0, max: 1, range: 'strict', default: 0.5, description: 'Focal point x (fraction of the width) for crop=focalpoint.' },
  { name: 'fp-y', aliases: [], type: 'number', category: 'crop', min: 0, max: 1, range: 'strict', default: 0.5, description: 'Focal point y (fraction of the height) for crop=focalpoint.' },
  { name: 'fp-debug', aliases: [], type: 'boolean', category: 'crop', default: false, description: 'With crop=focalpoint: a crosshair and circle mark where the focal point lands.' },
  { name: 'fp-z', aliases: [], type: 'number', category: 'crop', min: 1, max: 100, range: 'strict', default: 1, description: 'Zoom around the focal point for crop=focalpoint.' },
  // format
  {
    name: 'fm', aliases: [], type: 'enum', category: 'format',
    values: ['avif', 'blurhash', 'gif', 'jp2', 'jpg', 'json', 'jxr', 'mp4', 'pjpg', 'png', 'png8', 'png32', 'spritesheet', 'webm', 'webp'],
    description: 'Output format. json returns the source metadata in imgix field names, with its TIFF, Exif, JFIF and Output blocks and the ICC profile\'s name; blurhash returns a BlurHash string.',
    approximation: 'jp2 and jxr are encoded as PNG; mp4, webm and spritesheet keep the source\'s format (an animated GIF stays an animated GIF); the response header X-Imagegate-Format-Substituted names the substitution, e.g. jp2->png.',
  },
  { name: 'q', aliases: [], type: 'integer', category: 'format', min: 0, max: 100, range: 'clamp', default: 75, contextualDefault: true, description: 'Output quality for lossy formats (default: transform.defaultQuality, 75; with auto=compress transform.compressQuality, 45).' },
  { name: 'lossless', aliases: [], type: 'boolean', category: 'format', default: false, description: 'Lossless WebP/AVIF output.' },
  {
    name: 'auto', aliases: [], type: 'list', category: 'format', values: ['compress', 'enhance', 'format', 'redeye', 'true'],
    description: 'format: pick AVIF or WebP from Accept (AVIF only up to transform.autoAvifMaxPixels output pixels, and never for an animation); compress: quality 45 when q is absent. enhance, redeye and true are accepted and ignored; unknown members are ignored.',
    approximation: 'enhance and redeye are accepted and have no effect; large outputs get WebP instead of AVIF.',
  },
  {
    name: 'cs', aliases: [], type: 'enum', category: 'format', values: ['origin', 'srgb', 'strip', 'tinysrgb', 'adobergb1998'],
    description: 'Colour space: srgb (default: convert to sRGB), strip (sRGB, no profile), origin (keep the source profile).',
    approximation: 'tinysrgb and adobergb1998 produce sRGB.',
  },
  { name: 'chromasub', aliases: [], type: 'enum', category: 'format', values: ['420', '422', '444'], default: '420', description: 'Chroma subsampling for JPEG and AVIF.', approximation: '422 encodes as 420 (libjpeg via sharp offers 444 and 420).' },
  { name: 'dl', aliases: [], type: 'string', category: 'format', maxLength: 255, description: 'Download: Content-Disposition attachment with this filename; empty (dl=) uses the last segment of the image path.' },
  { name: 'ch', aliases: [], type: 'list', category: 'format', values: ['width', 'dpr', 'save-data'], description: 'Client hints honoured: Width (Sec-CH-Width) sets w in device pixels, DPR (Sec-CH-DPR) sets dpr, Save-Data: on lowers the quality (transform.compressQuality) unless q is given. The response sends Accept-CH and Vary for them.' },
  { name: 'dpi', aliases: [], type: 'integer', category: 'format', min: 0, max: 10000, range: 'clamp', description: 'Pixel density written into the output file (JFIF/EXIF/PNG pHYs), in dots per inch; 0 leaves it out.' },
  { name: 'colorquant', aliases: [], type: 'integer', category: 'format', min: 2, max: 256, range: 'clamp', description: 'Limit the output to this many colours (libimagequant; a palette for PNG and GIF).' },
  { name: 'iptc', aliases: [], type: 'enum', category: 'format', values: ['allow', 'block'], description: 'allow: a JPEG output keeps the source\'s IPTC data (captions, credits); block (the default): all metadata is removed.' },
  { name: 'jpg-progressive', aliases: ['jpeg-progressive'], type: 'boolean', category: 'format', default: true, description: 'Progressive JPEG output (false: baseline). fm=pjpg is always progressive.' },
  { name: 'rasterize-bypass', aliases: [], type: 'boolean', category: 'format', default: false, description: 'On an SVG source: answer the SVG itself (sanitised, see svg-sanitize) instead of rendering it; other parameters do not apply.' },
  { name: 'svg-sanitize', aliases: [], type: 'boolean', category: 'format', default: true, description: 'With rasterize-bypass: remove scripts, foreignObject, event handlers and javascript: links from the SVG (false: the file as stored).' },
  // colour palette
  { name: 'palette', aliases: [], type: 'enum', category: 'palette', values: ['css', 'json'], description: 'Answer the colours of the rendered image instead of the image: json (colours as fractions and hex, average luminance) or css (.<prefix>-fg-N and .<prefix>-bg-N rules).', approximation: 'no dominant_colors block; colours by median cut of a 64-pixel copy, largest share first.' },
  { name: 'colors', aliases: [], type: 'integer', category: 'palette', min: 0, max: 16, range: 'clamp', default: 6, description: 'How many colours palette lists.' },
  { name: 'prefix', aliases: [], type: 'string', category: 'palette', maxLength: 100, default: 'image', description: 'Class name prefix of palette=css (letters, digits, - and _).' },
  // animation
  { name: 'frame', aliases: [], type: 'interval', category: 'animation', min: 1, description: 'Frames of an animated source: N keeps frame N (1 is the first) as a still image; N-M keeps frames N to M. Beyond the last frame, the last one.' },
  { name: 'interval', aliases: [], type: 'integer', category: 'animation', min: 1, max: 10000, range: 'strict', description: 'Keep every Nth frame of an animation, from the first.' },
  { name: 'skip', aliases: [], type: 'integer', category: 'animation', min: 1, max: 10000, range: 'strict', description: 'Drop every Nth frame of an animation.' },
  { name: 'reverse', aliases: [], type: 'boolean', category: 'animation', default: false, description: 'Play an animation backwards.' },
  { name: 'fps', aliases: [], type: 'integer', category: 'animation', min: 1, max: 100, range: 'clamp', description: 'Frames per second of an animated output (every frame the same delay).' },
  { name: 'loop', aliases: [], type: 'integer', category: 'animation', min: 0, max: 65535, range: 'clamp', default: 0, description: 'How many times an animation plays (0: for ever).' },
  // rotation
  { name: 'orient', aliases: ['or'], type: 'enum', category: 'rotation', values: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '90', '180', '270'], description: 'Orientation: an EXIF value 1–8 (applied instead of the source\'s) or a rotation of 90/180/270 degrees counter-clockwise.', approximation: '90/270-degree orientations of animated sources are refused with 422 unsupported_transformation.' },
  { name: 'rot', aliases: [], type: 'number', category: 'rotation', wrap: 360, default: 0, description: 'Rotate by any angle in degrees (taken modulo 360); uncovered corners get bg.', approximation: 'animated sources are refused with 422 unsupported_transformation.' },
  { name: 'rot-type', aliases: ['rottype', 'rott'], type: 'enum', category: 'rotation', values: ['pivot', 'straighten'], default: 'straighten', description: 'How rot turns the image: straighten zooms in so the frame stays covered; pivot shows the whole image on a canvas grown to hold it, corners in bg.' },
  { name: 'flip', aliases: [], type: 'enum', category: 'rotation', values: ['h', 'v', 'hv'], description: 'Mirror horizontally (h), vertically (v) or both (hv).' },
  // adjustment
  { name: 'bri', aliases: [], type: 'integer', category: 'adjustment', min: -100, max: 100, range: 'clamp', default: 0, description: 'Brightness.', approximation: 'same direction and range as imgix; the exact curve differs.' },
  { name: 'con', aliases: [], type: 'integer', category: 'adjustment', min: -100, max: 100, range: 'clamp', default: 0, description: 'Contrast.', approximation: 'same direction and range as imgix; the exact curve differs.' },
  { name: 'exp', aliases: [], type: 'integer', category: 'adjustment', min: -100, max: 100, range: 'clamp', default: 0, description: 'Exposure (in hundredths of a stop, approximately).', approximation: 'same direction and range as imgix; the exact curve differs.' },
  { name: 'gam', aliases: [], type: 'integer', category: 'adjustment', min: -100, max: 100, range: 'clamp', default: 0, description: 'Gamma: positive brightens mid-tones.', approximation: 'same direction and range as imgix; the exact curve differs.' },
  { name: 'high', aliases: [], type: 'integer', category: 'adjustment', min: -100, max: 100, range: 'clamp', default: 0, description: 'Highlights: negative values pull bright tones down (0 to -100).', approximation: 'a smooth tone curve; positive values brighten the highlights.' },
  { name: 'shad', aliases: [], type: 'number', category: 'adjustment', min: -100, max: 100, range: 'clamp', default: 0, description: 'Shadows: positive values lift dark tones (0 to 100).', approximation: 'a smooth tone curve; negative values deepen the shadows.' },
  { name: 'upscale', aliases: [], type: 'boolean', category: 'adjustment', default: false, description: 'Enlarge with extra detail: an image rendered larger than its source is sharpened after resizing.', approximation: 'no super-resolution model: lanczos3 followed by an unsharp mask, within imgix\'s limits (enlarged stills from sources up to 4096×4096).' },
  { name: 'upscale-fallback', aliases: [], type: 'boolean', category: 'adjustment', default: true, description: 'Where upscale cannot apply (the image is not enlarged, is animated, or its source is over 4096×4096): true renders without it; false answers 422 unsupported_transformation, as imgix answers an error.' },
  { name: 'nr', aliases: [], type: 'integer', category: 'adjustment', min: -100, max: 100, range: 'clamp', default: 20, contextualDefault: true, description: 'Noise reduction: a median filter (3×3 up to 50, 5×5 above); 0 or less, none. Absent, none.' },
  { name: 'nrs', aliases: [], type: 'integer', category: 'adjustment', min: -100, max: 100, range: 'clamp', default: 20, description: 'Sharpening after noise reduction (with nr).' },
  { name: 'sat', aliases: [], type: 'integer', category: 'adjustment', min: -100, max: 100, range: 'clamp', default: 0, description: 'Saturation; -100 is greyscale.' },
  { name: 'hue', aliases: [], type: 'integer', category: 'adjustment', wrap: 360, default: 0, description: 'Hue rotation in degrees.' },
  { name: 'vib', aliases: [], type: 'integer', category: 'adjustment', min: -100, max: 100, range: 'clamp', default: 0, description: 'Vibrance.', approximation: 'a gentler saturation change.' },
  { name: 'sharp', aliases: [], type: 'number', category: 'adjustment', min: 0, max: 100, range: 'clamp', default: 0, description: 'Sharpen.', approximation: 'same direction and range as imgix; the exact curve differs.' },
  { name: 'usm', aliases: [], type: 'integer', category: 'adjustment', min: -100, max: 100, range: 'clamp', default: 0, description: 'Unsharp mask amount (negative values soften).', approximation: 'same direction and range as imgix; the exact curve differs.' },
  { name: 'usmrad', aliases: [], type: 'number', category: 'adjustment', min: 0, max: 500, range: 'clamp', default: 2.5, description: 'Unsharp mask radius.' },
  // stylize
  { name: 'blur', aliases: [], type: 'integer', category: 'stylize', min: 0, max: 2000, range: 'clamp', default: 0, description: 'Gaussian blur (sigma ≈ value / 10 on the output).', approximation: 'same direction and range as imgix; the exact curve differs.' },
  { name: 'htn', aliases: [], type: 'integer', category: 'stylize', min: 0, max: 100, range: 'clamp', default: 0, description: 'Halftone: a dot screen per colour channel; higher values give larger cells and a stronger effect.' },
  { name: 'px', aliases: [], type: 'integer', category: 'stylize', min: 0, max: 100, range: 'clamp', default: 0, description: 'Pixelate: block size in output pixels.' },
  { name: 'monochrome', aliases: ['mono'], type: 'color', category: 'stylize', description: 'Monochrome tint in the given colour.' },
  { name: 'sepia', aliases: [], type: 'integer', category: 'stylize', min: 0, max: 100, range: 'clamp', default: 0, description: 'Sepia strength.', approximation: 'same direction and range as imgix; the exact curve differs.' },
  { name: 'invert', aliases: ['inv'], type: 'boolean', category: 'stylize', default: false, description: 'Invert the colours.' },
  { name: 'duotone', aliases: [], type: 'colors', length: 2, category: 'stylize', description: 'Duotone: shadows colour, highlights colour.' },
  { name: 'duotone-alpha', aliases: [], type: 'integer', category: 'stylize', min: 0, max: 100, range: 'strict', default: 100, description: 'Strength of the duotone effect.' },
  // background, border and padding
  { name: 'bg', aliases: [], type: 'color', category: 'background', description: 'Background colour for transparent areas, padding and fills.', approximation: 'a translucent bg (alpha < 1) colours padding and fills but leaves the source\'s own transparency as it is.' },
  { name: 'fill', aliases: [], type: 'enum', category: 'background', values: ['solid', 'blur', 'gradient'], description: 'How fit=fill/fillmax/… fill the remaining space: a solid colour (fill-color), a blurred copy of the image, or a gradient (fill-gradient-*).' },
  { name: 'fill-gradient-type', aliases: [], type: 'enum', category: 'background', values: ['linear', 'radial'], default: 'linear', description: 'fill=gradient: a linear gradient (fill-gradient-linear) or a radial one (fill-gradient-radial).' },
  { name: 'fill-gradient-linear', aliases: [], type: 'colors', length: 2, category: 'background', description: 'fill=gradient: the start and end colours of the linear gradient.' },
  { name: 'fill-gradient-linear-direction', aliases: [], type: 'list', category: 'background', values: ['top', 'bottom', 'left', 'right'], default: 'top,bottom', description: 'The side(s) the linear gradient runs towards, e.g. right, or bottom,right for a diagonal; top,bottom (the default) runs from top to bottom.' },
  { name: 'fill-gradient-radial', aliases: [], type: 'colors', length: 2, category: 'background', description: 'fill=gradient: the inner and outer colours of the radial gradient.' },
  { name: 'fill-gradient-radial-radius', aliases: [], type: 'sizes', length: 2, category: 'background', min: 2, max: SIZE_MAX, description: 'Inner and outer radius of the radial gradient: pixels, or fractions of the larger side (default 0.25,0.5).' },
  { name: 'fill-gradient-radial-x', aliases: [], type: 'size', category: 'background', min: 2, max: SIZE_MAX, default: 0.5, description: 'Centre of the radial gradient: pixels from the left, or a fraction of the width.' },
  { name: 'fill-gradient-radial-y', aliases: [], type: 'size', category: 'background', min: 2, max: SIZE_MAX, default: 0.5, description: 'Centre of the radial gradient: pixels from the top, or a fraction of the height.' },
  { name: 'fill-gradient-cs', aliases: [], type: 'enum', category: 'background', values: ['linear', 'srgb', 'oklab', 'hsl', 'lch'], default: 'srgb', description: 'Colour space the gradient interpolates in.', approximation: 'lch interpolates in OKLCh.' },
  { name: 'fill-color', aliases: ['fillcolor'], type: 'color', category: 'background', description: 'Colour of the fill for fit=fill and fit=fillmax (defaults to bg, else white or transparent).' },
  { name: 'transparency', aliases: [], type: 'enum', category: 'background', values: ['grid'], description: 'grid: transparent areas show a checkerboard (grid-colors, grid-size).' },
  { name: 'grid-colors', aliases: [], type: 'colors', length: 2, category: 'background', description: 'The two colours of transparency=grid (default D0D7DD,FFFFFF).' },
  { name: 'grid-size', aliases: [], type: 'integer', category: 'background', min: 0, range: 'strict', default: 4, description: 'Size of a transparency=grid square in pixels.' },
  { name: 'pad', aliases: [], type: 'integer', category: 'border-and-padding', min: 0, max: SIZE_MAX, range: 'clamp', default: 0, description: 'Padding on every side, in bg colour.' },
  { name: 'pad-top', aliases: [], type: 'integer', category: 'border-and-padding', min: 0, max: SIZE_MAX, range: 'clamp', description: 'Top padding (overrides pad).' },
  { name: 'pad-bottom', aliases: [], type: 'integer', category: 'border-and-padding', min: 0, max: SIZE_MAX, range: 'clamp', description: 'Bottom padding (overrides pad).' },
  { name: 'pad-left', aliases: [], type: 'integer', category: 'border-and-padding', min: 0, max: SIZE_MAX, range: 'clamp', description: 'Left padding (overrides pad).' },
  { name: 'pad-right', aliases: [], type: 'integer', category: 'border-and-padding', min: 0, max: SIZE_MAX, range: 'clamp', description: 'Right padding (overrides pad).' },
  { name: 'border', aliases: [], type: 'border', category: 'border-and-padding', min: 1, max: 100, description: 'Border: width (1–100, clamped) and colour, e.g. 10,FF0000.', approximation: 'drawn outside the image; with w/h it fits inside the requested size, like pad.' },
  { name: 'border-top', aliases: [], type: 'integer', category: 'border-and-padding', min: 0, max: 100, range: 'clamp', description: 'Width of the top border (with border, which gives the colour and the other sides).' },
  { name: 'border-bottom', aliases: [], type: 'integer', category: 'border-and-padding', min: 0, max: 100, range: 'clamp', description: 'Width of the bottom border (with border).' },
  { name: 'border-left', aliases: [], type: 'integer', category: 'border-and-padding', min: 0, max: 100, range: 'clamp', description: 'Width of the left border (with border).' },
  { name: 'border-right', aliases: [], type: 'integer', category: 'border-and-padding', min: 0, max: 100, range: 'clamp', description: 'Width of the right border (with border).' },
  { name: 'border-stroke-size', aliases: [], type: 'integer', category: 'border-and-padding', min: 0, max: 100, range: 'clamp', default: 0, description: 'A stroke of this width around the border (with border), in border-stroke-color.' },
  { name: 'border-stroke-color', aliases: [], type: 'color', category: 'border-and-padding', description: 'Colour of the border stroke (default transparent white, 0FFF).' },
  { name: 'border-radius-inner', aliases: [], type: 'radius', category: 'border-and-padding', min: 0, max: SIZE_MAX, description: 'Rounded inner corners of the border: one radius or four (top-left, top-right, bottom-right, bottom-left); the border colour fills the corners (with border).' },
  { name: 'border-radius', aliases: [], type: 'radius', category: 'border-and-padding', min: 0, max: SIZE_MAX, description: 'Rounded corners: one radius or four (top-left, top-right, bottom-right, bottom-left). Corners become transparent (bg-coloured in formats without alpha).' },
  // trim
  { name: 'trim', aliases: [], type: 'enum', category: 'trim', values: ['auto', 'color', 'alpha', 'colorunlessalpha'], description: 'Trim uniform borders: auto (colour of the top-left pixel), color (trim-color), alpha (transparent borders), colorunlessalpha (alpha for an image with transparency, else color).', approximation: "trim-tol and trim-md are libvips' find_trim threshold (default 10); trim on animations is a 422." },
  { name: 'trim-color', aliases: ['trimcolor'], type: 'color', category: 'trim', description: 'Colour trimmed by trim=color.' },
  { name: 'trim-md', aliases: ['trimmd'], type: 'number', category: 'trim', min: 0, max: 255, range: 'clamp', default: 11, description: 'Mean-difference threshold for trim=auto (when trim-tol is absent).', approximation: 'used as the find_trim threshold; absent, 10.' },
  { name: 'trim-sd', aliases: ['trimsd'], type: 'number', category: 'trim', min: 0, max: 255, range: 'clamp', default: 10, description: 'trim=auto trims only when the outermost pixels\' standard deviation is at most this; a noisy border within it is cut.' },
  { name: 'trim-pad', aliases: ['trimpad'], type: 'integer', category: 'trim', min: -200, max: 200, range: 'clamp', default: 0, description: 'Pixels of the trimmed border kept around the result (negative: cut further in).' },
  { name: 'trim-alpha', aliases: [], type: 'number', category: 'trim', min: 0, max: 255, range: 'clamp', description: 'For trim=alpha: pixels with alpha at most this (0–255) count as transparent (default 0).' },
  { name: 'trim-tol', aliases: ['trimtol'], type: 'number', category: 'trim', min: 0, max: 255, range: 'clamp', default: 0, contextualDefault: true, description: 'Colour tolerance for trim (absent: 10).' },
  // watermark
  { name: 'mark', aliases: ['m'], type: 'path', category: 'watermark', maxLength: 1024, base64: true, description: 'Watermark: a path of an image in this service\'s sources (mark64: base64url of the path).', approximation: 'a path in the same source, not a URL; a missing mark is a 400.' },
  { name: 'mark-w', aliases: ['mw', 'markw'], type: 'size', category: 'watermark', min: 2, max: SIZE_MAX, description: 'Watermark width in pixels or as a fraction of the image width.' },
  { name: 'mark-h', aliases: ['mh', 'markh'], type: 'size', category: 'watermark', min: 2, max: SIZE_MAX, description: 'Watermark height in pixels or as a fraction of the image height.' },
  { name: 'mark-scale', aliases: ['ms', 'markscale'], type: 'integer', category: 'watermark', min: 0, max: 100, range: 'clamp', description: 'Watermark width as a percentage of the image width.' },
  { name: 'mark-align', aliases: ['ma', 'markalign'], type: 'list', category: 'watermark', values: ['top', 'middle', 'bottom', 'left', 'center', 'right'], description: 'Watermark position (default bottom,right).' },
  { name: 'mark-alpha', aliases: ['markalpha', 'malph'], type: 'integer', category: 'watermark', min: 0, max: 100, range: 'clamp', default: 100, description: 'Watermark opacity in percent.' },
  { name: 'mark-pad', aliases: ['mp', 'markpad'], type: 'integer', category: 'watermark', min: 0, max: SIZE_MAX, range: 'clamp', default: 5, description: 'Distance of the watermark from the edges, in pixels.' },
  { name: 'mark-x', aliases: ['mx', 'markx'], type: 'integer', category: 'watermark', min: 0, max: SIZE_MAX, range: 'clamp', description: 'Watermark left offset in pixels (overrides the horizontal alignment).' },
  { name: 'mark-y', aliases: ['my', 'marky'], type: 'integer', category: 'watermark', min: 0, max: SIZE_MAX, range: 'strict', description: 'Watermark top offset in pixels (overrides the vertical alignment).' },
  // blending
  { name: 'blend', aliases: ['b'], type: 'color-or-path', category: 'blending', maxLength: 1024, base64: true, description: 'Blend over the image: a colour (hex or keyword: over the whole image) or the path of an image in this service\'s sources (blend64: base64url of it).', approximation: 'a path in the same sources as watermarks, not a URL; a missing image is a 400.' },
  { name: 'blend-color', aliases: ['blendcolor', 'blend-clr', 'blendclr'], type: 'color', category: 'blending', description: 'A colour blended over the whole image (when blend is not a colour).' },
  { name: 'blend-mode', aliases: ['blendmode', 'bm'], type: 'enum', category: 'blending', values: ['color', 'burn', 'dodge', 'darken', 'difference', 'exclusion', 'hardlight', 'hue', 'lighten', 'luminosity', 'multiply', 'overlay', 'saturation', 'screen', 'softlight', 'normal'], default: 'overlay', description: 'How the blend combines with the image (the W3C compositing blend modes).', approximation: 'hue, saturation, color and luminosity are limited to 16 million blended pixels (a 422 above).' },
  { name: 'blend-alpha', aliases: ['blendalpha', 'balph'], type: 'integer', category: 'blending', min: 0, max: 100, range: 'strict', default: 100, description: 'Opacity of the blend in percent.' },
  { name: 'blend-w', aliases: ['blendw', 'bw'], type: 'size', category: 'blending', min: 2, max: SIZE_MAX, description: 'Width of the blend image: pixels or a fraction of the image width.' },
  { name: 'blend-h', aliases: ['blendh', 'bh'], type: 'size', category: 'blending', min: 2, max: SIZE_MAX, description: 'Height of the blend image: pixels or a fraction of the image height.' },
  { name: 'blend-fit', aliases: ['blendfit', 'bf'], type: 'enum', category: 'blending', values: ['clamp', 'clip', 'crop', 'scale', 'max'], default: 'clip', description: 'How the blend image fits blend-w × blend-h: clip (inside), max (inside, never enlarged), crop (cover, blend-crop anchors), scale (distort), clamp (inside, edges extended).' },
  { name: 'blend-crop', aliases: ['blendcrop', 'bc'], type: 'list', category: 'blending', values: ['top', 'bottom', 'left', 'right', 'faces'], description: 'Anchor of blend-fit=crop (centre by default).', approximation: 'faces uses libvips attention (saliency).' },
  { name: 'blend-align', aliases: ['blendalign', 'ba'], type: 'list', category: 'blending', values: ['top', 'bottom', 'middle', 'left', 'right', 'center'], description: 'Position of the blend image (default middle,center).' },
  { name: 'blend-pad', aliases: ['blendpad', 'bp'], type: 'integer', category: 'blending', min: 0, max: SIZE_MAX, range: 'clamp', default: 0, description: 'Distance of the blend image from the edges it is aligned to, in pixels.' },
  { name: 'blend-x', aliases: ['blendx', 'bx'], type: 'integer', category: 'blending', min: 0, max: SIZE_MAX, range: 'clamp', description: 'Left offset of the blend image in pixels (overrides the horizontal alignment).' },
  { name: 'blend-y', aliases: ['blendy', 'by'], type: 'integer', category: 'blending', min: 0, max: SIZE_MAX, range: 'clamp', description: 'Top offset of the blend image in pixels (overrides the vertical alignment).' },
  { name: 'blend-size', aliases: ['blendsize', 'bs'], type: 'enum', category: 'blending', values: ['inherit'], description: 'inherit: the blend image takes the output\'s size, fit and crop.' },
  // mask
  { name: 'mask', aliases: [], type: 'keyword-or-path', category: 'mask', values: ['ellipse', 'corners'], maxLength: 1024, base64: true, description: 'Mask the image: ellipse, corners (rounded by corner-radius), or the path of an image in this service\'s sources whose alpha (or, without alpha, luminance) is the mask. Masked-out areas are transparent, or mask-bg.' },
  { name: 'corner-radius', aliases: [], type: 'radius', category: 'mask', min: 0, max: SIZE_MAX, description: 'Radius of mask=corners: one value or four (top-left, top-right, bottom-right, bottom-left); default 10% of the shorter side.' },
  { name: 'mask-bg', aliases: ['maskbg'], type: 'color', category: 'mask', description: 'Colour of the masked-out area (default transparent, white in formats without alpha).' },
  { name: 'mark-fit', aliases: ['mf', 'markfit'], type: 'enum', category: 'watermark', values: ['clip', 'crop', 'fill', 'max', 'scale'], default: 'clip', description: 'How the mark fits mark-w × mark-h: clip (inside), max (inside, never enlarged), crop (cover), fill (inside, padded transparent), scale (distort).' },
  { name: 'mark-rot', aliases: [], type: 'number', category: 'watermark', wrap: 360, default: 0, description: 'Turn the watermark by this many degrees (counter-clockwise).' },
  { name: 'mark-tile', aliases: ['mtile', 'marktile'], type: 'enum', category: 'watermark', values: ['grid'], description: 'grid: the watermark repeated over the whole image.' },
  { name: 'mark-base', aliases: ['mb', 'markbase'], type: 'path', category: 'watermark', maxLength: 1024, base64: true, description: 'A path prefix for mark (mark-base=/logos/ with mark=acme.png is /logos/acme.png).', approximation: 'a path in this service\'s sources, not a URL.' },
  { name: 'mark-if-min-width', aliases: [], type: 'integer', category: 'watermark', min: 0, max: SIZE_MAX, range: 'strict', description: 'Draw the watermark only on images at least this wide.' },
  { name: 'mark-if-min-height', aliases: [], type: 'integer', category: 'watermark', min: 0, max: SIZE_MAX, range: 'strict', description: 'Draw the watermark only on images at least this tall.' },
  // text
  { name: 'txt', aliases: ['t'], type: 'string', category: 'text', maxLength: 500, base64: true, description: 'Text drawn over the image (txt64: base64url of UTF-8 text).', approximation: 'one text layer rendered with Pango in the shipped Noto fonts.' },
  { name: 'txt-color', aliases: ['txtcolor', 'txt-clr', 'txtclr', 'tc'], type: 'color', category: 'text', description: 'Text colour (default black).' },
  { name: 'txt-size', aliases: ['tsz', 'txtsize'], type: 'integer', category: 'text', min: 0, max: 1000, range: 'clamp', default: 12, description: 'Text size in pixels.' },
  { name: 'txt-align', aliases: ['txtalign', 'ta'], type: 'list', category: 'text', values: ['top', 'middle', 'bottom', 'left', 'center', 'right'], description: 'Text position (default bottom,right).' },
  { name: 'txt-pad', aliases: ['txtpad', 'tp'], type: 'integer', category: 'text', min: 0, max: SIZE_MAX, range: 'clamp', default: 10, description: 'Distance of the text from the edges.' },
  { name: 'txt-font', aliases: ['tf', 'txtfont'], type: 'string', category: 'text', maxLength: 100, description: 'imgix font name, e.g. Helvetica Neue,Bold: mapped to the closest shipped face (Noto Sans, Noto Serif or Noto Sans Mono; bold and italic from the name), with Noto Emoji as fallback.', approximation: 'the faces are Noto (see the font table); CJK falls back to the host\'s fonts.' },
  { name: 'txt-fit', aliases: ['txtfit'], type: 'enum', category: 'text', values: ['max'], description: 'max: text that does not fit its box (txt-width, or the image less txt-pad) is shrunk to fit.', approximation: 'every text is already shrunk to fit when its estimated height exceeds the box (no request draws text larger than the image), so max changes nothing more.' },
  { name: 'txt-clip', aliases: ['txtclip', 'tcl'], type: 'list', category: 'text', values: ['start', 'middle', 'end', 'ellipsis'], default: 'end', description: 'Text on one line, cut where it overflows its box: at the end, start or middle; with ellipsis, whole characters give way to "…".' },
  { name: 'txt-shad', aliases: ['txtshad', 'tsh'], type: 'number', category: 'text', min: 0, max: 10, range: 'clamp', default: 0, description: 'Text shadow: a soft dark copy under the text; larger values are softer and further.' },
  { name: 'txt-line', aliases: ['txtline', 'tl'], type: 'integer', category: 'text', min: 0, max: 100, range: 'clamp', default: 0, description: 'Outline around the text, in pixels (colour txt-line-color).' },
  { name: 'txt-line-color', aliases: ['txtlinecolor', 'txt-line-clr', 'txtlineclr'], type: 'color', category: 'text', description: 'Colour of the txt-line outline (default white).' },
  { name: 'txt-width', aliases: ['txtwidth'], type: 'integer', category: 'text', min: 0, max: SIZE_MAX, range: 'clamp', description: 'Width of the text box in pixels: text wraps (or is clipped) there.' },
  { name: 'txt-x', aliases: ['txtx'], type: 'integer', category: 'text', description: 'Left offset of the text in pixels (overrides the horizontal txt-align).' },
  { name: 'txt-y', aliases: ['txty'], type: 'integer', category: 'text', description: 'Top offset of the text in pixels (overrides the vertical txt-align).' },
  { name: 'txt-lead', aliases: ['txtlead'], type: 'integer', category: 'text', min: 0, max: 1000, range: 'clamp', default: 0, description: 'Line spacing (leading) in pixels.' },
  { name: 'txt-track', aliases: ['txttrack', 'tt'], type: 'integer', category: 'text', min: -20, max: 100, range: 'clamp', default: 0, description: 'Letter spacing (tracking) in pixels.' },
  // security
  { name: 'expires', aliases: [], type: 'timestamp', category: 'security', description: 'Unix time after which the URL, signed or not, is refused (404); no cache keeps the answer longer.' },
  { name: 's', aliases: [], type: 'signature', category: 'security', description: 'Signature: md5 hex of token + path (+ "?" + the rest of the query); must be the last parameter.' },
] as const satisfies readonly ParameterSpec[];

export const PARAMETERS: readonly ParameterSpec[] = TABLE;

/**
 * TransformOptions (params.ts) is written by hand (its value types say more than the table can),
 * so the typecheck ties it to this table: every row but `s` has an option and every option a
 * row; an enum option takes exactly its row's values; a list option accepts every value its row
 * lists. A drift fails `tsc` and names the parameters that drifted.
 */
type ParameterRow = (typeof TABLE)[number];
type OptionName = Exclude<ParameterRow['name'], 's'>;
type RowOf<K> = Extract<ParameterRow, { name: K }>;
type RowValues<K> = RowOf<K> extends { values: readonly (infer V)[] } ? V : never;
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type OptionsMatchTable<T extends { [problem: string]: never }> = T;
type ParameterTableCheck = OptionsMatchTable<{
  rowsWithoutOption: Exclude<OptionName, keyof TransformOptions>;
  optionsWithoutRow: Exclude<keyof TransformOptions, OptionName>;
  enumsThatDiffer: {
    [K in OptionName & keyof TransformOptions]: RowOf<K>['type'] extends 'enum' ? (Same<NonNullable<TransformOptions[K]>, RowValues<K>> extends true ? never : K) : never;
  }[OptionName & keyof TransformOptions];
  listsMissingValues: {
    [K in OptionName & keyof TransformOptions]: RowOf<K>['type'] extends 'list' ? (NonNullable<TransformOptions[K]> extends readonly (infer E)[] ? (RowValues<K> extends E ? never : K) : K) : never;
  }[OptionName & keyof TransformOptions];
}>;

/**
 * imgix accepts a base64url value (`<name>64`) for every parameter but `auto` and `ch`; `s` and
 * `expires` are read from the request target as written (the signature and expiry checks), so
 * they have no `64` form here either.
 */
const NOT_BASE64: ReadonlySet<string> = new Set(['auto', 'ch', 's', 'expires']);

/** Every accepted spelling (name, alias, `name64`, `alias64`) → [spec, isBase64]. */
export const PARAMETER_LOOKUP: ReadonlyMap<string, readonly [ParameterSpec, boolean]> = (() => {
  const m = new Map<string, readonly [ParameterSpec, boolean]>();
  for (const p of PARAMETERS) {
    m.set(p.name, [p, false]);
    for (const a of p.aliases) m.set(a, [p, false]);
    if (!NOT_BASE64.has(p.name)) {
      m.set(`${p.name}64`, [p, true]);
      for (const a of p.aliases) m.set(`${a}64`, [p, true]);
    }
  }
  return m;
})();
