import { ConfigError, drainTime, loadConfigFile } from '../config/load.ts';
import { devConfig, StateDirError } from '../config/defaults.ts';
import type { Config } from '../config/schema.ts';
import { startServer } from '../server.ts';
import { configureSharp } from '../runtime.ts';
import { integerOption, parseCommandArgs } from './args.ts';

export const help = `Usage: imagegate serve [--config FILE] [--port N] [--host ADDR] [--dev]

Run the HTTP server. SIGTERM or SIGINT drains it: /_ready answers 503, no new connections
are accepted, requests in flight finish (up to server.drainMs), then it exits 0; a second
signal exits at once.

Options:
  --config FILE  YAML config (default: $IMAGEGATE_CONFIG)
  --port N       listen port (default: $IMAGEGATE_SERVER_PORT, $PORT, server.port, 8080)
  --host ADDR    listen address (default: $IMAGEGATE_SERVER_HOST, server.host: 0.0.0.0;
                 127.0.0.1 with --dev)
  --dev          embedded development defaults: the bundled sample folder, loopback only,
                 and a printed development key (used when no config is given)
  -h, --help     this help

Settings also come from the environment (IMAGEGATE_LOG_LEVEL, IMAGEGATE_USAGE_REDIS_URL, …;
see \`imagegate check-config\`).`;

export async function run(argv: string[]): Promise<number> {
  const args = parseCommandArgs(argv, { config: { type: 'string' }, port: { type: 'string' }, host: { type: 'string' }, dev: { type: 'boolean' } }, help, false, 'serve');
  if (args.exit !== undefined) return args.exit;
  const { values } = args;
  const file = (values.config as string | undefined) || process.env.IMAGEGATE_CONFIG;
  let config: Config;
  let banner: string[] = [];
  try {
    if (file) config = loadConfigFile(file);
    else if (values.dev) {
      const dev = devConfig();
      config = dev.config;
      banner = [
        'imagegate development server (embedded defaults: examples/images)',
        `  development API key: ${dev.devKey}`,
        `  admin token:         ${process.env.IMAGEGATE_ADMIN_TOKEN ? '(from IMAGEGATE_ADMIN_TOKEN)' : dev.adminToken}`,
        `  (kept in ${dev.stateDir})`,
      ];
    } else {
      console.error(`imagegate serve: no config; pass --config FILE, set IMAGEGATE_CONFIG, or use --dev\n\n${help}`);
      return 2;
    }
  } catch (err) {
    if (err instanceof ConfigError || err instanceof StateDirError) {
      console.error(err instanceof StateDirError ? `imagegate serve: ${err.message}` : err.message);
      return 1;
    }
    throw err;
  }
  let port: number | undefined;
  try {
    port = integerOption('port', values.port as string | undefined, 0, 65535);
  } catch (err) {
    console.error(`serve: ${(err as Error).message}`);
    return 2;
  }
  configureSharp({}, process.env);
  let server;
  try {
    server = await startServer(config, { port, host: values.host as string | undefined });
  } catch (err) {
    // What the settings name (variables, secrets) is read as the app starts: every problem at once.
    if (err instanceof ConfigError) {
      console.error(err.message);
      return 1;
    }
    const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
    const why = e.code === 'EADDRINUSE' ? 'the address is already in use' : e.code === 'EACCES' ? 'permission denied (ports below 1024 need privileges)' : e.message;
    const where = e.address !== undefined ? ` on ${e.address}:${e.port}` : '';
    console.error(`imagegate serve: cannot listen${where}: ${why}`);
    return 1;
  }
  for (const line of banner) console.log(line);
  const everywhere = server.address !== server.url;
  console.log(
    `imagegate listening on ${server.address}${config.server.basePath || ''}/` +
      (everywhere ? ` (every interface; from this machine: ${server.url}${config.server.basePath || ''}/)` : ''),
  );
  if (server.metricsUrl) console.log(`metrics and OpenAPI document on ${server.metricsUrl}/_metrics, ${server.metricsUrl}/_openapi.json`);
  if (banner.length) console.log(`  try: curl -H 'X-API-Key: <development API key>' '${server.url}/sample.jpg?w=400' -o out.jpg`);
  const log = server.imagegate.logger;
  // Exit as soon as the drain is over, even if a cut request's work is still running.
  const exit = (code: number) => log.flush(() => process.exit(code));
  return new Promise<number>(() => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        log.warn({ signal }, 'second signal: exiting at once');
        return exit(1);
      }
      stopping = true;
      const ms = drainTime(config);
      log.info({ signal, drainMs: ms }, 'draining: not ready, no new connections, finishing requests in flight (a second signal exits at once)');
      server.drain(ms).then(
        ({ cut }) => {
          if (cut) log.warn({ cut, drainMs: ms }, 'drain time ran out: requests in flight were cut');
          else log.info('drained: every request in flight finished');
          exit(cut ? 1 : 0);
        },
        (err) => {
          log.error({ err }, 'drain failed');
          exit(1);
        },
      );
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
