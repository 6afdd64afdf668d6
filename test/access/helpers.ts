/**
 * A real server for the access tests: one folder of real images published through four
 * sources — `keyed` (X-API-Key), `signed` (a key's secret or nothing), `ix` (signed with the
 * source's own token, imgix's form) and `pub` (public, anonymous plan) — a key store with key
 * `alice` (plan gold) owning one signing secret, and key `bob` owning another.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { openKeyStore, type KeyStore, type SecretStore } from '../../src/auth/store.ts';
import { startServer, type RunningServer } from '../../src/server.ts';
import { makeImageFolder } from '../helpers/app.ts';
import { freePort } from '../helpers/services.ts';

export const ADMIN = 'access-admin-token';
export const IX_TOKEN = 'ix-source-token';

export interface AccessFixture {
  config: Config;
  /** A file or Redis store: both hold signing secrets. */
  store: KeyStore & SecretStore;
  root: string;
  alice: { key: string; secret: string; secretId: string };
  bob: { key: string; secret: string; secretId: string };
  cleanup(): Promise<void>;
}

/** Config + key store; `overrides` are merged at the top level. */
export async function accessFixture(overrides: Record<string, unknown> = {}, keyStore?: Config['keyStore']): Promise<AccessFixture> {
  const images = await makeImageFolder();
  const dir = mkdtempSync(path.join(tmpdir(), 'imagegate-access-'));
  const ks: Config['keyStore'] = keyStore ?? { type: 'file', path: path.join(dir, 'keys.json') };
  const config = parseConfig({
    server: { logLevel: 'silent' },
    sources: {
      keyed: { type: 'fs', root: images.root },
      signed: { type: 'fs', root: images.root, access: 'signed', cors: { origins: ['*'] } },
      ix: { type: 'fs', root: images.root, access: 'signed', signing: { token: IX_TOKEN } },
      pub: { type: 'fs', root: images.root, access: 'public' },
    },
    routes: [
      { match: 'keyed/*', source: 'keyed', key: '{*}' },
      { match: 'signed/*', source: 'signed', key: '{*}' },
      { match: 'ix/*', source: 'ix', key: '{*}' },
      { match: 'pub/*', source: 'pub', key: '{*}' },
    ],
    plans: { gold: { rate: 1000, burst: 1000 }, anon: { quota: { limit: 3, period: 'day' } } },
    anonymous: { plan: 'anon' },
    keyStore: ks,
    admin: { token: ADMIN },
    ...overrides,
  });
  const store = openKeyStore(ks) as KeyStore & SecretStore;
  const a = await store.create({ id: 'alice', plan: 'gold' });
  const as = await store.createSecret('alice');
  const b = await store.create({ id: 'bob' });
  const bs = await store.createSecret('bob');
  return {
    config,
    store,
    root: images.root,
    alice: { key: a.key, secret: as.secret, secretId: as.secretId },
    bob: { key: b.key, secret: bs.secret, secretId: bs.secretId },
    async cleanup() {
      await store.close();
      images.cleanup();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function startOn(config: Config): Promise<RunningServer> {
  return startServer(config, { port: await freePort(), host: '127.0.0.1' });
}

/** Today's usage record of `key` (flushed first), from the admin endpoint. */
export async function usageOf(server: RunningServer, key: string): Promise<{ requests: number; signed: number; responses: Record<string, number>; quotaExceeded: number } | undefined> {
  const res = await fetch(`${server.url}/_admin/usage?key=${encodeURIComponent(key)}`, { headers: { Authorization: `Bearer ${ADMIN}` } });
  const body = (await res.json()) as { records: Array<{ requests: number; signed: number; responses: Record<string, number>; quotaExceeded: number }> };
  return body.records[0];
}
