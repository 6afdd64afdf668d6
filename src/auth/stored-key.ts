import { randomBytes } from 'node:crypto';
import { ServiceError } from '../errors.ts';
import { ID_RULE, isValidId } from '../ids.ts';
import type { KeyInfo } from './store.ts';
import type { KeyRecord, SigningKey } from './types.ts';

/**
 * What both key stores keep per key, and the rules they share: a new value, a rotation, the
 * listing shape. Only the SHA-256 of a value is ever stored.
 */

/** A shared store's look-up entry for one value's SHA-256: its key, plan and end of grace (epoch ms). */
export interface HashEntry {
  id: string;
  plan?: string;
  expires?: number;
}

/** The key a look-up entry names, unless there is none or its grace has ended at `now`. */
export function liveKey(rec: HashEntry | null, now: number): KeyRecord | undefined {
  if (!rec || (rec.expires !== undefined && rec.expires <= now)) return undefined;
  return rec.plan ? { id: rec.id, plan: rec.plan } : { id: rec.id };
}

/** How long a look-up result may be reused before the store is asked again. */
export const LOOKUP_CACHE_MS = 500;

/**
 * A shared store's look-ups (by key value, or a signed URL's key id), each remembered for at
 * most LOOKUP_CACHE_MS so a revocation reaches every replica within that; misses are remembered
 * too. A store that cannot answer is a 503 `key_store_unavailable`.
 */
export class LookupCache<T> {
  private readonly entries = new Map<string, { at: number; value: T | null }>();

  async get(key: string, load: () => Promise<T | null>): Promise<T | null> {
    const now = Date.now();
    const hit = this.entries.get(key);
    if (hit && now - hit.at <= LOOKUP_CACHE_MS) return hit.value;
    let value: T | null;
    try {
      value = await load();
    } catch (err) {
      throw new ServiceError(503, 'key_store_unavailable', 'API keys cannot be checked right now', { cause: err });
    }
    if (this.entries.size > 10_000) this.entries.clear();
    this.entries.set(key, { at: now, value });
    return value;
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }
}
/** Last-used times are written at most this often per key. */
export const TOUCH_EVERY_MS = 60_000;

export interface StoredHash {
  sha256: string;
  created: string;
  /** ISO time after which this value no longer works (set by rotate). */
  expires?: string;
}

/**
 * A signing secret: kept as-is, because verifying a signature needs the secret itself (an MD5
 * over secret + path + query, imgix's scheme). The store file is mode 0600 / the Redis key is
 * the operator's; the value is shown once on creation and never logged or listed.
 */
export interface StoredSecret {
  id: string;
  secret: string;
  created: string;
  revoked?: string;
}

export interface StoredKey {
  plan?: string;
  created: string;
  revoked?: string;
  hashes: StoredHash[];
  secrets?: StoredSecret[];
}

/** What `keys secret list` shows: never the secret. */
export interface SecretInfo {
  id: string;
  created: string;
  revoked?: string;
}

/** Live signing secrets a key may hold at once (a rotation needs two). */
const MAX_SECRETS = 5;

function newSecretValue(): string {
  return `igs_${randomBytes(32).toString('base64url')}`;
}

/** Adds a secret to `k` (refused for a revoked key or when MAX_SECRETS are live). */
export function addSecret(id: string, k: StoredKey, now: number): { id: string; secretId: string; secret: string } {
  if (k.revoked) throw revoked(id);
  const live = liveSecrets(k);
  if (live.length >= MAX_SECRETS) throw new KeyStoreError('invalid', `key '${id}' already has ${MAX_SECRETS} live signing secrets; revoke one first`);
  const s: StoredSecret = { id: `sec_${randomBytes(6).toString('hex')}`, secret: newSecretValue(), created: new Date(now).toISOString() };
  (k.secrets ??= []).push(s);
  return { id, secretId: s.id, secret: s.secret };
}

/** Revokes one secret of `k`; false when it was revoked already. */
export function revokeSecret(id: string, k: StoredKey, secretId: string, now: number): boolean {
  const s = k.secrets?.find((x) => x.id === secretId);
  if (!s) throw new KeyStoreError('not_found', `key '${id}' has no signing secret '${secretId}'`);
  if (s.revoked) return false;
  s.revoked = new Date(now).toISOString();
  return true;
}

function liveSecrets(k: StoredKey): StoredSecret[] {
  return k.revoked ? [] : (k.secrets ?? []).filter((s) => !s.revoked);
}

export function secretInfo(k: StoredKey): SecretInfo[] {
  return (k.secrets ?? []).map((s) => ({ id: s.id, created: s.created, ...(s.revoked ? { revoked: s.revoked } : {}) }));
}

/** A refused key-store operation (unknown id, existing id, revoked key): exit 1 in the CLI. */
export class KeyStoreError extends Error {
  constructor(
    readonly code: 'not_found' | 'exists' | 'revoked' | 'invalid',
    message: string,
  ) {
    super(message);
    this.name = 'KeyStoreError';
  }
}

export function newKeyValue(): string {
  return `ig_${randomBytes(32).toString('base64url')}`;
}

export function checkId(id: string): void {
  if (!isValidId(id)) throw new KeyStoreError('invalid', `key id '${id}': use ${ID_RULE}`);
}

export const notFound = (id: string) => new KeyStoreError('not_found', `no key '${id}' in the key store`);
export const exists = (id: string) => new KeyStoreError('exists', `key '${id}' already exists`);
export const revoked = (id: string) => new KeyStoreError('revoked', `key '${id}' is revoked; create a new one`);

/** A new key record holding one value's hash. */
export function newStoredKey(plan: string | undefined, sha256: string, now: number): StoredKey {
  const created = new Date(now).toISOString();
  return { ...(plan ? { plan } : {}), created, hashes: [{ sha256, created }] };
}

export function keyInfo(id: string, k: StoredKey, now: number, lastUsed?: string): KeyInfo {
  const live = k.revoked ? [] : k.hashes.filter((h) => !h.expires || Date.parse(h.expires) > now);
  const expiring = live.filter((h) => h.expires).map((h) => h.expires!).sort();
  return {
    id,
    ...(k.plan ? { plan: k.plan } : {}),
    created: k.created,
    ...(lastUsed ? { lastUsed } : {}),
    ...(k.revoked ? { revoked: k.revoked } : {}),
    activeValues: live.length,
    ...(expiring.length ? { graceUntil: expiring[expiring.length - 1] } : {}),
    signingSecrets: liveSecrets(k).length,
  };
}

/** Adds a value; the current ones stop after `graceMs`. Returns when the previous values stop. */
export function rotateStored(k: StoredKey, hash: string, graceMs: number, now: number): string {
  const until = new Date(now + Math.max(0, graceMs)).toISOString();
  for (const h of k.hashes) {
    if (!h.expires || Date.parse(h.expires) > now + graceMs) h.expires = until;
  }
  k.hashes = k.hashes.filter((h) => Date.parse(h.expires!) > now);
  k.hashes.push({ sha256: hash, created: new Date(now).toISOString() });
  return until;
}

/** A key as a signed URL's verifier sees it: its plan and live secrets, or null when it has none. */
export function signingKey(id: string, k: StoredKey | undefined): SigningKey | null {
  const secrets = k ? liveSecrets(k).map((x) => x.secret) : [];
  return k && secrets.length ? { id, ...(k.plan ? { plan: k.plan } : {}), secrets } : null;
}
