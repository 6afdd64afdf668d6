/**
 * `imagegate <command>`: one binary, `--help` on every command, exit codes scripts can use
 * (0 ok, 1 failure, 2 bad usage).
 */
export interface Command {
  help: string;
  run(argv: string[]): Promise<number>;
}

const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  serve: { summary: 'run the HTTP server', load: () => import('./serve.ts') },
  'check-config': { summary: 'validate a config file and explain it', load: () => import('./check-config.ts') },
  keys: { summary: 'create, list, revoke and rotate API keys', load: () => import('./keys.ts') },
  usage: { summary: 'usage records per key and day', load: () => import('./usage.ts') },
  sign: { summary: 'sign a URL with a source token', load: () => import('./sign.ts') },
  warm: { summary: 'render derivatives of a prefix into the result cache', load: () => import('./warm.ts') },
  infra: { summary: 'AWS helpers (bucket policy for cross-account sources, API key slot renewal)', load: () => import('./infra.ts') },
};

function mainHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((k) => k.length));
  return [
    'Usage: imagegate <command> [options]',
    '',
    'Commands:',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    '',
    'Run `imagegate <command> --help` for the options of a command.',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(mainHelp());
    return name ? 0 : 2;
  }
  if (name === '--version' || name === '-v') {
    const { createRequire } = await import('node:module');
    console.log(createRequire(import.meta.url)('../../package.json').version);
    return 0;
  }
  const entry = COMMANDS[name];
  if (!entry) {
    console.error(`imagegate: unknown command '${name}'\n\n${mainHelp()}`);
    return 2;
  }
  const cmd = await entry.load();
  return cmd.run(rest);
}
