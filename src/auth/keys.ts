import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Config, KeyConfig } from '../config/schema.ts';
import { ConfigError } from '../config/load.ts';
import { settingFromEnv } from '../config/from-env.ts';
import { sha256hex } from '../digest.ts';
import type { KeyLookup, KeyRecord, SecretLookup } from './types.ts';

export { sha256hex } from '../digest.ts';

type SecretFetcher = (ref: NonNullable<KeyConfig['secret']>) => Promise<string>;

/** Reads `{"api_key": "…"}`-style JSON secrets from AWS Secrets Manager. */
export function secretsManagerFetcher(aws: Config['aws']): SecretFetcher {
  const clients = new Map<string, SecretsManagerClient>();
  return async (ref) => {
    const region = ref.region ?? aws.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1';
    const endpoint = ref.endpoint ?? aws.endpoint;
    const id = `${region}|${endpoint ?? ''}`;
    let client = clients.get(id);
    if (!client) {
      client = new SecretsManagerClient({ region, ...(endpoint ? { endpoint } : {}), maxAttempts: 2 });
      clients.set(id, client);
    }
    const res = await client.send(new GetSecretValueCommand({ SecretId: ref.id }));
    if (!res.SecretString) throw new Error('secret has no SecretString');
    let parsed: unknown;
    try {
      parsed = JSON.parse(res.SecretString);
    } catch {
      throw new Error('SecretString is not JSON');
    }
    const value = (parsed as Record<string, unknown>)[ref.field];
    if (typeof value !== 'string' || value === '') throw new Error(`SecretString has no string field '${ref.field}'`);
    return value;
  };
}

/**
 * Resolve every configured key to the SHA-256 of its value, once at start-up: a hash from the
 * file, a value from the environment, or a value from Secrets Manager. All failures are
 * collected and reported together, each naming its key; key values are never logged.
 */
export async function resolveConfiguredKeys(
  cfg: Config,
  fetchSecret: SecretFetcher = secretsManagerFetcher(cfg.aws),
): Promise<Map<string, KeyRecord>> {
  const byHash = new Map<string, KeyRecord>();
  const problems: string[] = [];
  await Promise.all(
    cfg.keys.map(async (k, i) => {
      let hash: string | undefined;
      try {
        if (k.sha256) hash = k.sha256.toLowerCase();
        else if (k.valueFromEnv) hash = sha256hex(settingFromEnv(`keys.${i} (${k.id}): valueFromEnv`, k.valueFromEnv));
        else if (k.secret) {
          hash = sha256hex(await fetchSecret(k.secret));
        }
      } catch (err) {
        if (err instanceof ConfigError) problems.push(...err.problems);
        else problems.push(`keys.${i} (${k.id}): secret '${k.secret!.id}': ${err instanceof Error ? err.message : String(err)}`);
        return;
      }
      if (hash) {
        if (byHash.has(hash)) problems.push(`keys.${i} (${k.id}): same value as key '${byHash.get(hash)!.id}'`);
        byHash.set(hash, { id: k.id, ...(k.plan ? { plan: k.plan } : {}) });
      }
    }),
  );
  if (problems.length) throw new ConfigError('keys', problems);
  return byHash;
}

/** How configured keys are read again while the process runs (keys from Secrets Manager). */
interface KeyRefresh {
  /** Resolve the configured keys again (the secrets are read again). */
  reload: () => Promise<Map<string, KeyRecord>>;
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
export function secretKeyRefresh(cfg: Config, fetchSecret: SecretFetcher = secretsManagerFetcher(cfg.aws)): KeyRefresh | undefined {
  if (!cfg.keys.some((k) => k.secret)) return undefined;
  return { reload: () => resolveConfiguredKeys(cfg, fetchSecret), ...SECRET_REFRESH };
}

/**
 * The key service: the configured keys, then the managed key store. Presented keys are
 * compared only through their SHA-256 digest, so the time taken reveals nothing about how much
 * of a key value was right. Fallback policy, fixed: configured keys always answer; when the
 * store cannot be reached, any other key gets 503 `key_store_unavailable` (fail closed: a key
 * that cannot be checked is never let in). With `refresh`, the configured keys are re-read as
 * it says; a failed re-read keeps the values already known.
 */
export function createKeyLookup(configured: Map<string, KeyRecord>, store?: KeyLookup & Partial<SecretLookup>, refresh?: KeyRefresh): KeyLookup & SecretLookup {
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
  return {
    async findByHash(hash) {
      if (refresh) {
        const age = now() - loadedAt;
        if (age >= refresh.everyMs) void reload(refresh);
        if (!current.has(hash) && age >= refresh.onMissAfterMs) await reload(refresh);
      }
      return current.get(hash) ?? (store ? store.findByHash(hash) : undefined);
    },
    /** Signing secrets live in the key store only (keys from the config file own none). */
    async findSigningKey(id) {
      return store?.findSigningKey ? store.findSigningKey(id) : undefined;
    },
  };
}
