import type { Config } from '../config/schema.ts';
import { DynamoKeyStore } from './dynamodb-store.ts';
import { FileKeyStore } from './file-store.ts';
import { RedisKeyStore } from './redis-store.ts';
import type { SecretInfo } from './stored-key.ts';
import type { KeyLookup, SecretLookup } from './types.ts';

/**
 * Keys managed at run time by `imagegate keys …`, in a JSON file (file-store.ts), in Redis
 * (redis-store.ts) or in DynamoDB (dynamodb-store.ts). Only the SHA-256 of a key value is stored; the value is shown once, when
 * created or rotated. A revocation is seen by every replica within a second: the file store
 * re-reads the file when it changes, the Redis and DynamoDB stores cache a look-up for at most 500 ms.
 * The same holds for a key's signing secrets, which every store holds (kept as-is: a
 * signature is verified with the secret).
 */

export { KeyStoreError } from './stored-key.ts';

export interface KeyInfo {
  id: string;
  plan?: string;
  created: string;
  lastUsed?: string;
  revoked?: string;
  /** Key values that currently open the door (2 during a rotation's grace). */
  activeValues: number;
  /** While rotating: when the previous value stops working. */
  graceUntil?: string;
  /** Live signing secrets (`keys secret …`). */
  signingSecrets: number;
}

/** Signing secrets owned by keys (every key store). */
export interface SecretStore extends SecretLookup {
  /** A new signing secret for the key, shown once. */
  createSecret(id: string): Promise<{ id: string; secretId: string; secret: string }>;
  /** The key's signing secrets: ids and dates, never values. */
  listSecrets(id: string): Promise<SecretInfo[]>;
  /** Stops one signing secret (every replica within the look-up window). */
  revokeSecret(id: string, secretId: string): Promise<void>;
}

/** What every store implements, in full. Ids are looked up as own entries only (a Map, a Redis key, a DynamoDB item). */
export interface KeyStore extends KeyLookup, SecretStore {
  /** Creates a key; the returned value is shown once and never stored. */
  create(input: { id: string; plan?: string }): Promise<{ id: string; key: string }>;
  /** Ids, plans, dates; never key values or hashes. */
  list(): Promise<KeyInfo[]>;
  /** Stops every value of the key at once. */
  revoke(id: string): Promise<void>;
  /** A new value; the current ones keep working for `graceMs` (0: stop now). */
  rotate(id: string, graceMs: number): Promise<{ id: string; key: string; previousValidUntil: string }>;
  /** Notes that the key was used (throttled; never waits on the store). */
  touch(id: string): void;
  close(): Promise<void>;
}

/** Opens the key store from config `keyStore:`; a table named by `tableFromEnv` is read by resolveConfig first. */
export function openKeyStore(cfg: NonNullable<Config['keyStore']>, options: { clock?: () => number } = {}): KeyStore {
  const clock = options.clock ?? Date.now;
  if (cfg.type === 'file') return new FileKeyStore(cfg.path, clock);
  if (cfg.type === 'dynamodb') {
    // resolveConfig names the table of `tableFromEnv`; none here means it was skipped (a bug, not a setting).
    if (!cfg.table) throw new Error('keyStore.table: not named; resolveConfig reads keyStore.tableFromEnv');
    return new DynamoKeyStore({ ...cfg, table: cfg.table }, clock);
  }
  return new RedisKeyStore(cfg.url, cfg.prefix, clock);
}
