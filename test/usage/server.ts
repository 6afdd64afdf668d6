/**
 * One server process for the multi-process tests: the real app (test/usage/app.ts) on a free
 * loopback port. Reads its settings from IG_TEST (JSON):
 * { usage, plans, keys: { value: {id, plan} }, keyStore, adminToken, fixedNow }.
 * Prints `listening <port>`; on SIGTERM writes pending usage records and exits.
 */
import { serve } from '@hono/node-server';
import { usageConfigSchema } from '../../src/config/usage.ts';
import { createUsageService } from '../../src/usage/index.ts';
import { usageApp } from './app.ts';

const cfg = JSON.parse(process.env.IG_TEST ?? '{}');
// `fixedNow` (ISO time) freezes the usage clock, so a test never straddles a period boundary.
const fixedNow = cfg.fixedNow ? Date.parse(cfg.fixedNow) : undefined;
const usage = createUsageService(usageConfigSchema.parse(cfg.usage), {
  clock: fixedNow === undefined ? undefined : () => fixedNow,
  logger: { info: () => {}, warn: () => {}, error: (o, m) => console.error(m, JSON.stringify(o)) },
});
await usage.ready(5000);
const ig = await usageApp({ usage, plans: cfg.plans, keys: cfg.keys, keyStore: cfg.keyStore, adminToken: cfg.adminToken });
const server = serve({ fetch: ig.app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => {
  console.log(`listening ${info.port}`);
});
process.on('SIGTERM', async () => {
  server.close();
  await ig.close();
  process.exit(0);
});
