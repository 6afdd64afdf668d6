import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { configSchema, type Config } from './schema.ts';

/** Start-up configuration failure: every problem, each naming its setting. */
export class ConfigError extends Error {
  readonly problems: string[];
  constructor(source: string, problems: string[]) {
    super(`invalid configuration (${source}):\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** Validate a plain object; relative fs roots resolve against `baseDir`. */
export function parseConfig(raw: unknown, options: { baseDir?: string; source?: string } = {}): Config {
  const result = configSchema.safeParse(raw ?? {});
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const where = issue.path.length ? issue.path.map(String).join('.') : '(root)';
      return `${where}: ${issue.message}`;
    });
    throw new ConfigError(options.source ?? 'config', problems);
  }
  const cfg = result.data;
  const baseDir = options.baseDir ?? process.cwd();
  for (const src of Object.values(cfg.sources)) {
    if (src.type === 'fs') src.root = path.resolve(baseDir, src.root);
  }
  if (cfg.keyStore?.type === 'file') cfg.keyStore.path = path.resolve(baseDir, cfg.keyStore.path);
  if (cfg.cache.persistent?.type === 'fs') cfg.cache.persistent.dir = path.resolve(baseDir, cfg.cache.persistent.dir);
  return cfg;
}

/** Read and validate a YAML (or JSON) config file. */
export function loadConfigFile(file: string): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [`cannot read file: ${(err as Error).message}`]);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new ConfigError(file, [`not valid YAML: ${(err as Error).message}`]);
  }
  return parseConfig(raw, { baseDir: path.dirname(path.resolve(file)), source: file });
}
