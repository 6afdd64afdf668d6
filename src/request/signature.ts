import { createHash, timingSafeEqual } from 'node:crypto';
import { invalidParameter, ServiceError } from '../errors.ts';

const S_LAST = /(^|&)s=([^&]*)$/;

function md5hex(text: string): string {
  return createHash('md5').update(text, 'utf8').digest('hex');
}

/** The imgix signature of `path?rest` (`rest` without `s`), over the text exactly as given. */
function signatureOf(token: string, path: string, rest: string): string {
  return md5hex(rest === '' ? token + path : `${token}${path}?${rest}`);
}

function splitTarget(target: string): { path: string; query: string | undefined } {
  const i = target.indexOf('?');
  return i < 0 ? { path: target, query: undefined } : { path: target.slice(0, i), query: target.slice(i + 1) };
}

/**
 * Verify an imgix signature over the request target exactly as it arrived (`/path?query`):
 * `s` must be the last parameter; with `rest` = the query without `&s=…`,
 * `s = md5hex(token + path)` when `rest` is empty, else `md5hex(token + path + "?" + rest)`.
 * The query is never re-parsed or re-serialised, so `%2C`, `%20`, `+` and `?mark&…` survive.
 * Compared in constant time.
 *
 * Errors: missing or wrong `s` → 403 `invalid_signature`; then `expires` as checkExpires
 * judges it (a signed link that has lapsed is 404 `expired`, as imgix answers).
 */
export function verifySignature(target: string, token: string, nowSeconds = Date.now() / 1000): void {
  const { path, query } = splitTarget(target);
  const m = query === undefined ? null : S_LAST.exec(query);
  if (!m || query === undefined) throw new ServiceError(403, 'invalid_signature', 'Forbidden: missing signature (s must be the last parameter)');
  const rest = query.slice(0, m.index);
  const given = Buffer.from(m[2]!.toLowerCase(), 'utf8');
  const expected = Buffer.from(signatureOf(token, path, rest), 'utf8');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new ServiceError(403, 'invalid_signature', 'Forbidden: invalid signature');
  }
  checkExpires(rest, nowSeconds);
}

/**
 * `expires` as imgix enforces it, on every URL, signed or not: unix seconds after which the URL
 * is no longer served — 404 `expired` (imgix's documented status). Returns the expiry (the
 * earliest, if given twice), or undefined without one. Not a unix time → 400 `invalid_parameter`
 * (an unreadable expiry must not make a link permanent).
 */
export function checkExpires(query: string, nowSeconds = Date.now() / 1000): number | undefined {
  if (!query.includes('expires')) return undefined;
  let earliest: number | undefined;
  for (const value of new URLSearchParams(query).getAll('expires')) {
    if (value === '') continue;
    if (!/^\d{1,15}$/.test(value)) throw invalidParameter('expires', value, 'a unix time in seconds');
    earliest = Math.min(earliest ?? Infinity, Number(value));
  }
  if (earliest !== undefined && earliest < nowSeconds) throw new ServiceError(404, 'expired', 'Not found: this URL has expired');
  return earliest;
}

/**
 * A Cache-Control value no cache can keep past `expires` (unix seconds): `max-age` and
 * `s-maxage` at most the seconds left, `stale-while-revalidate` / `stale-if-error` at most what
 * is left after that, and `max-age` added when the value names no lifetime (so no cache guesses
 * one). `no-store` is kept as it is. Without `expires` the value is returned unchanged.
 */
export function cacheControlUntil(value: string, expires: number | undefined, nowSeconds = Date.now() / 1000): string {
  if (expires === undefined || /(^|,)\s*no-store\b/i.test(value)) return value;
  const left = Math.max(0, Math.floor(expires - nowSeconds));
  let fresh = -1;
  let out = value.replace(/\b(max-age|s-maxage)=(\d+)/gi, (_, name: string, n: string) => {
    const bounded = Math.min(Number(n), left);
    fresh = Math.max(fresh, bounded);
    return `${name}=${bounded}`;
  });
  if (fresh < 0) {
    fresh = left;
    out = out.trim() === '' ? `max-age=${left}` : `${out}, max-age=${left}`;
  }
  return out.replace(/\b(stale-while-revalidate|stale-if-error)=(\d+)/gi, (_, name: string, n: string) => `${name}=${Math.min(Number(n), left - fresh)}`);
}

/**
 * `ixkey`, the parameter that names the key whose signing secret signed a URL (`…&ixkey=ID&s=…`).
 * It is part of the signed query, so it cannot be changed without breaking the signature, and it
 * makes finding the secret one look-up.
 */
const KEY_RE = /(?:^|&)ixkey=([^&]*)/;

/** The key id a query names with `ixkey=`, or undefined. */
export function signingKeyId(query: string): string | undefined {
  const m = KEY_RE.exec(query);
  if (!m) return undefined;
  try {
    return decodeURIComponent(m[1]!);
  } catch {
    return m[1];
  }
}

/**
 * One of `queries` (the spellings an adapter could have received) signed with one of `tokens`
 * (a key's live secrets, or a source's token): returns the query that verified, which is the
 * one to render. Throws 403 `invalid_signature` (none matches, or no token), or the first 410
 * `expired` / 400 met for a matching signature.
 */
export function verifyAny(path: string, queries: string[], tokens: string[], nowSeconds = Date.now() / 1000): string {
  let firstError: unknown;
  for (const q of queries.length ? queries : ['']) {
    for (const token of tokens) {
      try {
        verifySignature(q ? `${path}?${q}` : path, token, nowSeconds);
        return q;
      } catch (err) {
        if (err instanceof ServiceError && err.code !== 'invalid_signature') throw err;
        firstError ??= err;
      }
    }
  }
  throw firstError ?? new ServiceError(403, 'invalid_signature', 'Forbidden: invalid signature');
}

/**
 * Append `s=` to a path+query (as it will be sent) so that verifySignature accepts it. An `s`
 * already present at the end is replaced.
 */
export function signTarget(target: string, token: string): string {
  let { path, query } = splitTarget(target);
  if (query !== undefined) {
    const m = S_LAST.exec(query);
    if (m) query = query.slice(0, m.index);
  }
  const rest = query ?? '';
  const s = signatureOf(token, path, rest);
  return rest === '' ? `${path}?s=${s}` : `${path}?${rest}&s=${s}`;
}
