/**
 * The environment's part of the configuration: `${VAR}` references inside the YAML file and
 * `IMAGEGATE_*` variables that override settings (a container's usual way to configure).
 * Both work on the raw tree before validation and remember where each value came from, so
 * `check-config` can say it and a bad value's problem names its variable.
 */

type Env = Record<string, string | undefined>;
type Tree = Record<string, unknown>;

/** Where a setting's value came from, when not from the file itself or the schema's default. */
export type Origins = Map<string, string>;

export interface EnvSetting {
  env: string;
  /** Dotted setting path. */
  path: string;
  type: 'string' | 'int' | 'bool';
  /** Other settings made consistent with this one: a value, or undefined to remove it. */
  also?: Record<string, unknown>;
  /** Only where the file leaves the setting unset (a value the deployment provides, not an override). */
  fallback?: true;
}

/**
 * Variables that override settings, applied in this order (a later one wins): `PORT` is what
 * hosting platforms set, `IMAGEGATE_SERVER_PORT` wins over it. Documented in the README.
 */
export const ENV_SETTINGS: readonly EnvSetting[] = [
  { env: 'IMAGEGATE_SERVER_HOST', path: 'server.host', type: 'string' },
  { env: 'PORT', path: 'server.port', type: 'int' },
  { env: 'IMAGEGATE_SERVER_PORT', path: 'server.port', type: 'int' },
  { env: 'IMAGEGATE_SERVER_BASE_PATH', path: 'server.basePath', type: 'string' },
  { env: 'IMAGEGATE_SERVER_DRAIN_MS', path: 'server.drainMs', type: 'int' },
  { env: 'IMAGEGATE_LOG_LEVEL', path: 'server.logLevel', type: 'string' },
  { env: 'IMAGEGATE_USAGE_STORE', path: 'usage.store', type: 'string' },
  { env: 'IMAGEGATE_USAGE_REDIS_URL', path: 'usage.url', type: 'string', also: { 'usage.store': 'redis' } },
  { env: 'IMAGEGATE_USAGE_ON_UNAVAILABLE', path: 'usage.onUnavailable', type: 'string' },
  { env: 'IMAGEGATE_KEY_STORE_REDIS_URL', path: 'keyStore.url', type: 'string', also: { 'keyStore.type': 'redis', 'keyStore.path': undefined } },
  { env: 'IMAGEGATE_KEY_STORE_FILE', path: 'keyStore.path', type: 'string', also: { 'keyStore.type': 'file', 'keyStore.url': undefined, 'keyStore.prefix': undefined } },
  { env: 'IMAGEGATE_CACHE_ENABLED', path: 'cache.enabled', type: 'bool' },
  { env: 'IMAGEGATE_CACHE_MEMORY_MAX_BYTES', path: 'cache.memory.maxBytes', type: 'int' },
  {
    env: 'IMAGEGATE_CACHE_DIR',
    path: 'cache.persistent.dir',
    type: 'string',
    also: { 'cache.persistent.type': 'fs', 'cache.persistent.bucket': undefined, 'cache.persistent.prefix': undefined, 'cache.persistent.region': undefined, 'cache.persistent.endpoint': undefined, 'cache.persistent.forcePathStyle': undefined, 'cache.persistent.timeoutMs': undefined },
  },
  { env: 'IMAGEGATE_ADMIN_TOKEN', path: 'admin.token', type: 'string', also: { 'admin.tokenFromEnv': undefined, 'admin.tokenSha256': undefined } },
  { env: 'IMAGEGATE_LIMITS_CONCURRENCY', path: 'limits.concurrency', type: 'int' },
  { env: 'IMAGEGATE_LIMITS_QUEUE', path: 'limits.queue', type: 'int' },
  { env: 'IMAGEGATE_LIMITS_DEADLINE_MS', path: 'limits.deadlineMs', type: 'int' },
  // The CDK app sets it on the Lambda to the bucket it creates.
  { env: 'IMAGEGATE_LARGE_RESPONSE_BUCKET', path: 'lambda.largeResponseBucket', type: 'string', fallback: true },
];

function isTree(v: unknown): v is Tree {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The value at a dotted path, undefined when a section on the way is missing. */
function getPath(root: Tree, dotted: string): unknown {
  let node: unknown = root;
  for (const p of dotted.split('.')) node = isTree(node) ? node[p] : undefined;
  return node;
}

/** Sets (or with `undefined` removes) a dotted path, creating missing sections; false when a parent is not a section. */
function setPath(root: Tree, dotted: string, value: unknown): boolean {
  const parts = dotted.split('.');
  let node = root;
  for (const p of parts.slice(0, -1)) {
    if (node[p] === undefined || node[p] === null) {
      if (value === undefined) return true;
      node[p] = {};
    }
    if (!isTree(node[p])) return false;
    node = node[p] as Tree;
  }
  const last = parts[parts.length - 1];
  if (value === undefined) delete node[last];
  else node[last] = value;
  return true;
}

function convert(type: EnvSetting['type'], text: string): unknown {
  const t = text.trim();
  if (type === 'int') return /^-?\d+$/.test(t) ? Number(t) : text;
  if (type === 'bool') {
    if (/^(true|1|yes|on)$/i.test(t)) return true;
    if (/^(false|0|no|off)$/i.test(t)) return false;
    return text;
  }
  return text;
}

/**
 * Applies the `IMAGEGATE_*` overrides (and `PORT`) to a raw config tree, in place; a fallback
 * only where the file is silent. An empty variable counts as unset. Returns the origins of what
 * it set.
 */
export function applyEnvOverrides(raw: Tree, env: Env, origins: Origins = new Map()): Origins {
  for (const s of ENV_SETTINGS) {
    const text = env[s.env];
    if (text === undefined || text === '') continue;
    if (s.fallback && getPath(raw, s.path) !== undefined) continue;
    if (!setPath(raw, s.path, convert(s.type, text))) continue;
    origins.set(s.path, `env ${s.env}`);
    for (const [p, v] of Object.entries(s.also ?? {})) {
      setPath(raw, p, v);
      if (v === undefined) origins.delete(p);
      else origins.set(p, `env ${s.env}`);
    }
  }
  return origins;
}

const REFERENCE = /\$\$|\$\{([^}]*)\}/g;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export interface Interpolation {
  /** One message per setting whose reference could not be resolved. */
  problems: { path: string; message: string }[];
  origins: Origins;
  /** Settings whose whole value was one reference: typed by what the setting expects (see typeWholeReferences). */
  whole: (string | number)[][];
}

/**
 * Replaces `${VAR}` and `${VAR:-default}` in every string value of the tree, in place (`$$` is a
 * literal `$`). An unset variable without a default is a problem naming the setting; an empty
 * one counts as unset for `:-`.
 */
export function interpolate(raw: unknown, env: Env): Interpolation {
  const problems: Interpolation['problems'] = [];
  const origins: Origins = new Map();
  const whole: Interpolation['whole'] = [];
  const visit = (node: unknown, at: (string | number)[]): unknown => {
    const path = at.join('.');
    if (Array.isArray(node)) return node.map((v, i) => visit(v, [...at, i]));
    if (isTree(node)) {
      for (const [k, v] of Object.entries(node)) node[k] = visit(v, [...at, k]);
      return node;
    }
    if (typeof node !== 'string' || !node.includes('$')) return node;
    const used: string[] = [];
    let entire = false;
    const out = node.replace(REFERENCE, (all, inner: string | undefined, offset: number) => {
      if (all === '$$') return '$';
      const sep = inner!.indexOf(':-');
      const name = sep === -1 ? inner! : inner!.slice(0, sep);
      if (!NAME.test(name)) {
        problems.push({ path, message: `'${all}' is not a reference: write \${NAME} or \${NAME:-default}` });
        return all;
      }
      entire = offset === 0 && all.length === node.length;
      const value = env[name];
      if (value !== undefined && (value !== '' || sep === -1)) {
        used.push(`\${${name}}`);
        return value;
      }
      if (sep !== -1) {
        used.push(`\${${name}:-…} default`);
        return inner!.slice(sep + 2);
      }
      problems.push({ path, message: `\${${name}} is not set (write \${${name}:-default} to give a default)` });
      return '';
    });
    if (used.length) origins.set(path, `file, ${used.join(', ')}`);
    if (entire) whole.push(at);
    return out;
  };
  visit(raw, []);
  return { problems, origins, whole };
}

/**
 * A setting whose whole value is one reference (`port: ${PORT:-8080}`) takes the type the
 * setting expects: a number or a boolean where the schema wants one, text everywhere else (a
 * token `0123` stays text). `expects` says what the schema wants at a path.
 */
export function typeWholeReferences(raw: unknown, paths: (string | number)[][], expects: (path: (string | number)[]) => string | undefined): void {
  for (const p of paths) {
    let parent = raw as Record<string | number, unknown>;
    for (const seg of p.slice(0, -1)) parent = parent[seg] as Record<string | number, unknown>;
    const last = p[p.length - 1];
    const text = String(parent[last]).trim();
    const type = expects(p);
    if (type === 'number' && /^-?\d+(\.\d+)?$/.test(text)) parent[last] = Number(text);
    else if (type === 'boolean' && (text === 'true' || text === 'false')) parent[last] = text === 'true';
  }
}
