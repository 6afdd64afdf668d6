import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sha256hex } from '../auth/keys.ts';
import { parseConfig } from './load.ts';
import type { Config } from './schema.ts';

/** The checkout's root folder (where package.json and examples/ are). */
export const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** A random key of letters and digits, the shape the CloudFormation global stack generates. */
export function randomKey(length = 30): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = randomBytes(length * 2);
  let out = '';
  for (const b of bytes) {
    if (b < 248) out += alphabet[b % 62]; // 248 = 4 × 62: no modulo bias
    if (out.length === length) break;
  }
  return out.length === length ? out : randomKey(length);
}

function persistedSecret(dir: string, name: string): string {
  const file = path.join(dir, name);
  try {
    const v = readFileSync(file, 'utf8').trim();
    if (v) return v;
  } catch {
    /* first start */
  }
  const v = randomKey();
  mkdirSync(dir, { recursive: true });
  writeFileSync(file, `${v}\n`, { mode: 0o600 });
  return v;
}

/**
 * The embedded development configuration: the bundled sample folder, one route for every
 * path, in-memory usage counters, and a development key and admin token that are generated
 * once and kept in `.imagegate/` (ignored by git) so they survive restarts.
 */
export function devConfig(stateDir = process.env.IMAGEGATE_STATE_DIR ?? path.join(packageRoot, '.imagegate')): { config: Config; devKey: string; adminToken: string } {
  const devKey = persistedSecret(stateDir, 'dev-key');
  const adminToken = persistedSecret(stateDir, 'admin-token');
  const config = parseConfig(
    {
      server: { port: 8080 },
      sources: { local: { type: 'fs', root: path.join(packageRoot, 'examples', 'images') } },
      routes: [{ match: '*', source: 'local' }],
      keys: [{ id: 'dev', sha256: sha256hex(devKey), plan: 'dev' }],
      plans: { dev: { rate: 100, burst: 200, quota: { limit: 1_000_000, period: 'day' } } },
      usage: { store: 'memory' },
      admin: { tokenSha256: sha256hex(adminToken) },
    },
    { source: 'embedded development defaults' },
  );
  return { config, devKey, adminToken };
}
