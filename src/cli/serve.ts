import { ConfigError, loadConfigFile } from '../config/load.ts';
import { devConfig } from '../config/defaults.ts';
import type { Config } from '../config/schema.ts';
import { startServer } from '../server.ts';
import { configureSharp } from '../runtime.ts';
import { parseCommandArgs } from './args.ts';

export const help = `Usage: imagegate serve [--config FILE] [--port N] [--host ADDR] [--dev]

Run the HTTP server.

Options:
  --config FILE  YAML config (default: $IMAGEGATE_CONFIG)
  --port N       listen port (default: $PORT, then server.port, then 8080)
  --host ADDR    listen address (default: server.host, 0.0.0.0)
  --dev          embedded development defaults: the bundled sample folder and a printed
                 development key (used when no config is given)
  -h, --help     this help`;

export async function run(argv: string[]): Promise<number> {
  const args = parseCommandArgs(argv, { config: { type: 'string' }, port: { type: 'string' }, host: { type: 'string' }, dev: { type: 'boolean' } }, help);
  if (args.exit !== undefined) return args.exit;
  const { values } = args;
  const file = (values.config as string | undefined) ?? process.env.IMAGEGATE_CONFIG;
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
        `  admin token:         ${dev.adminToken}`,
      ];
    } else {
      console.error(`imagegate serve: no config; pass --config FILE, set IMAGEGATE_CONFIG, or use --dev\n\n${help}`);
      return 2;
    }
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      return 1;
    }
    throw err;
  }
  const portText = (values.port as string | undefined) ?? process.env.PORT;
  const port = portText === undefined ? undefined : Number(portText);
  if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65535)) {
    console.error(`--port: expected an integer from 0 to 65535, got '${portText}'`);
    return 2;
  }
  configureSharp();
  let server;
  try {
    server = await startServer(config, { port, host: values.host as string | undefined });
  } catch (err) {
    console.error(`imagegate serve: ${(err as Error).message}`);
    return 1;
  }
  for (const line of banner) console.log(line);
  console.log(`imagegate listening on ${server.url}${config.server.basePath || ''}/`);
  if (server.metricsUrl) console.log(`metrics and OpenAPI document on ${server.metricsUrl}/_metrics, ${server.metricsUrl}/_openapi.json`);
  if (banner.length) console.log(`  try: curl -H 'X-API-Key: <development API key>' '${server.url}/sample.jpg?w=400' -o out.jpg`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      server.close().then(resolve, resolve);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  return 0;
}
