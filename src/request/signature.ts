import { createHash, timingSafeEqual } from 'node:crypto';
import { invalidParameter, ServiceError } from '../errors.ts';
import { settingFromEnv } from '../config/from-env.ts';

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
 * Errors: missing or wrong `s` → 403 `invalid_signature`. A correctly signed URL whose
 * `expires` (unix seconds, part of the signed query) is in the past → 410 `expired_signature`
 * (Gone: the link was valid and has lapsed; a client should not retry). A signed but
 * non-numeric `expires` → 400 `invalid_parameter`.
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
  if (rest !== '') {
    const expires = new URLSearchParams(rest).get('expires');
    if (expires !== null && expires !== '') {
      if (!/^\d+$/.test(expires)) throw invalidParameter('expires', expires, 'a unix time in seconds');
      if (Number(expires) < nowSeconds) throw new ServiceError(410, 'expired_signature', 'Gone: this signed URL has expired');
    }
  }
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

/**
 * A source's signing token: `signing.token`, or the environment variable `signing.tokenFromEnv`.
 * A ConfigError, naming the setting and the variable, when that variable is not set.
 */
export function signingToken(sourceName: string, signing: { token?: string; tokenFromEnv?: string }, env: NodeJS.ProcessEnv = process.env): string {
  return signing.token ?? settingFromEnv(`sources.${sourceName}.signing.tokenFromEnv`, signing.tokenFromEnv ?? '', env);
}
