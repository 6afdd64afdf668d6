import { ConfigError } from './load.ts';

/**
 * The value of a `…FromEnv` setting (`keys[].valueFromEnv`, `admin.tokenFromEnv`,
 * `sources.*.signing.tokenFromEnv`), read once at start-up. All three fail the same way when the
 * variable is unset or empty: a ConfigError naming the setting and the variable (never a value).
 */
export function settingFromEnv(setting: string, variable: string, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[variable];
  if (!value) throw new ConfigError('environment', [missingEnv(setting, variable)]);
  return value;
}

/** The problem line for a `…FromEnv` setting whose variable is unset or empty. */
export function missingEnv(setting: string, variable: string): string {
  return `${setting}: environment variable $${variable} is not set`;
}
