/**
 * The real app for the usage tests: createApp over a folder of real images (test/helpers/app.ts),
 * with API keys, plans and the admin token from the config, and the test's own usage service (a
 * controllable clock, a fresh store per test). Nothing of auth, usage or error handling is
 * stood in for. `/down/…` reads an HTTP origin on a closed loopback port: a real 502.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sha256hex } from '../../src/digest.ts';
import { parseConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { createApp, type ImagegateApp } from '../../src/http/app.ts';
import { createLogger } from '../../src/log.ts';
import type { UsageService } from '../../src/usage/index.ts';
import { makeImageFolder } from '../helpers/app.ts';

export interface UsageAppOptions {
  usage: UsageService;
  /** `plans:` as written in a config file. */
  plans?: Record<string, unknown>;
  /** Key value → the key's id and plan, as `keys:` entries (only their SHA-256 reaches the config). */
  keys?: Record<string, { id: string; plan?: string }>;
  adminToken?: string;
  keyStore?: Config['keyStore'];
  /** An existing images folder (the caller removes it); default: a fresh one, removed by close(). */
  root?: string;
}

export interface UsageApp extends ImagegateApp {
  root: string;
  /** `app.request` with `X-API-Key: key`. */
  get(key: string, target?: string, init?: { method?: string; headers?: Record<string, string> }): Promise<Response>;
  /** `app.request` with the admin bearer token. */
  admin(target: string, token?: string): Promise<Response>;
}

/** The config the usage tests run: one fs source for every path, one unreachable HTTP source under `down/`. */
export function usageConfig(root: string, opts: Omit<UsageAppOptions, 'usage' | 'root'>): Config {
  return parseConfig({
    server: { logLevel: 'silent' },
    sources: {
      local: { type: 'fs', root },
      down: { type: 'http', baseUrl: 'http://127.0.0.1:1/', allowPrivateNetworks: true, timeoutMs: 5000 },
    },
    routes: [
      { match: 'down/*', source: 'down', key: '{*}' },
      { match: '*', source: 'local' },
    ],
    plans: opts.plans ?? {},
    keys: Object.entries(opts.keys ?? {}).map(([value, k]) => ({ id: k.id, sha256: sha256hex(value), ...(k.plan ? { plan: k.plan } : {}) })),
    ...(opts.adminToken ? { admin: { tokenSha256: sha256hex(opts.adminToken) } } : {}),
    ...(opts.keyStore ? { keyStore: opts.keyStore } : {}),
  });
}

export async function usageApp(opts: UsageAppOptions): Promise<UsageApp> {
  const folder = opts.root ? undefined : await makeImageFolder();
  const root = opts.root ?? folder!.root;
  const ig = await createApp(usageConfig(root, opts), { usage: opts.usage, logger: createLogger('silent') });
  return {
    ...ig,
    root,
    get: (key, target = '/photo.jpg', init = {}) =>
      Promise.resolve(ig.app.request(target, { method: init.method ?? 'GET', headers: { 'X-API-Key': key, ...init.headers } })),
    admin: (target, token = opts.adminToken) => Promise.resolve(ig.app.request(target, { headers: { Authorization: `Bearer ${token}` } })),
    async close() {
      await ig.close();
      folder?.cleanup();
    },
  };
}

/** A temporary folder for key-store files, removed by the returned function. */
export function tempDir(): { dir: string; remove(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'ig-usage-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
