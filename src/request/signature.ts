// CONTRACT STUB — replaced by the full implementation (issue 3).
import { ServiceError } from '../errors.ts';

/**
 * Verify an imgix-style signature over the request target exactly as it arrived
 * (`/path?query`, with `s` last). Throws ServiceError 403 `invalid_signature` when missing or
 * wrong, and 410 `expired_signature` when `expires` has passed.
 */
export function verifySignature(_target: string, _token: string, _nowSeconds = Date.now() / 1000): void {
  throw new ServiceError(403, 'invalid_signature', 'Forbidden: invalid signature');
}

/** Append `s=` to a path+query so that verifySignature accepts it. */
export function signTarget(_target: string, _token: string): string {
  throw new Error('not implemented');
}
