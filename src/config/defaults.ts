import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sha256hex } from '../digest.ts';
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

/** The development server cannot keep its key and token anywhere it may write. */
export class StateDirError extends Error {}

type Env = Record<string, string | undefined>;

/**
 * Where `serve --dev` keeps its development key and admin token: `$IMAGEGATE_STATE_DIR` when
 * set; else `.imagegate/` in the working directory when it can be written there (a checkout);
 * else the per-user state folder, `$XDG_STATE_HOME/imagegate` or `~/.local/state/imagegate`
 * (a global install, a read-only folder).
 */
function devStateDirs(env: Env = process.env, cwd = process.cwd()): string[] {
  if (env.IMAGEGATE_STATE_DIR) return [path.resolve(cwd, env.IMAGEGATE_STATE_DIR)];
  const home = env.HOME || os.homedir();
  const userState = env.XDG_STATE_HOME && path.isAbsolute(env.XDG_STATE_HOME) ? env.XDG_STATE_HOME : path.join(home, '.local', 'state');
  return [path.join(cwd, '.imagegate'), path.join(userState, 'imagegate')];
}

function secretsIn(dirs: string[]): { devKey: string; adminToken: string; stateDir: string } {
  const failures: string[] = [];
  for (const dir of dirs) {
    try {
      return { devKey: persistedSecret(dir, 'dev-key'), adminToken: persistedSecret(dir, 'admin-token'), stateDir: dir };
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const why = ['EACCES', 'EPERM', 'EROFS'].includes(e.code ?? '') ? 'not writable' : ['EEXIST', 'ENOTDIR'].includes(e.code ?? '') ? 'not a folder' : (e.code ?? e.message);
      failures.push(`${dir}: ${why}`);
    }
  }
  throw new StateDirError(
    `cannot keep the development key and admin token (${failures.join('; ')}); set IMAGEGATE_STATE_DIR to a folder you can write`,
  );
}

/**
 * The embedded development configuration: the bundled sample folder, one route for every
 * path, in-memory usage counters, listening on loopback only, and a development key and admin
 * token that are generated once and kept in the state folder (see devStateDirs) so they
 * survive restarts. The environment's `IMAGEGATE_*` overrides apply (e.g. the host).
 */
export function devConfig(env: Env = process.env): { config: Config; devKey: string; adminToken: string; stateDir: string } {
  const { devKey, adminToken, stateDir } = secretsIn(devStateDirs(env));
  const config = parseConfig(
    {
      server: { host: '127.0.0.1', port: 8080 },
      sources: { local: { type: 'fs', root: path.join(packageRoot, 'examples', 'images') } },
      routes: [{ match: '*', source: 'local' }],
      keys: [{ id: 'dev', sha256: sha256hex(devKey), plan: 'dev' }],
      plans: { dev: { rate: 100, burst: 200, quota: { limit: 1_000_000, period: 'day' } } },
      usage: { store: 'memory' },
      admin: { tokenSha256: sha256hex(adminToken) },
    },
    { source: 'embedded development defaults', env },
  );
  return { config, devKey, adminToken, stateDir };
}
