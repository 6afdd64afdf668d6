import { parseArgs, type ParseArgsConfig } from 'node:util';

type ParsedCommand =
  | { exit: number; values?: undefined; positionals?: undefined }
  | { exit?: undefined; values: Record<string, string | boolean | string[] | undefined>; positionals: string[] };

/**
 * parseArgs with the CLI's conventions: `--help` prints help (exit 0); a usage error prints it
 * too (exit 2). An option declared `multiple` accumulates (`--prefix a --prefix b`); any other
 * option given twice is a usage error rather than a silent "last one wins".
 */
export function parseCommandArgs(
  argv: string[],
  options: NonNullable<ParseArgsConfig['options']>,
  help: string,
  allowPositionals = false,
  /** Prefix of usage-error messages, e.g. `sign`. */
  name?: string,
): ParsedCommand {
  try {
    const parsed = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals, strict: true, tokens: true });
    const seen = new Set<string>();
    for (const t of parsed.tokens) {
      if (t.kind !== 'option' || options[t.name]?.multiple) continue;
      if (seen.has(t.name)) throw new Error(`--${t.name} given more than once`);
      seen.add(t.name);
    }
    if (parsed.values.help) {
      console.log(help);
      return { exit: 0 };
    }
    return { values: parsed.values as Record<string, string | boolean | string[] | undefined>, positionals: parsed.positionals };
  } catch (err) {
    console.error(`${name ? `${name}: ` : ''}${(err as Error).message}\n\n${help}`);
    return { exit: 2 };
  }
}

/**
 * An integer option's value, or undefined when the option is absent. Anything but an integer
 * from `min` (to `max`) throws an Error naming the option, e.g. `--limit: expected a positive
 * integer, got 'x'`, for the command to report as a usage error.
 */
export function integerOption(name: string, text: string | undefined, min: number, max?: number): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (/^\d+$/.test(text) && n >= min && (max === undefined || n <= max)) return n;
  const expected = max !== undefined ? `an integer from ${min} to ${max}` : min === 1 ? 'a positive integer' : `an integer of at least ${min}`;
  throw new Error(`--${name}: expected ${expected}, got '${text}'`);
}
