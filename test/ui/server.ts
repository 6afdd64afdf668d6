/**
 * Starts the real app on a free loopback port for browser tests. The dashboard, stats and
 * OpenAPI routes are mounted by createApp; should a build lack them, they are mounted here
 * around the app the same way, so the page can still be exercised against the real image
 * route and usage records.
 */
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import type { AddressInfo } from 'node:net';
import type { Config } from '../../src/config/schema.ts';
import { createApp, type ImagegateApp } from '../../src/http/app.ts';
import type { AppEnv } from '../../src/http/context.ts';
import { adminGuard, adminTokenDigest } from '../../src/http/admin.ts';
import { dashboardPage, dashboardRoutes } from '../../src/http/dashboard.ts';
import { openApiDocument } from '../../src/http/openapi.ts';
import { RequestStats, statsMiddleware } from '../../src/http/stats.ts';
import { freePort } from '../helpers/services.ts';
import { ServiceError } from '../../src/errors.ts';
import { createUsageService } from '../../src/usage/index.ts';
import { adminUsageHandler } from '../../src/http/usage.ts';

export interface UiServer {
  url: string;
  imagegate: ImagegateApp;
  /** True when createApp itself mounts the dashboard (no wrapping here). */
  mountedByApp: boolean;
  close(): Promise<void>;
}

export async function startUiServer(config: Config, adminToken: string): Promise<UiServer> {
  const imagegate = await createApp(config);
  const probe = await imagegate.app.request('/_admin/stats', { headers: { Authorization: `Bearer ${adminToken}` } });
  const mountedByApp = probe.status === 200;
  let fetchFn = imagegate.app.fetch;
  if (!mountedByApp) {
    const outer = new Hono<AppEnv>();
    outer.onError((err, c) => {
      if (err instanceof ServiceError) return c.json({ message: err.publicMessage, code: err.code }, err.status as 400, err.headers);
      return c.json({ message: 'Internal server error' }, 500);
    });
    const stats = new RequestStats();
    outer.use('*', statsMiddleware(stats));
    const usageProbe = await imagegate.app.request('/_admin/usage', { headers: { Authorization: `Bearer ${adminToken}` } });
    if (usageProbe.status === 404) {
      // Usage records are not wired in this build: count keyed requests around the app.
      const usage = createUsageService(config.usage);
      outer.use('*', async (c, next) => {
        await next();
        const key = c.get('apiKey');
        const s = c.res.status;
        if (key) usage.record(key.id, { requests: 1, ...(s >= 500 ? { s5xx: 1 } : s >= 400 ? { s4xx: 1 } : s >= 300 ? { s3xx: 1 } : { s2xx: 1 }) });
      });
      outer.use('/_admin/usage', adminGuard(adminTokenDigest(config.admin)));
      outer.get('/_admin/usage', adminUsageHandler(usage));
    }
    outer.route('/', dashboardPage(config));
    outer.get('/_openapi.json', (c) => c.json(openApiDocument(config)));
    outer.use('/_admin/stats', adminGuard(adminTokenDigest(config.admin)));
    outer.route('/_admin', dashboardRoutes({ config, stats, metrics: imagegate.metrics }));
    outer.route('/', imagegate.app);
    fetchFn = outer.fetch;
  }
  const port = await freePort();
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: fetchFn, port, hostname: '127.0.0.1' }, (info: AddressInfo) => {
      resolve({
        url: `http://127.0.0.1:${info.port}`,
        imagegate,
        mountedByApp,
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
