import { serve } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import type { Config } from './config/schema.ts';
import { createLogger } from './log.ts';
import { createApp, type AppOptions, type ImagegateApp } from './http/app.ts';

export interface RunningServer {
  url: string;
  port: number;
  imagegate: ImagegateApp;
  close(): Promise<void>;
}

/** Start the Node server for a validated config; `port: 0` picks a free port. */
export async function startServer(
  config: Config,
  listen: { port?: number; host?: string } = {},
  options: AppOptions = {},
): Promise<RunningServer> {
  const imagegate = await createApp(config, { ...options, logger: options.logger ?? createLogger(config.server.logLevel, { buffered: true }) });
  const host = listen.host ?? config.server.host;
  const port = listen.port ?? config.server.port;
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: imagegate.app.fetch, port, hostname: host }, (info: AddressInfo) => {
      const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
      resolve({
        url: `http://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${info.port}`,
        port: info.port,
        imagegate,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
          }).then(() => imagegate.close()),
      });
    });
    server.on('error', reject);
  });
}
