import type { Context, MiddlewareHandler } from 'hono';
import { ServiceError } from '../errors.ts';
import { sha256hex } from '../digest.ts';
import type { AppEnv } from '../http/context.ts';
import type { RequestTarget } from '../http/target.ts';
import { asMiddleware, isPromise, whenReady, type Next } from '../http/chain.ts';
import { signingKeyId, verifyAny } from '../request/signature.ts';
import type { KeyLookup, KeyRecord, SecretLookup } from './types.ts';

/** The one answer for a missing or unknown key: the same 403 whatever was wrong. */
export const forbidden = (): ServiceError => new ServiceError(403, 'forbidden', 'Forbidden');

const missingSignature = () => new ServiceError(403, 'invalid_signature', 'Forbidden: missing signature (s must be the last parameter)');

/** Who may read a source, and the source-level token that imgix-style URLs are signed with. */
export interface SourceAccess {
  access: 'key' | 'signed' | 'public';
  /** `signing:` of the source: its token, and which path the signature covers. */
  signing?: { token: string; path: 'request' | 'afterBasePath' };
}

interface AccessOptions {
  keys: KeyLookup & Partial<SecretLookup>;
  /** Per source name; a source not listed is `key`. */
  sources?: Record<string, SourceAccess>;
  /** The client address for anonymous requests (see clientAddressResolver). */
  clientAddress?: (c: Context) => string | undefined;
  /** Digests of presented key values remembered (a few keys call all day). */
  remember?: number;
}

/**
 * The access decision for an image request, with the source its path routes to (`source`, set
 * once before this runs) — first match wins:
 * - `X-API-Key`: the key's record (`apiKey`), on every source; an unknown key is 403 `forbidden`
 *   (body exactly `{"message":"Forbidden"}`) even where none is needed.
 * - `ixkey=ID … &s=…`: a URL signed with one of that key's signing secrets; on `signed` and
 *   `public` sources it is the credential and the request counts as the key's (`apiKey`,
 *   `credential: 'signed'`). A wrong, tampered or revoked signature is 403 `invalid_signature`,
 *   an expired one 404 `expired`; the verified query is the one rendered (`verifiedQuery`).
 * - `signed` source, no `ixkey`: imgix's form, signed with the source's own token; anonymous.
 * - `public` source: anonymous.
 * - otherwise 403 `forbidden`.
 * Anonymous requests carry their client address (`clientAddress`) for the anonymous plan.
 *
 * Presented keys are compared only through their SHA-256, and signatures in constant time. The
 * digest of a key that was found is remembered, so a request pays a Map look-up instead of a
 * SHA-256; the look-up by digest still runs every time, so a revoked key stops at once.
 */
export function apiKeyAuth({ keys, sources = {}, clientAddress, remember = 1000 }: AccessOptions): MiddlewareHandler<AppEnv> {
  const digests = new Map<string, string>();

  /** The presented key's record (`found`, from the look-up by digest) on the context; 403 when there is none. */
  const admit = (c: Context<AppEnv>, presented: string, digest: string, found: KeyRecord | undefined): KeyRecord => {
    if (!found) throw forbidden();
    if (!digests.has(presented)) {
      if (digests.size >= remember) digests.clear();
      digests.set(presented, digest);
    }
    c.set('apiKey', found);
    c.set('credential', 'key');
    return found;
  };

  /**
   * The rest of the decision, for sources other than `key` (signatures, anonymous requests): at
   * once, except a URL signed with a key's secret, whose key is looked up first.
   */
  const bySource = (c: Context<AppEnv>, key: KeyRecord | undefined, rule: SourceAccess | undefined, mode: SourceAccess['access'], target: RequestTarget): void | Promise<void> => {
    const path = rule?.signing?.path === 'afterBasePath' ? `/${target.imagePath.replace(/^\/+/, '')}` : target.clientPath;
    const keyId = signingKeyId(target.rawQueries[0] ?? '');
    if (keyId !== undefined) {
      // A key's secret: one look-up by id, then each live secret (at most a handful) in constant time.
      return whenReady(keys.findSigningKey?.(keyId), (signer) => {
        c.set('verifiedQuery', verifyAny(path, target.rawQueries, signer?.secrets ?? []));
        if (!key) {
          c.set('apiKey', signer!.plan !== undefined ? { id: signer!.id, plan: signer!.plan } : { id: signer!.id });
          c.set('credential', 'signed');
        }
        anonymousAddress(c);
      });
    }
    if (!key && mode === 'signed') {
      if (!rule?.signing || !target.rawQueries.some((q) => /(^|&)s=/.test(q))) throw missingSignature();
      c.set('verifiedQuery', verifyAny(path, target.rawQueries, [rule.signing.token]));
      c.set('credential', 'signed');
    } else if (!key) c.set('credential', 'anonymous');
    anonymousAddress(c);
  };

  /** A request no key answers for is limited per client address. */
  const anonymousAddress = (c: Context<AppEnv>): void => {
    if (c.get('apiKey')) return;
    const addr = clientAddress?.(c);
    if (addr !== undefined) c.set('clientAddress', addr);
  };

  const decided = (c: Context<AppEnv>, next: Next, key: KeyRecord | undefined, rule: SourceAccess | undefined, mode: SourceAccess['access'], source: string | undefined) => {
    const target = c.get('target');
    if (mode === 'key' || !target || source === undefined) return next();
    return whenReady(bySource(c, key, rule, mode, target), next);
  };

  // A chain layer (chain.ts): a key the look-up knows at once lets the request on at once.
  return asMiddleware((c, next) => {
    const source = c.get('source');
    const rule = source !== undefined && Object.hasOwn(sources, source) ? sources[source]! : undefined;
    const mode = rule?.access ?? 'key';
    const presented = c.req.header('x-api-key');
    if (presented === undefined) {
      if (mode === 'key') throw forbidden();
      return decided(c, next, undefined, rule, mode, source);
    }
    const digest = digests.get(presented) ?? sha256hex(presented);
    const found = keys.findByHash(digest);
    if (isPromise(found)) return found.then((k) => decided(c, next, admit(c, presented, digest, k), rule, mode, source));
    return decided(c, next, admit(c, presented, digest, found), rule, mode, source);
  });
}
