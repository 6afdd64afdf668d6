/**
 * The configuration resolved once at start-up: the validated settings plus every value they
 * name outside the file — the `…FromEnv` variables (`keys[].valueFromEnv`, `admin.tokenFromEnv`,
 * `sources.*.signing.tokenFromEnv`, `usage.tableFromEnv`, `keyStore.tableFromEnv`), key values
 * in AWS Secrets Manager, the environment's AWS region — read, hashed where they are
 * credentials, and frozen. Every problem is collected and reported at once, each naming its
 * setting the way the schema's problems do; values are never part of a message. Nothing
 * outside src/config and the CLI reads the environment.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { sha256hex } from '../digest.ts';
import { ConfigError } from './load.ts';
import { settingLabel } from './problems.ts';
import type { Config, KeyConfig } from './schema.ts';

type Env = Record<string, string | undefined>;

/** A configured key once its value is hashed: its id and plan, never the value. */
type ConfiguredKey = Pick<KeyConfig, 'id' | 'plan'>;
/** SHA-256 hex of a key value → the key. */
export type ConfiguredKeys = ReadonlyMap<string, ConfiguredKey>;
type SecretRef = NonNullable<KeyConfig['secret']>;
/** Reads the key value a Secrets Manager reference names. */
export type SecretFetcher = (ref: SecretRef) => Promise<string>;

/** A store section whose DynamoDB table may be named by the environment, with the name read. */
type WithTable<T> = T extends { tableFromEnv?: string } ? T & { table: string } : T;
export type KeyStoreSettings = WithTable<NonNullable<Config['keyStore']>>;
export type UsageSettings = WithTable<Config['usage']>;

export interface ResolvedConfig {
  /** The validated settings, frozen; AWS clients' regions filled in from the environment where the file names none. */
  readonly settings: Config;
  /** The configured keys (`keys:`) by the SHA-256 of their value. */
  readonly keys: ConfiguredKeys;
  /** Reads the keys' Secrets Manager values again (a rotated key); undefined when no key has one. */
  readonly reloadKeys: (() => Promise<ConfiguredKeys>) | undefined;
  /** SHA-256 of the admin token; undefined: the admin endpoints are off. */
  readonly adminDigest: string | undefined;
  /** The signing token of every source with `signing:`. */
  readonly signingTokens: Readonly<Record<string, string>>;
  /** `keyStore:` with its table named; undefined when there is none (or keys were not resolved). */
  readonly keyStore: KeyStoreSettings | undefined;
  /** `usage:` with its table named. */
  readonly usage: UsageSettings;
}

/** The value of a `…FromEnv` setting; an unset or empty variable is a problem naming the setting and the variable. */
function fromEnv(setting: string, variable: string, env: Env, problems: string[]): string | undefined {
  const value = env[variable];
  if (value) return value;
  problems.push(`${setting}: environment variable $${variable} is not set`);
  return undefined;
}

/** A source's signing token: `signing.token`, or the variable `signing.tokenFromEnv` names. */
export function signingToken(source: string, signing: { token?: string; tokenFromEnv?: string }, env: Env, problems: string[]): string | undefined {
  return signing.token ?? fromEnv(`sources.${source}.signing.tokenFromEnv`, signing.tokenFromEnv ?? '', env, problems);
}

/** SHA-256 of the admin token (token, tokenFromEnv or tokenSha256); undefined = admin off. */
export function adminDigest(admin: Config['admin'], env: Env, problems: string[]): string | undefined {
  if (!admin) return undefined;
  if (admin.tokenSha256) return admin.tokenSha256.toLowerCase();
  if (admin.token) return sha256hex(admin.token);
  if (!admin.tokenFromEnv) return undefined;
  const token = fromEnv('admin.tokenFromEnv', admin.tokenFromEnv, env, problems);
  return token === undefined ? undefined : sha256hex(token);
}

/** `keyStore:` with a DynamoDB table named by the environment read. */
export function keyStoreSettings(cfg: Config['keyStore'], env: Env, problems: string[]): KeyStoreSettings | undefined {
  if (cfg?.type !== 'dynamodb' || cfg.table) return cfg as KeyStoreSettings | undefined;
  const table = fromEnv('keyStore.tableFromEnv', cfg.tableFromEnv ?? '', env, problems);
  return table === undefined ? undefined : { ...cfg, table };
}

/** `usage:` with a DynamoDB table named by the environment read. */
export function usageSettings<T extends Config['usage']>(cfg: T, env: Env, problems: string[]): WithTable<T> | undefined {
  if (cfg.store !== 'dynamodb' || cfg.table) return cfg as WithTable<T>;
  const table = fromEnv('usage.tableFromEnv', cfg.tableFromEnv ?? '', env, problems);
  return table === undefined ? undefined : ({ ...cfg, table } as WithTable<T>);
}

/** Runs one of the readers above for a command that needs only that value: its problem is a ConfigError. */
export function readSetting<T>(read: (problems: string[]) => T): T {
  const problems: string[] = [];
  const value = read(problems);
  if (problems.length) throw new ConfigError('environment', problems);
  return value;
}

/** The region of an AWS client whose settings name none: AWS_REGION, AWS_DEFAULT_REGION, else us-east-1. */
function environmentRegion(env: Env): string {
  return env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1';
}

/** Reads `{"api_key": "…"}`-style JSON secrets from AWS Secrets Manager, one client per region and endpoint. */
export function secretsManagerFetcher(aws: Config['aws'], env: Env = process.env): SecretFetcher {
  const clients = new Map<string, SecretsManagerClient>();
  return async (ref) => {
    const region = ref.region ?? aws.region ?? environmentRegion(env);
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

/** A key's setting as problems name it: `keys.0.secret (key 'prod')`. */
function keyLabel(keys: readonly KeyConfig[], i: number, setting: string): string {
  return settingLabel(['keys', i, setting], { keys });
}

/**
 * Each configured key's SHA-256, in order: a hash from the file and a value from the
 * environment at once, a value from Secrets Manager as a promise (undefined without
 * `fetchSecret`, or on a problem).
 */
function keyHashes(keys: readonly KeyConfig[], env: Env, fetchSecret: SecretFetcher | undefined, problems: string[]): (string | Promise<string | undefined> | undefined)[] {
  return keys.map((k, i) => {
    if (k.sha256) return k.sha256.toLowerCase();
    if (k.valueFromEnv) {
      const value = fromEnv(keyLabel(keys, i, 'valueFromEnv'), k.valueFromEnv, env, problems);
      return value === undefined ? undefined : sha256hex(value);
    }
    if (!k.secret || !fetchSecret) return undefined;
    const ref = k.secret;
    return fetchSecret(ref).then(sha256hex, (err: unknown) => {
      problems.push(`${keyLabel(keys, i, 'secret')}: secret '${ref.id}': ${err instanceof Error ? err.message : String(err)}`);
      return undefined;
    });
  });
}

/**
 * Every configured key by the SHA-256 of its value: a hash from the file, a value from the
 * environment or a value from Secrets Manager (read in parallel). Two keys with one value are
 * a problem.
 */
async function resolveKeys(keys: readonly KeyConfig[], env: Env, fetchSecret: SecretFetcher, problems: string[]): Promise<Map<string, ConfiguredKey>> {
  const hashes = await Promise.all(keyHashes(keys, env, fetchSecret, problems));
  const byHash = new Map<string, ConfiguredKey>();
  hashes.forEach((hash, i) => {
    if (!hash) return;
    const k = keys[i]!;
    const other = byHash.get(hash);
    if (other) problems.push(`${keyLabel(keys, i, k.sha256 ? 'sha256' : k.valueFromEnv ? 'valueFromEnv' : 'secret')}: same value as key '${other.id}'`);
    else byHash.set(hash, { id: k.id, ...(k.plan ? { plan: k.plan } : {}) });
  });
  return byHash;
}

/** The values the `…FromEnv` settings other than the keys' name (keyStore only `withKeyStore`). */
function readEnvironment(config: Config, env: Env, problems: string[], withKeyStore: boolean) {
  const signingTokens: Record<string, string> = {};
  for (const [name, src] of Object.entries(config.sources)) {
    const token = src.signing && signingToken(name, src.signing, env, problems);
    if (token !== undefined) signingTokens[name] = token;
  }
  return {
    signingTokens,
    adminDigest: adminDigest(config.admin, env, problems),
    usage: usageSettings(config.usage, env, problems),
    keyStore: withKeyStore ? keyStoreSettings(config.keyStore, env, problems) : undefined,
  };
}

/** What reading the environment would find wrong, without reading any secret (check-config). */
export function environmentProblems(config: Config, env: Env): string[] {
  const problems: string[] = [];
  readEnvironment(config, env, problems, true);
  keyHashes(config.keys, env, undefined, problems);
  return problems;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

export interface ResolveOptions {
  /** The environment (default: this process's), read once: later changes are not seen. */
  env?: Env;
  /** How key values held in Secrets Manager are read (default: the AWS SDK). */
  fetchSecret?: SecretFetcher;
  /** Resolve the configured keys and the key store (false: the caller brings its own key look-up). */
  keys?: boolean;
}

/**
 * Resolves `config` (see the module comment): the resolved config, or a ConfigError listing
 * every problem found in the environment and the secrets.
 */
export async function resolveConfig(config: Config, options: ResolveOptions = {}): Promise<ResolvedConfig> {
  const env = { ...(options.env ?? process.env) };
  const withKeys = options.keys ?? true;
  // A copy: the caller's object stays as it was, the resolved one is frozen.
  const settings = structuredClone(config);
  const fetchSecret = options.fetchSecret ?? secretsManagerFetcher(settings.aws, env);
  const problems: string[] = [];
  const fromEnvironment = readEnvironment(settings, env, problems, withKeys);
  const keys = withKeys ? await resolveKeys(settings.keys, env, fetchSecret, problems) : new Map<string, ConfiguredKey>();
  const { usage } = fromEnvironment;
  if (problems.length || !usage) throw new ConfigError('environment and secrets', problems);

  const region = environmentRegion(env);
  settings.aws.region ??= region;
  for (const src of Object.values(settings.sources)) if (src.type === 's3') src.region ??= region;
  if (settings.cache.persistent?.type === 's3') settings.cache.persistent.region ??= region;

  const reloadKeys =
    withKeys && settings.keys.some((k) => k.secret)
      ? async () => {
          const again: string[] = [];
          const map = await resolveKeys(settings.keys, env, fetchSecret, again);
          if (again.length) throw new ConfigError('secrets', again);
          return map;
        }
      : undefined;
  const resolved: ResolvedConfig = { ...fromEnvironment, usage, settings, keys, reloadKeys };
  return deepFreeze(resolved);
}
