import type { ConfiguredKeys, ResolvedConfig } from '../config/resolve.ts';
import type { KeyLookup, SecretLookup } from './types.ts';

export { sha256hex } from '../digest.ts';

/** How configured keys are read again while the process runs (keys from Secrets Manager). */
interface KeyRefresh {
  /** Resolve the configured keys again (the secrets are read again). */
  reload: () => Promise<ConfiguredKeys>;
  /** A look-up after this long starts a re-read in the background: a removed value stops working. */
  everyMs: number;
  /** An unknown key waits for a re-read when the last one is older than this: a new value works within it. */
  onMissAfterMs: number;
  now?: () => number;
}

/** Secrets are read again every 5 minutes, and on an unknown key at most every 30 seconds. */
export const SECRET_REFRESH = { everyMs: 5 * 60_000, onMissAfterMs: 30_000 };

/**
 * The refresh for a config whose keys come from Secrets Manager (undefined when none do), so a
 * rotated key (docs/deploy-aws.md) is honoured by a running process, not only by a new one.
 */
export function secretKeyRefresh(resolved: Pick<ResolvedConfig, 'reloadKeys'>): KeyRefresh | undefined {
  return resolved.reloadKeys && { reload: resolved.reloadKeys, ...SECRET_REFRESH };
}

/**
 * The key service: the configured keys, then the managed key store. Presented keys are
 * compared only through their SHA-256 digest, so the time taken reveals nothing about how much
 * of a key value was right. Fallback policy, fixed: configured keys always answer; when the
 * store cannot be reached, any other key gets 503 `key_store_unavailable` (fail closed: a key
 * that cannot be checked is never let in). With `refresh`, the configured keys are re-read as
 * it says; a failed re-read keeps the values already known.
 */
export function createKeyLookup(configured: ConfiguredKeys, store?: KeyLookup & Partial<SecretLookup>, refresh?: KeyRefresh): KeyLookup & SecretLookup {
  const now = refresh?.now ?? Date.now;
  let current = configured;
  let loadedAt = now();
  let pending: Promise<void> | undefined;
  const reload = (r: KeyRefresh) =>
    (pending ??= r
      .reload()
      .then(
        (m) => void (current = m),
        () => undefined,
      )
      .finally(() => {
        loadedAt = now();
        pending = undefined;
      }));
  const known = (hash: string) => current.get(hash) ?? (store ? store.findByHash(hash) : undefined);
  return {
    // Not async: a configured key is answered at once (no promise on the cache-hit path).
    findByHash(hash) {
      if (refresh) {
        const age = now() - loadedAt;
        if (age >= refresh.everyMs) void reload(refresh);
        if (!current.has(hash) && age >= refresh.onMissAfterMs) return reload(refresh).then(() => known(hash));
      }
      return known(hash);
    },
    /** Signing secrets live in the key store only (keys from the config file own none). */
    async findSigningKey(id) {
      return store?.findSigningKey ? store.findSigningKey(id) : undefined;
    },
  };
}
