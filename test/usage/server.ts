/**
 * One server process for the multi-process tests. Reads its settings from IG_TEST (JSON):
 * { usage, plans, keys: { value: {id, plan} } | undefined, keyStore, adminToken, fixedNow }.
 * Prints `listening <port>`; on SIGTERM writes pending usage records and exits.
 */
import { serve } from '@hono/node-server';
import { openKeyStore } from '../../src/auth/store.ts';
import { plansConfigSchema, usageConfigSchema } from '../../src/usage/config.ts';
import { createUsageService } from '../../src/usage/index.ts';
import { buildTestApp, mapLookup } from './app.ts';

const cfg = JSON.parse(process.env.IG_TEST ?? '{}');
// `fixedNow` (ISO time) freezes the usage clock, so a test never straddles a period boundary.
const fixedNow = cfg.fixedNow ? Date.parse(cfg.fixedNow) : undefined;
const usage = createUsageService(usageConfigSchema.parse(cfg.usage), {
  clock: fixedNow === undefined ? undefined : () => fixedNow,
  logger: { info: () => {}, warn: () => {}, error: (o, m) => console.error(m, JSON.stringify(o)) },
});
await usage.ready(5000);
const store = cfg.keyStore ? openKeyStore(cfg.keyStore) : undefined;
const configured = mapLookup(cfg.keys ?? {});
const keys = {
  async findByHash(h: string) {
    return (await configured.findByHash(h)) ?? (store ? await store.findByHash(h) : undefined);
  },
};
const app = buildTestApp({ usage, plans: plansConfigSchema.parse(cfg.plans ?? {}), keys, adminToken: cfg.adminToken });
const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => {
  console.log(`listening ${info.port}`);
});
process.on('SIGTERM', async () => {
  server.close();
  await usage.close();
  await store?.close();
  process.exit(0);
});
