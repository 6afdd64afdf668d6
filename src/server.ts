import { serve, type ServerType } from '@hono/node-server';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config } from './config/schema.ts';
import { drainTime } from './config/load.ts';
import { createLogger } from './log.ts';
import { createApp, type AppOptions, type ImagegateApp } from './http/app.ts';
import { nodeListener } from './http/node.ts';

export interface RunningServer {
  /** A URL this machine reaches the server at (loopback when bound to every interface). */
  url: string;
  /** The address really bound, e.g. `http://0.0.0.0:8080` or `http://127.0.0.1:8080`. */
  address: string;
  port: number;
  /** The metrics listener (`server.metrics`), when configured. */
  metricsUrl?: string;
  imagegate: ImagegateApp;
  /** Stop at once: every connection is cut. */
  close(): Promise<void>;
  /**
   * Stop gracefully: readiness turns 503, the listener stops accepting, idle keep-alive
   * connections close, requests in flight finish (at most `drainMs`, then they are cut), then
   * the app closes (usage records flushed). Resolves with the number of requests cut.
   */
  drain(drainMs?: number): Promise<{ cut: number }>;
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
  const inFlight = new Set<ServerResponse>();
  let draining: Promise<{ cut: number }> | undefined;
  return new Promise((resolve, reject) => {
    const server = createServer(nodeListener(imagegate));
    server.listen(port, host, () => {
      const info = server.address() as AddressInfo;
      imagegate.readiness.start().catch(() => {});
      resolve({
        url: listenUrl(info.address, info.port),
        address: `http://${info.address.includes(':') ? `[${info.address}]` : info.address}:${info.port}`,
        port: info.port,
        metricsUrl: metricsListener?.url,
        imagegate,
        close: () => {
          imagegate.readiness.drain();
          return Promise.all([stopListening(server), metricsListener?.close()]).then(() => imagegate.close());
        },
        drain: (drainMs = drainTime(config)) =>
          (draining ??= (async () => {
            imagegate.readiness.drain();
            // Responses not yet started tell their client the connection ends with them.
            for (const res of inFlight) if (!res.headersSent) res.setHeader('Connection', 'close');
            const closed = new Promise<void>((done) => server.close(() => done()));
            http.closeIdleConnections();
            let timer: NodeJS.Timeout | undefined;
            const timedOut = await Promise.race([
              closed.then(() => false),
              new Promise<boolean>((done) => (timer = setTimeout(() => done(true), drainMs))),
            ]);
            clearTimeout(timer);
            const cut = timedOut ? inFlight.size : 0;
            if (timedOut) http.closeAllConnections();
            await Promise.all([closed, metricsListener?.close()]);
            await imagegate.close();
            return { cut };
          })()),
      });
    });
    const http: Server = server;
    // One listener function for every response (a response closes once): no closure per request.
    function closed(this: ServerResponse): void {
      inFlight.delete(this);
      // A keep-alive connection that just went idle during a drain is closed now.
      if (draining) http.closeIdleConnections();
    }
    http.on('request', (_req, res: ServerResponse) => {
      inFlight.add(res);
      if (draining) res.setHeader('Connection', 'close');
      res.on('close', closed);
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
