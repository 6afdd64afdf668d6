import { ServiceError } from '../errors.ts';

/**
 * Turn the raw URL path (after the base path) into a safe relative object path, or throw 400.
 * Decoding happens exactly once, and the decoded path may not contain `..` or `.` segments,
 * backslashes, NUL or other control characters, or encoded slashes that would change the
 * segment structure: `%2f` is refused rather than guessed at.
 */
export function normaliseImagePath(rawPath: string, maxLength: number): string {
  if (rawPath.length > maxLength) {
    throw new ServiceError(400, 'path_too_long', `Invalid image path: longer than ${maxLength} bytes`);
  }
  const trimmed = rawPath.replace(/^\/+/, '');
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
  const segments = decoded.split('/');
  if (segments.some((s) => s === '..' || s === '.' || s === '')) {
    throw new ServiceError(400, 'invalid_path', 'Invalid image path: empty, . or .. segment');
  }
  return decoded;
}
