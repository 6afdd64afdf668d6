import { ServiceError } from '../errors.ts';

/**
 * Turn the raw URL path (after the base path) into a safe relative object path, or throw 400.
 * Decoding happens exactly once, and the decoded path may not contain `..` or `.` segments,
 * backslashes, NUL or other control characters, or encoded slashes that would change the
 * segment structure: `%2f` is refused rather than guessed at. Only the one leading slash is
 * dropped: `//_private.jpg` has an empty first segment (400), it is not `_private.jpg`, which
 * would reach an object under the reserved `/_` prefix.
 */
export function normaliseImagePath(rawPath: string, maxLength: number): string {
  if (rawPath.length > maxLength) {
    throw new ServiceError(400, 'path_too_long', `Invalid image path: longer than ${maxLength} bytes`);
  }
  const trimmed = rawPath.startsWith('/') ? rawPath.slice(1) : rawPath;
  if (trimmed === '') throw new ServiceError(400, 'missing_path', 'Missing image path');
  if (/%2f|%5c|%00/i.test(trimmed)) {
    throw new ServiceError(400, 'invalid_path', 'Invalid image path: encoded slash, backslash or NUL');
  }
  let decoded: string;
  try {
    decoded = decodeURIComponent(trimmed);
  } catch {
    throw new ServiceError(400, 'invalid_path', 'Invalid image path: bad percent-encoding');
  }
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f\\]/.test(decoded)) {
    throw new ServiceError(400, 'invalid_path', 'Invalid image path: control character or backslash');
  }
  checkSegments(decoded);
  return decoded;
}

/**
 * A path or object key is a list of non-empty segments, none of them `.` or `..`: the one rule
 * for request paths and for the keys routes build from them, whatever the source (an fs root,
 * an S3 prefix or an HTTP base URL), so no source is left to normalise `a/../b` its own way.
 */
export function checkSegments(path: string): void {
  if (path.split('/').some((s) => s === '..' || s === '.' || s === '')) {
    throw new ServiceError(400, 'invalid_path', 'Invalid image path: empty, . or .. segment');
  }
}
