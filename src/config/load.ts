import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { configSchema, type Config } from './schema.ts';
import { applyEnvOverrides, interpolate, typeWholeReferences, type Origins } from './env.ts';
import { describeIssues, expectedKind, referenceProblems } from './problems.ts';

/** Start-up configuration failure: every problem, each naming its setting. */
export class ConfigError extends Error {
  readonly problems: string[];
  constructor(source: string, problems: string[]) {
    super(`invalid configuration (${source}):\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

type Env = Record<string, string | undefined>;

export interface ConfigOptions {
  /** Folder relative paths of the file resolve against (default: the working directory). */
  baseDir?: string;
  /** Named in the error (the file, or what the values are). */
  source?: string;
  /** Apply the `IMAGEGATE_*` / `PORT` overrides from this environment (none when absent). */
  env?: Env;
}

/** A configuration as validated, or every problem with it, and where each value came from. */
export interface Inspection {
  config?: Config;
  problems: string[];
  /** The tree that was validated: the file after `${VAR}` references and overrides. */
  raw: unknown;
  /** Setting path → `env VAR` or `file, ${VAR}`; a path not here is from the file or the default. */
  origins: Origins;
}

function validate(raw: unknown, options: ConfigOptions, origins: Origins, earlier: { path: string; message: string }[]): Inspection {
  const tree = raw ?? {};
  if (options.env && typeof tree === 'object' && !Array.isArray(tree)) applyEnvOverrides(tree as Record<string, unknown>, options.env, origins);
  const result = configSchema.safeParse(tree);
  const broken = new Set(earlier.map((p) => p.path));
  const found = [
    ...earlier.map((p) => `${p.path}: ${p.message}`),
    ...(result.success ? [] : describeIssues(result.error.issues, configSchema, tree).filter((p) => !broken.has(p.path)).map((p) => p.message)),
    ...referenceProblems(tree).map((p) => p.message),
  ].map((p) =>
    // A problem with a value from the environment names the variable.
    p.replace(/^([^\s:]+)/, (setting: string) => {
      const from = origins.get(setting);
      return from ? `${setting} (from ${from.replace(/^file, /, '')})` : setting;
    }),
  );
  if (!result.success || found.length) return { problems: found, raw: tree, origins };
  const cfg = result.data;
  const baseDir = options.baseDir ?? process.cwd();
  // Paths from the file resolve against its folder; paths from the environment against the working directory.
  const resolve = (setting: string, p: string) => path.resolve(origins.get(setting)?.startsWith('env ') ? process.cwd() : baseDir, p);
  for (const [name, src] of Object.entries(cfg.sources)) {
    if (src.type === 'fs') src.root = resolve(`sources.${name}.root`, src.root);
  }
  if (cfg.keyStore?.type === 'file') cfg.keyStore.path = resolve('keyStore.path', cfg.keyStore.path);
  if (cfg.cache.persistent?.type === 'fs') cfg.cache.persistent.dir = resolve('cache.persistent.dir', cfg.cache.persistent.dir);
  return { config: cfg, problems: [], raw: tree, origins };
}

/** How long a drain waits for requests in flight: `server.drainMs`, by default longer than a render may take. */
export function drainTime(config: Config): number {
  return config.server.drainMs ?? config.limits.deadlineMs + 5_000;
}

/** Validate a plain object; relative fs roots resolve against `baseDir`. */
export function parseConfig(raw: unknown, options: ConfigOptions = {}): Config {
  const r = validate(raw, options, new Map(), []);
  if (!r.config) throw new ConfigError(options.source ?? 'config', r.problems);
  return r.config;
}

/**
 * Read a YAML (or JSON) file, resolve its `${VAR}` references, apply the environment's
 * overrides and validate: the configuration or every problem with it, in one pass.
 */
export function inspectConfigFile(file: string, env: Env = process.env): Inspection {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return { problems: [`cannot read file: ${e.code === 'ENOENT' ? 'no such file' : e.message}`], raw: undefined, origins: new Map() };
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    return { problems: [`not valid YAML: ${(err as Error).message}`], raw: undefined, origins: new Map() };
  }
  if (raw !== null && raw !== undefined && (typeof raw !== 'object' || Array.isArray(raw))) {
    return { problems: ['(top level): expected a section of settings (server:, sources:, routes:, …)'], raw, origins: new Map() };
  }
  const refs = interpolate(raw, env);
  typeWholeReferences(raw, refs.whole, (p) => expectedKind(configSchema, p, raw));
  return validate(raw, { baseDir: path.dirname(path.resolve(file)), source: file, env }, refs.origins, refs.problems);
}

/** The Lambda's config: the file `$IMAGEGATE_CONFIG` names (default ./imagegate.yaml), as loadConfigFile reads it. */
export function loadDeployedConfig(env: Env = process.env): Config {
  return loadConfigFile(env.IMAGEGATE_CONFIG ?? 'imagegate.yaml', env);
}

/** Read and validate a config file (see inspectConfigFile); throws ConfigError listing every problem. */
export function loadConfigFile(file: string, env: Env = process.env): Config {
  const r = inspectConfigFile(file, env);
  if (!r.config) throw new ConfigError(file, r.problems);
  return r.config;
}
