import { serve, type ServerType } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import type { Config } from './config/schema.ts';
import { createLogger } from './log.ts';
import { createApp, type AppOptions, type ImagegateApp } from './http/app.ts';

export interface RunningServer {
  url: string;
  port: number;
  /** The metrics listener (`server.metrics`), when configured. */
  metricsUrl?: string;
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
  const metricsListener = await startMetricsListener(config, imagegate);
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: imagegate.app.fetch, port, hostname: host }, (info: AddressInfo) => {
      resolve({
        url: listenUrl(host, info.port),
        port: info.port,
        metricsUrl: metricsListener?.url,
        imagegate,
        close: () =>
          Promise.all([stopListening(server), metricsListener?.close()]).then(() => imagegate.close()),
      });
    });
    server.on('error', (err) => {
      void Promise.resolve(metricsListener?.close()).then(() => reject(err));
    });
  });
}

/**
 * The metrics listener (`server.metrics: { host, port }`): `/_metrics` and `/_openapi.json`
 * without a token on an address of their own (as imgproxy's `PROMETHEUS_BIND`), so that the
 * image listener need not serve them at all.
 */
async function startMetricsListener(config: Config, imagegate: ImagegateApp): Promise<{ url: string; close(): Promise<void> } | undefined> {
  const listen = config.server.metrics;
  if (!listen) return undefined;
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: imagegate.internal.fetch, port: listen.port, hostname: listen.host }, (info: AddressInfo) =>
      resolve({ url: listenUrl(listen.host, info.port), close: () => stopListening(server) }),
    );
    server.on('error', reject);
  });
}

/** The URL to print for a listener (a wildcard address is shown as loopback). */
function listenUrl(host: string, port: number): string {
  const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return `http://${shown.includes(':') ? `[${shown}]` : shown}:${port}`;
}

function stopListening(server: ServerType): Promise<void> {
  return new Promise<void>((done) => {
    server.close(() => done());
    (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
  });
}
