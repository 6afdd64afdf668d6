/**
 * The admin dashboard at `/_admin/`: usage per key per day (from `/_admin/usage`), cache hit
 * ratio, top paths, latency percentiles and the work queue of this process, and a playground.
 *
 * Two parts, because a browser cannot send `Authorization` when it navigates to a page:
 * - `dashboardPage()` serves the static page, stylesheet and script. They hold no data, so they
 *   are mounted before the admin guard; the page asks for the admin token and keeps it in
 *   sessionStorage.
 * - `dashboardRoutes(deps)` serves `GET /stats` (JSON) and is mounted at `/_admin` behind the
 *   admin guard, like `/_admin/usage`.
 */
import { Hono } from 'hono';
import type { Config } from '../config/schema.ts';
import type { AppEnv } from './context.ts';
import { DASHBOARD_CSS, DASHBOARD_HTML, DASHBOARD_JS } from './dashboard/page.ts';
import type { RequestStats, StatsSnapshot } from './stats.ts';

/** The parts of the Prometheus metrics the dashboard reads (`src/metrics.ts`). */
interface GaugeLike {
  get(): Promise<{ values: Array<{ value: number }> }> | { values: Array<{ value: number }> };
}

interface DashboardDeps {
  config: Config;
  stats: RequestStats;
  /** Work-queue gauges from `createMetrics()`; without them the queue shows requests in flight only. */
  metrics?: { queueDepth: GaugeLike; inFlight: GaugeLike };
}

interface DashboardStats extends StatsSnapshot {
  basePath: string;
  queue: { active?: number; queued?: number; concurrency?: number; capacity?: number };
  process: { pid: number; uptimeSeconds: number; rssBytes: number };
}

const SECURITY_HEADERS = {
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

function escapeAttr(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
}

/**
 * Static page and assets; mount at the root, before the admin guard:
 * `app.route('/', dashboardPage(config))`. The only configuration in the page is the base
 * path, so the playground can build image URLs before an admin token is given.
 */
export function dashboardPage(config?: Config): Hono<AppEnv> {
  const page = new Hono<AppEnv>();
  const html = DASHBOARD_HTML.replace('{{basePath}}', escapeAttr(config?.server?.basePath ?? ''));
  page.use('/_admin/*', async (c, next) => {
    c.set('routeLabel', 'admin');
    await next();
  });
  page.get('/_admin', (c) => c.redirect('/_admin/', 301));
  page.get('/_admin/', (c) =>
    c.body(html, 200, { ...SECURITY_HEADERS, 'Content-Type': 'text/html; charset=utf-8', 'Content-Security-Policy': CSP, 'X-Frame-Options': 'DENY' }),
  );
  page.get('/_admin/dashboard.js', (c) => c.body(DASHBOARD_JS, 200, { ...SECURITY_HEADERS, 'Content-Type': 'text/javascript; charset=utf-8' }));
  page.get('/_admin/dashboard.css', (c) => c.body(DASHBOARD_CSS, 200, { ...SECURITY_HEADERS, 'Content-Type': 'text/css; charset=utf-8' }));
  return page;
}

async function gaugeValue(g: GaugeLike | undefined): Promise<number | undefined> {
  if (!g) return undefined;
  const v = await g.get();
  return v.values[0]?.value;
}

/** The JSON behind the dashboard's live cards. */
async function dashboardStats(deps: DashboardDeps): Promise<DashboardStats> {
  const limits = (deps.config.limits ?? {}) as { concurrency?: number; queue?: number };
  return {
    ...deps.stats.snapshot(),
    basePath: deps.config.server?.basePath ?? '',
    queue: {
      active: await gaugeValue(deps.metrics?.inFlight),
      queued: await gaugeValue(deps.metrics?.queueDepth),
      concurrency: limits.concurrency,
      capacity: limits.queue,
    },
    process: { pid: process.pid, uptimeSeconds: Math.round(process.uptime()), rssBytes: process.memoryUsage.rss() },
  };
}

/** Data routes; mount behind the admin guard: `app.route('/_admin', dashboardRoutes(deps))`. */
export function dashboardRoutes(deps: DashboardDeps): Hono<AppEnv> {
  const api = new Hono<AppEnv>();
  api.get('/stats', async (c) => {
    c.set('routeLabel', 'admin');
    c.header('Cache-Control', 'no-store');
    return c.json(await dashboardStats(deps));
  });
  return api;
}
