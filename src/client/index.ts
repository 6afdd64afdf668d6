/**
 * imagegate client: build (and sign) image URLs, `srcset` strings, and fetch images with an
 * API key. No dependencies beyond the platform; targets Node ≥ 20 and modern browsers.
 *
 * Signing uses MD5 from `node:crypto` and is therefore available in Node only. That is on
 * purpose: a signing token is a secret, and a browser must never hold one — sign URLs on a
 * server and send the finished URL to the page.
 *
 * The parameter names and value types come from `parameters.generated.ts`, which is generated
 * from the same table the server validates against (`src/request/parameters.ts`).
 */
import type { ImageParams } from './parameters.generated.ts';

export type { ImageParams, ImageParamName } from './parameters.generated.ts';
export { PARAMETER_NAMES } from './parameters.generated.ts';

/** A parameter value as it may be given to `buildUrl`; arrays become comma lists. */
export type ParamValue = string | number | boolean | ReadonlyArray<string | number>;

export interface SignOptions {
  /**
   * The source's signing token (`sources.<name>.signing.token`), or — with `keyId` — one of that
   * API key's signing secrets (`imagegate keys secret create`). Keep it on the server.
   */
  token: string;
  /** The API key that owns `token`: sent as `ixkey=` (covered by the signature); the request counts as that key's. */
  keyId?: string;
  /** Unix time (seconds) or a Date after which the URL stops working (`expires=`). */
  expires?: number | Date;
}

export interface BuildUrlOptions {
  /**
   * Where the service answers, stage prefix included: `https://img.example.com/dev`.
   * Without it `buildUrl` returns a root-relative target (`/path?query`).
   */
  baseUrl?: string;
  /** Sign the URL (imgix scheme, `s` last) with this token. Node only. */
  signWith?: SignOptions | string;
}

/** Error thrown by `fetchImage` for a response it does not return as an image. */
export class ImagegateError extends Error {
  readonly status: number;
  /** The service's stable error code (`invalid_parameter`, `quota_exceeded`, …) when it sent one. */
  readonly code?: string;
  readonly headers: Headers;
  constructor(status: number, message: string, code: string | undefined, headers: Headers) {
    super(message);
    this.name = 'ImagegateError';
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}

// ---------------------------------------------------------------------------------------------
// URLs

/** Encode a value the way imgix clients do: `%`-encoding, but commas stay readable. */
function encodeValue(v: string): string {
  return encodeURIComponent(v).replace(/%2C/gi, ',');
}

/** base64url without padding, as the `…64` parameters (`txt64`, `mark64`) expect. */
export function base64url(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function valueToString(name: string, v: ParamValue): string {
  const s = Array.isArray(v) ? v.join(',') : typeof v === 'boolean' ? (v ? 'true' : 'false') : String(v);
  return name.endsWith('64') ? base64url(s) : s;
}

/** Encode a path (unencoded, `/`-separated) segment by segment; an absolute URL is one segment. */
function encodePath(path: string): string {
  if (/^https?:\/\//i.test(path)) return '/' + encodeURIComponent(path);
  const p = path.startsWith('/') ? path : `/${path}`;
  return p
    .split('/')
    .map((seg) => encodeURIComponent(seg))
    .join('/');
}

/** The query string for `params` (insertion order, undefined/null skipped), without `?`. */
export function buildQuery(params: Record<string, ParamValue | undefined | null>): string {
  const parts: string[] = [];
  for (const [name, v] of Object.entries(params)) {
    if (v === undefined || v === null) continue;
    parts.push(`${encodeURIComponent(name)}=${encodeValue(valueToString(name, v))}`);
  }
  return parts.join('&');
}

type Md5 = (text: string) => string;
let md5Impl: Md5 | undefined;

/** MD5 hex from node:crypto, looked up lazily so that bundles for browsers still load. */
function md5(text: string): string {
  if (!md5Impl) {
    const get = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process?.getBuiltinModule;
    const crypto = get?.('node:crypto') as typeof import('node:crypto') | undefined;
    if (!crypto) {
      throw new Error('imagegate client: signing needs node:crypto (Node ≥ 20.16); sign URLs on a server, never in a browser');
    }
    md5Impl = (t) => crypto.createHash('md5').update(t, 'utf8').digest('hex');
  }
  return md5Impl(text);
}

/**
 * Sign a request target (`/path?query`, as it will be sent, stage prefix included):
 * `s = md5(token + path)` or `md5(token + path + "?" + query)`, appended last.
 */
export function signTarget(target: string, token: string): string {
  const q = target.indexOf('?');
  const rest = q < 0 ? '' : target.slice(q + 1);
  const s = md5(token + (rest === '' ? target.replace(/\?$/, '') : target));
  return `${rest === '' ? target.replace(/\?$/, '') : target}${rest === '' ? '?' : '&'}s=${s}`;
}

function splitBase(baseUrl: string | undefined): { origin: string; prefix: string } {
  if (!baseUrl) return { origin: '', prefix: '' };
  const u = new URL(baseUrl);
  return { origin: u.origin, prefix: u.pathname.replace(/\/+$/, '') };
}

/**
 * The URL of `path` rendered with `params`. Parameter names are typed from the service's
 * parameter table; values are sent as given (numbers, keywords, arrays as comma lists, `…64`
 * parameters base64url-encoded for you). With `signWith`, `expires` and `s` are added last.
 */
export function buildUrl(path: string, params: ImageParams = {}, options: BuildUrlOptions = {}): string {
  const { origin, prefix } = splitBase(options.baseUrl);
  const all: Record<string, ParamValue | undefined | null> = { ...(params as Record<string, ParamValue | undefined>) };
  delete all.s;
  delete all.ixkey;
  const sign: SignOptions | undefined = typeof options.signWith === 'string' ? { token: options.signWith } : options.signWith;
  if (sign?.keyId !== undefined) all.ixkey = sign.keyId;
  if (sign?.expires !== undefined) {
    all.expires = sign.expires instanceof Date ? Math.floor(sign.expires.getTime() / 1000) : Math.floor(sign.expires);
  }
  const query = buildQuery(all);
  let target = prefix + encodePath(path) + (query ? `?${query}` : '');
  if (sign) target = signTarget(target, sign.token);
  return origin + target;
}

export interface SrcsetOptions extends BuildUrlOptions {
  /** Widths for a `w`-descriptor srcset. Default: 100…8192 in steps of about 8 %. */
  widths?: readonly number[];
  /** Device pixel ratios for an `x`-descriptor srcset (used when `params` fixes `w` or `h`). Default 1–5. */
  dprs?: readonly number[];
  /** Lower quality at higher DPR (75, 50, 35, 23, 20) unless `params.q` is set. Default true. */
  variableQuality?: boolean;
  params?: ImageParams;
}

/** Widths from `min` to `max` growing by `tolerance` (imgix's default ladder: 100…8192, 8 %). */
export function widthLadder(min = 100, max = 8192, tolerance = 0.08): number[] {
  const out: number[] = [];
  let w = min;
  while (w < max) {
    out.push(2 * Math.round(w / 2));
    w *= 1 + tolerance * 2;
  }
  out.push(max);
  return out;
}

const DPR_QUALITY: Record<number, number> = { 1: 75, 2: 50, 3: 35, 4: 23, 5: 20 };

/**
 * A `srcset` value. When `params` fixes a width or height, one candidate per DPR (`1x`, `2x`, …);
 * otherwise one candidate per width (`400w`, …), or `options.widths` when given.
 */
export function srcset(path: string, options: SrcsetOptions = {}): string {
  const params = { ...(options.params ?? {}) } as Record<string, ParamValue | undefined>;
  const fixed = params.w !== undefined || params.h !== undefined;
  if (fixed && !options.widths) {
    const dprs = options.dprs ?? [1, 2, 3, 4, 5];
    return dprs
      .map((dpr) => {
        const p: Record<string, ParamValue | undefined> = { ...params, dpr };
        if (options.variableQuality !== false && params.q === undefined && DPR_QUALITY[dpr]) p.q = DPR_QUALITY[dpr];
        return `${buildUrl(path, p as ImageParams, options)} ${dpr}x`;
      })
      .join(',\n');
  }
  const widths = options.widths ?? widthLadder();
  return widths
    .map((w) => `${buildUrl(path, { ...params, w } as ImageParams, options)} ${w}w`)
    .join(',\n');
}

// ---------------------------------------------------------------------------------------------
// Fetching

export interface FetchImageOptions {
  /** Sent as `X-API-Key`. */
  apiKey?: string;
  /** Needed when the first argument is a path rather than an absolute URL. */
  baseUrl?: string;
  /** Query parameters for a path (ignored for an absolute URL, which is sent as is). */
  params?: ImageParams;
  /** Sign a path built from `params`. */
  signWith?: SignOptions | string;
  /** Retries after 429 or 503 (default 3). */
  retries?: number;
  /** Longest wait before one retry, whatever Retry-After says (default 10 s). */
  maxRetryDelayMs?: number;
  signal?: AbortSignal;
  /** Extra request headers (`Accept` for `auto=format`, `If-None-Match`, …). */
  headers?: Record<string, string>;
  /** A fetch implementation (default: the global one). */
  fetch?: typeof fetch;
}

export interface FetchedImage {
  bytes: Uint8Array;
  contentType: string;
  /** 200, or 304 when `If-None-Match` matched (then `bytes` is empty). */
  status: number;
  headers: Headers;
  /** Requests made, retries included. */
  attempts: number;
}

/** Milliseconds to wait from a Retry-After header (seconds or an HTTP date); undefined if absent/bad. */
export function retryAfterMs(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

async function errorFrom(res: Response): Promise<ImagegateError> {
  let message = `HTTP ${res.status}`;
  let code: string | undefined;
  try {
    const text = await res.text();
    try {
      const body = JSON.parse(text) as { message?: unknown; code?: unknown; error?: unknown };
      if (typeof body.message === 'string') message = body.message;
      if (typeof body.code === 'string') code = body.code;
      else if (typeof body.error === 'string') code = body.error;
    } catch {
      if (text) message = text.slice(0, 200);
    }
  } catch {
    /* body unreadable: keep the status line */
  }
  return new ImagegateError(res.status, message, code, res.headers);
}

/**
 * GET an image with `X-API-Key`, or a signed URL (`signWith` with a key's secret, on a server)
 * without one; from a page it is a CORS request, so the source needs `cors:` for the page's origin. 429 and 503 are retried up to `retries` times, waiting what
 * `Retry-After` asks (capped at `maxRetryDelayMs`) or an exponential backoff when it is absent.
 * Any other non-2xx (and the last 429/503) throws an `ImagegateError` with the service's code.
 */
export async function fetchImage(urlOrPath: string, options: FetchImageOptions = {}): Promise<FetchedImage> {
  const doFetch = options.fetch ?? globalThis.fetch;
  const retries = options.retries ?? 3;
  const maxDelay = options.maxRetryDelayMs ?? 10_000;
  const url = /^https?:\/\//i.test(urlOrPath)
    ? urlOrPath
    : (() => {
        if (!options.baseUrl) throw new TypeError('fetchImage: a path needs options.baseUrl');
        return buildUrl(urlOrPath, options.params ?? {}, { baseUrl: options.baseUrl, signWith: options.signWith });
      })();
  const headers: Record<string, string> = { ...(options.headers ?? {}) };
  if (options.apiKey) headers['X-API-Key'] = options.apiKey;

  for (let attempt = 1; ; attempt++) {
    // Cross-origin from a page: CORS mode, no cookies (the service uses none; its answer is shareable).
    const res = await doFetch(url, { headers, signal: options.signal, mode: 'cors', credentials: 'omit' });
    if (res.ok || res.status === 304) {
      const bytes = res.status === 304 ? new Uint8Array(0) : new Uint8Array(await res.arrayBuffer());
      return {
        bytes,
        contentType: res.headers.get('content-type') ?? 'application/octet-stream',
        status: res.status,
        headers: res.headers,
        attempts: attempt,
      };
    }
    if ((res.status === 429 || res.status === 503) && attempt <= retries) {
      const asked = retryAfterMs(res.headers.get('retry-after'));
      const wait = Math.min(maxDelay, asked ?? 250 * 2 ** (attempt - 1));
      await res.body?.cancel().catch(() => {});
      await sleep(wait, options.signal);
      continue;
    }
    throw await errorFrom(res);
  }
}
