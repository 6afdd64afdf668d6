/** Starts the real server (createApp on @hono/node-server) on a free loopback port for browser tests. */
import type { Config } from '../../src/config/schema.ts';
import { startServer, type RunningServer } from '../../src/server.ts';
import { freePort } from '../helpers/services.ts';

export async function startUiServer(config: Config): Promise<RunningServer> {
  return startServer(config, { port: await freePort(), host: '127.0.0.1' });
}
