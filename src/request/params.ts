import { invalidParameter, ServiceError } from '../errors.ts';
import type { TransformConfig } from '../config/transform.ts';
import { COLOR_KEYWORDS } from './colors.ts';
import { PARAMETER_LOOKUP, type ParameterSpec } from './parameters.ts';

/** An RGBA colour: channels 0–255, alpha 0–1. */
export interface Color {
  r: number;
  g: number;
  b: number;
  alpha: number;
}

/** One coordinate of `rect`: pixels, a fraction of the source (0 < f ≤ 1 with a '.'), or a keyword. */
export type RectValue = { px: number } | { frac: number } | { keyword: 'left' | 'center' | 'right' | 'top' | 'middle' | 'bottom' };

type Fit = 'clamp' | 'clip' | 'crop' | 'facearea' | 'fill' | 'fillmax' | 'max' | 'min' | 'scale';
type FormatParam = 'avif' | 'blurhash' | 'gif' | 'jp2' | 'jpg' | 'json' | 'jxr' | 'mp4' | 'pjpg' | 'png' | 'png8' | 'png32' | 'spritesheet' | 'webm' | 'webp';
export type Align = 'top' | 'middle' | 'bottom' | 'left' | 'center' | 'right';

/**
 * Typed, validated rendering options read from the query string, keyed by imgix's canonical
 * parameter names. Absent = default. Sizes (`w`, `h`, `mark-w`, `mark-h`) ≤ 1 are fractions.
 * Lists are sorted and de-duplicated so that the URL's spelling never changes the result.
 */
export interface TransformOptions {
  w?: number;
  h?: number;
  fit?: Fit;
  ar?: number;
  'min-w'?: number;
  'max-w'?: number;
  'min-h'?: number;
  'max-h'?: number;
  dpr?: number;
  rect?: [RectValue, RectValue, RectValue, RectValue];
  crop?: string[];
  'fp-x'?: number;
  'fp-y'?: number;
  'fp-z'?: number;
  'fp-debug'?: boolean;
  fm?: FormatParam;
  q?: number;
  lossless?: boolean;
  auto?: string[];
  cs?: 'origin' | 'srgb' | 'strip' | 'tinysrgb' | 'adobergb1998';
  chromasub?: '420' | '422' | '444';
  /** Empty string: download under the image path's own file name. */
  dl?: string;
  'jpg-progressive'?: boolean;
  'rasterize-bypass'?: boolean;
  'svg-sanitize'?: boolean;
  palette?: 'css' | 'json';
  colors?: number;
  prefix?: string;
  ch?: ('width' | 'dpr' | 'save-data')[];
  dpi?: number;
  iptc?: 'allow' | 'block';
  colorquant?: number;
  /** Frames kept, 1-based and inclusive; `to` undefined = to the last frame. */
  frame?: { from: number; to?: number };
  interval?: number;
  skip?: number;
  reverse?: boolean;
  fps?: number;
  loop?: number;
  orient?: '0' | '1' | '2' | '3' | '4' | '5' | '6' | '7' | '8' | '90' | '180' | '270';
  rot?: number;
  'rot-type'?: 'pivot' | 'straighten';
  flip?: 'h' | 'v' | 'hv';
  bri?: number;
  con?: number;
  exp?: number;
  gam?: number;
  upscale?: boolean;
  'upscale-fallback'?: boolean;
  high?: number;
  shad?: number;
  nr?: number;
  nrs?: number;
  htn?: number;
  sat?: number;
  hue?: number;
  vib?: number;
  sharp?: number;
  usm?: number;
  usmrad?: number;
  blur?: number;
  px?: number;
  monochrome?: Color;
  sepia?: number;
  invert?: boolean;
  duotone?: [Color, Color];
  'duotone-alpha'?: number;
  bg?: Color;
  fill?: 'solid' | 'blur' | 'gradient';
  'fill-gradient-type'?: 'linear' | 'radial';
  'fill-gradient-linear'?: [Color, Color];
  'fill-gradient-linear-direction'?: ('top' | 'bottom' | 'left' | 'right')[];
  'fill-gradient-radial'?: [Color, Color];
  'fill-gradient-radial-radius'?: [number, number];
  'fill-gradient-radial-x'?: number;
  'fill-gradient-radial-y'?: number;
  'fill-gradient-cs'?: 'linear' | 'srgb' | 'oklab' | 'hsl' | 'lch';
  'fill-color'?: Color;
  pad?: number;
  'pad-top'?: number;
  'pad-bottom'?: number;
  'pad-left'?: number;
  'pad-right'?: number;
  border?: { width: number; color: Color };
  'border-radius'?: [number, number, number, number];
  'border-top'?: number;
  'border-bottom'?: number;
  'border-left'?: number;
  'border-right'?: number;
  'border-radius-inner'?: [number, number, number, number];
  'border-stroke-size'?: number;
  'border-stroke-color'?: Color;
  transparency?: 'grid';
  'grid-colors'?: [Color, Color];
  'grid-size'?: number;
  trim?: 'auto' | 'color' | 'alpha' | 'colorunlessalpha';
  'trim-md'?: number;
  'trim-sd'?: number;
  'trim-pad'?: number;
  'trim-alpha'?: number;
  'trim-color'?: Color;
  'trim-tol'?: number;
  mark?: string;
  'mark-w'?: number;
  'mark-h'?: number;
  'mark-scale'?: number;
  'mark-align'?: Align[];
  'mark-alpha'?: number;
  'mark-pad'?: number;
  'mark-x'?: number;
  'mark-y'?: number;
  'mark-fit'?: 'clip' | 'crop' | 'fill' | 'max' | 'scale';
  'mark-rot'?: number;
  'mark-tile'?: 'grid';
  'mark-base'?: string;
  'mark-if-min-width'?: number;
  'mark-if-min-height'?: number;
  txt?: string;
  'txt-color'?: Color;
  'txt-size'?: number;
  'txt-align'?: Align[];
  'txt-pad'?: number;
  'txt-font'?: string;
  'txt-fit'?: 'max';
  'txt-clip'?: ('start' | 'middle' | 'end' | 'ellipsis')[];
  'txt-shad'?: number;
  'txt-line'?: number;
  'txt-line-color'?: Color;
  'txt-width'?: number;
  'txt-x'?: number;
  'txt-y'?: number;
  'txt-lead'?: number;
  'txt-track'?: number;
  blend?: { color: Color } | { path: string };
  'blend-color'?: Color;
  'blend-mode'?: BlendMode;
  'blend-alpha'?: number;
  'blend-w'?: number;
  'blend-h'?: number;
  'blend-align'?: Align[];
  'blend-pad'?: number;
  'blend-x'?: number;
  'blend-y'?: number;
  'blend-crop'?: ('top' | 'bottom' | 'left' | 'right' | 'faces')[];
  'blend-fit'?: 'clamp' | 'clip' | 'crop' | 'scale' | 'max';
  'blend-size'?: 'inherit';
  mask?: { keyword: 'ellipse' | 'corners' } | { path: string };
  'corner-radius'?: [number, number, number, number];
  'mask-bg'?: Color;
  expires?: number;
}

export type BlendMode = 'color' | 'burn' | 'dodge' | 'darken' | 'difference' | 'exclusion' | 'hardlight' | 'hue' | 'lighten' | 'luminosity' | 'multiply' | 'overlay' | 'saturation' | 'screen' | 'softlight' | 'normal';

/** Parameters that never change the rendered image (signature, expiry; client hints act through the parameters they stand for). */
const NON_RENDERING = new Set(['s', 'expires', 'ch']);

const INT_RE = /^[+-]?\d+$/;
const NUM_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)$/;
const HEX_RE = /^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$/;
const B64_RE = /^[A-Za-z0-9_-]*={0,2}$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

function rangeText(spec: ParameterSpec, kind: string): string {
  const { min, max, exclusiveMin } = spec;
  if (min !== undefined && max !== undefined) return exclusiveMin ? `${kind} greater than ${min} and at most ${max}` : `${kind} from ${min} to ${max}`;
  if (min !== undefined) return exclusiveMin ? `${kind} greater than ${min}` : `${kind} of at least ${min}`;
  return kind;
}

/**
 * Every reader below throws invalidParameter for a value it cannot read. `lenient` (imgix's
 * handling, the default) also turns what imgix tolerates into a value: a number outside a strict
 * range is clamped, unknown list members are dropped; parseTransform then ignores what still throws.
 */
function parseNumber(key: string, raw: string, spec: ParameterSpec, integer: boolean, lenient: boolean): number {
  const expected = spec.range === 'strict' ? rangeText(spec, integer ? 'an integer' : 'a number') : integer ? 'an integer' : 'a number';
  if (!NUM_RE.test(raw)) throw invalidParameter(key, raw, expected);
  let n = Number(raw);
  if (!Number.isFinite(n)) throw invalidParameter(key, raw, expected);
  if (integer) n = Math.round(n);
  if (spec.wrap) return ((n % spec.wrap) + spec.wrap) % spec.wrap;
  const { min, max } = spec;
  if (spec.range === 'strict') {
    if (min !== undefined && (spec.exclusiveMin ? n <= min : n < min)) {
      if (!lenient || spec.exclusiveMin) throw invalidParameter(key, raw, expected);
      n = min;
    }
    if (max !== undefined && n > max) {
      if (!lenient) throw invalidParameter(key, raw, expected);
      n = max;
    }
  } else if (spec.range === 'clamp') {
    if (min !== undefined && n < min) n = min;
    if (max !== undefined && n > max) n = max;
  }
  return n;
}

/** Integer pixels (≥ min, clamped at max) or a fraction 0 < f ≤ 1. */
function parseSize(key: string, raw: string, spec: ParameterSpec): number {
  const expected = `an integer from ${spec.min} to ${spec.max} or a fraction greater than 0 and at most 1`;
  if (!NUM_RE.test(raw)) throw invalidParameter(key, raw, expected);
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw invalidParameter(key, raw, expected);
  if (n <= 1) return n;
  const px = Math.round(n);
  if (px < spec.min!) throw invalidParameter(key, raw, expected);
  return Math.min(px, spec.max!);
}

function parseBoolean(key: string, raw: string): boolean {
  const v = raw.toLowerCase();
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw invalidParameter(key, raw, 'true, false, 1 or 0');
}

/** RGB, ARGB, RRGGBB, AARRGGBB (optional leading #) or a colour keyword. */
function parseColor(key: string, raw: string): Color {
  const kw = COLOR_KEYWORDS[raw.toLowerCase()];
  if (kw !== undefined) return { r: (kw >> 16) & 255, g: (kw >> 8) & 255, b: kw & 255, alpha: 1 };
  const m = HEX_RE.exec(raw);
  if (!m) throw invalidParameter(key, raw, 'a colour as RGB, ARGB, RRGGBB or AARRGGBB hex, or a colour keyword');
  let hex = m[1]!;
  if (hex.length <= 4) hex = [...hex].map((c) => c + c).join('');
  const v = [0, 2, 4, 6].slice(0, hex.length / 2).map((i) => parseInt(hex.slice(i, i + 2), 16));
  if (v.length === 4) return { alpha: Math.round((v[0]! / 255) * 1000) / 1000, r: v[1]!, g: v[2]!, b: v[3]! };
  return { r: v[0]!, g: v[1]!, b: v[2]!, alpha: 1 };
}

/** A comma list of keywords, sorted and de-duplicated; lenient: unknown members are dropped (imgix ignores them). */
function parseList(key: string, raw: string, spec: ParameterSpec, lenient: boolean): string[] {
  const expected = `a comma-separated list of ${spec.values!.join(', ')}`;
  const items = raw.split(',').map((s) => s.trim().toLowerCase());
  const known = items.filter((it) => spec.values!.includes(it));
  if (known.length === 0 || (!lenient && known.length !== items.length)) throw invalidParameter(key, raw, expected);
  return [...new Set(known)].sort();
}

/**
 * One keyword, or a comma list of them in order of preference: the first one imagegate knows
 * (lenient) or the first one when all are known (strict). `fit=facearea,<fallback>` gives the
 * fallback: with no face detector, no face is ever found, and imgix then uses the fallback.
 */
function parseEnum(key: string, raw: string, spec: ParameterSpec, lenient: boolean): string {
  const expected = `one of ${spec.values!.join(', ')}`;
  const items = raw.split(',').map((s) => s.trim().toLowerCase());
  const known = items.filter((it) => spec.values!.includes(it));
  if (known.length === 0 || (!lenient && known.length !== items.length)) throw invalidParameter(key, raw, expected);
  if (spec.name === 'fit' && known[0] === 'facearea' && known.length > 1) return known[1]!;
  return known[0]!;
}

function parseRect(key: string, raw: string): TransformOptions['rect'] {
  const expected = 'x,y,w,h as integers (w and h at least 1), fractions from 0 to 1, or left/center/right and top/middle/bottom for x and y';
  const parts = raw.split(',');
  if (parts.length !== 4) throw invalidParameter(key, raw, expected);
  const keywords = [['left', 'center', 'right'], ['top', 'middle', 'bottom'], [], []] as const;
  return parts.map((p, i): RectValue => {
    if ((keywords[i] as readonly string[]).includes(p)) return { keyword: p as 'left' };
    if (INT_RE.test(p)) {
      const n = Number(p);
      if (n < (i >= 2 ? 1 : 0) || !Number.isSafeInteger(n)) throw invalidParameter(key, raw, expected);
      return { px: n };
    }
    if (NUM_RE.test(p)) {
      const n = Number(p);
      if (!(n >= 0 && n <= 1) || (i >= 2 && n === 0)) throw invalidParameter(key, raw, expected);
      return { frac: n };
    }
    throw invalidParameter(key, raw, expected);
  }) as TransformOptions['rect'];
}

function parseRatio(key: string, raw: string): number {
  const expected = 'an aspect ratio W:H with positive numbers, e.g. 16:9';
  const parts = raw.split(':');
  if (parts.length > 2 || !parts.every((p) => NUM_RE.test(p))) throw invalidParameter(key, raw, expected);
  const n = parts.length === 2 ? Number(parts[0]) / Number(parts[1]) : Number(parts[0]);
  if (!Number.isFinite(n) || n <= 0 || n > 1e4 || n < 1e-4) throw invalidParameter(key, raw, expected);
  return n;
}

/** `N`, `N-M`, `N-` or `-M`: positive integers, N ≤ M. */
function parseInterval(key: string, raw: string): { from: number; to?: number } {
  const expected = 'a frame number N (1 is the first) or a range N-M';
  const m = /^(\d*)(-?)(\d*)$/.exec(raw);
  if (!m || (m[1] === '' && m[3] === '') || (m[2] === '' && m[3] !== '')) throw invalidParameter(key, raw, expected);
  const from = m[1] === '' ? 1 : Number(m[1]);
  const to = m[2] === '' ? from : m[3] === '' ? undefined : Number(m[3]);
  if (from < 1 || !Number.isSafeInteger(from) || (to !== undefined && (!Number.isSafeInteger(to) || to < from))) throw invalidParameter(key, raw, expected);
  return to === undefined ? { from } : { from, to };
}

function decodeBase64(key: string, raw: string): string {
  const expected = 'base64url-encoded UTF-8 text (A–Z a–z 0–9 - _, optional = padding)';
  if (!B64_RE.test(raw) || raw.replace(/=+$/, '').length % 4 === 1) throw invalidParameter(key, raw, expected);
  const unpadded = raw.replace(/=+$/, '');
  if (raw.length !== unpadded.length && raw.length % 4 !== 0) throw invalidParameter(key, raw, expected);
  try {
    return utf8.decode(Buffer.from(unpadded, 'base64url'));
  } catch {
    throw invalidParameter(key, raw, expected);
  }
}

function parseValue(key: string, raw: string, spec: ParameterSpec, config: TransformConfig, lenient: boolean): unknown {
  switch (spec.type) {
    case 'size': {
      const v = parseSize(key, raw, spec);
      return v > 1 ? Math.min(v, config.maxOutputSize) : v;
    }
    case 'integer':
      return parseNumber(key, raw, spec, true, lenient);
    case 'number':
      return parseNumber(key, raw, spec, false, lenient);
    case 'boolean':
      return parseBoolean(key, raw);
    case 'enum':
      return parseEnum(key, raw, spec, lenient);
    case 'list':
      return parseList(key, raw, spec, lenient);
    case 'color':
      return parseColor(key, raw);
    case 'sizes': {
      const parts = raw.split(',');
      if (parts.length !== spec.length) throw invalidParameter(key, raw, `${spec.length} comma-separated sizes (pixels from ${spec.min} to ${spec.max} or fractions up to 1)`);
      return parts.map((p) => parseSize(key, p, spec));
    }
    case 'colors': {
      const parts = raw.split(',');
      if (parts.length !== spec.length) throw invalidParameter(key, raw, `${spec.length} comma-separated colours (hex or keywords)`);
      return parts.map((p) => parseColor(key, p));
    }
    case 'color-or-path':
    case 'keyword-or-path': {
      if (spec.type === 'keyword-or-path' && spec.values!.includes(raw.toLowerCase())) return { keyword: raw.toLowerCase() };
      if (spec.type === 'color-or-path') {
        try {
          return { color: parseColor(key, raw) };
        } catch {
          // not a colour: a path
        }
      }
      return { path: parseValue(key, raw, { ...spec, type: 'path' }, config, lenient) as string };
    }
    case 'string':
    case 'path':
      if (raw.length > spec.maxLength!) throw invalidParameter(key, raw, `at most ${spec.maxLength} characters`);
      if (spec.type === 'path' && (raw.includes('\0') || raw.split('/').includes('..'))) throw invalidParameter(key, raw, 'a path without .. segments');
      return raw;
    case 'ratio':
      return parseRatio(key, raw);
    case 'rect':
      return parseRect(key, raw);
    case 'border': {
      const parts = raw.split(',');
      const expected = 'width,colour with a width from 1 to 100, e.g. 10,FF0000';
      if (parts.length !== 2 || !NUM_RE.test(parts[0]!)) throw invalidParameter(key, raw, expected);
      const width = Math.round(Number(parts[0]));
      if (!(width >= 1)) throw invalidParameter(key, raw, expected);
      return { width: Math.min(width, spec.max!), color: parseColor(key, parts[1]!) };
    }
    case 'radius': {
      const parts = raw.split(',');
      const expected = 'one or four non-negative integers';
      if ((parts.length !== 1 && parts.length !== 4) || !parts.every((p) => INT_RE.test(p) && Number(p) >= 0)) throw invalidParameter(key, raw, expected);
      const r = parts.map((p) => Math.min(Number(p), spec.max!));
      return r.length === 1 ? [r[0], r[0], r[0], r[0]] : r;
    }
    case 'interval':
      return parseInterval(key, raw);
    case 'timestamp':
      if (!INT_RE.test(raw)) throw invalidParameter(key, raw, 'a unix time in seconds');
      return Number(raw);
    case 'signature':
      return raw;
  }
}

/** Parameters whose bad value is refused even when bad values are otherwise ignored: an expiry that is ignored would never expire. */
const ALWAYS_STRICT = new Set(['expires']);

/**
 * Query → options, driven by the PARAMETERS table, handling bad values as imgix does: unknown
 * parameters are ignored; empty values count as absent (but `dl=` asks for a download under the
 * image's own name); a parameter given twice (also through an alias or its `64` form) takes its
 * last value; a value that cannot be read is ignored, a number outside imgix's strict range is
 * clamped, unknown list members are dropped. Bad base64 in a `<name>64` parameter and a bad
 * `expires` are a 400 all the same. With `transform.strict` every bad value and every repeated
 * parameter is a 400. Values equal to the default are dropped.
 * Throws ServiceError(400, 'invalid_parameter') naming the parameter.
 */
export function parseTransform(query: URLSearchParams, config: TransformConfig): TransformOptions {
  const strict = config.strict === true;
  // The last spelling of each parameter, in the URL's order.
  const given = new Map<string, { key: string; raw: string; spec: ParameterSpec; isB64: boolean }>();
  for (const [key, raw] of query) {
    const hit = PARAMETER_LOOKUP.get(key);
    if (!hit) continue;
    const [spec, isB64] = hit;
    if (spec.type === 'signature') continue;
    const prev = given.get(spec.name);
    if (prev !== undefined && strict) {
      throw invalidParameter(key, raw, prev.key === key ? 'a single value (the parameter is repeated)' : `a single value (already given as ${prev.key})`);
    }
    given.set(spec.name, { key, raw, spec, isB64 });
  }
  const out: Record<string, unknown> = {};
  for (const { key, raw, spec, isB64 } of given.values()) {
    if (raw === '') {
      if (spec.name === 'dl' && !isB64) out.dl = '';
      continue;
    }
    const text = isB64 ? decodeBase64(key, raw) : raw;
    if (isB64 && text === '') continue;
    let value: unknown;
    try {
      value = parseValue(key, text, spec, config, !strict);
    } catch (err) {
      if (strict || ALWAYS_STRICT.has(spec.name) || !(err instanceof ServiceError)) throw err;
      continue;
    }
    if (spec.default !== undefined && !spec.contextualDefault && value === (spec.type === 'enum' ? String(spec.default) : spec.default)) continue;
    out[spec.name] = value;
  }
  return out as TransformOptions;
}

function canonicalValue(v: unknown): string {
  if (Array.isArray(v)) return v.map(canonicalValue).join(',');
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if ('alpha' in o && 'r' in o) {
      const c = o as unknown as Color;
      return [c.r, c.g, c.b, Math.round(c.alpha * 255)].map((x) => x.toString(16).padStart(2, '0')).join('');
    }
    return Object.keys(o).sort().map((k) => `${k}:${canonicalValue(o[k])}`).join(';');
  }
  return encodeURIComponent(String(v));
}

/** A string that is equal for equal options whatever their order or spelling in the URL; defaults removed. */
export function canonicalKey(opts: TransformOptions): string {
  const o = opts as Record<string, unknown>;
  return Object.keys(o)
    .filter((k) => !NON_RENDERING.has(k) && o[k] !== undefined)
    .sort()
    .map((k) => `${k}=${canonicalValue(o[k])}`)
    .join('&');
}

/**
 * True when nothing asks for a change: the original bytes are served untouched. `s`,
 * `expires` and `dl` (a response header only) never count. When the negotiated result is passed, `auto=format` that chose no
 * format (and auto=enhance/redeye, which have no effect) count as no change.
 */
export function isIdentity(opts: TransformOptions, negotiated?: { format?: string }): boolean {
  for (const k of Object.keys(opts)) {
    if (NON_RENDERING.has(k) || k === 'dl') continue;
    if (k === 'auto' && negotiated && negotiated.format === undefined) {
      if (opts.auto!.every((a) => a !== 'compress')) continue;
    }
    return false;
  }
  return true;
}
