/**
 * Builds a real app for tests: a temporary fs source filled with sharp-generated images,
 * a known API key, and any config overrides. Nothing is mocked.
 */
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { parseConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { sha256hex } from '../../src/auth/keys.ts';
import { createApp, type AppOptions, type ImagegateApp } from '../../src/http/app.ts';
import { createLogger } from '../../src/log.ts';

export const TEST_KEY = 'test-key-0123456789abcdefghijkl';
export const OTHER_KEY = 'other-key-0123456789abcdefghijk';
export const ADMIN_TOKEN = 'admin-token-0123456789abcdefgh';

/** A folder of small real images: photo.jpg (640×427), alpha.png (200×100 RGBA), anim.gif (3 frames), sub/inner.webp. */
export async function makeImageFolder(): Promise<{ root: string; cleanup(): void }> {
  const root = mkdtempSync(path.join(tmpdir(), 'imagegate-test-'));
  const gradient = Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="640" height="427"><defs><linearGradient id="g"><stop offset="0" stop-color="#c53030"/><stop offset="1" stop-color="#2b6cb0"/></linearGradient></defs><rect width="640" height="427" fill="url(#g)"/><circle cx="320" cy="213" r="90" fill="#f6e05e"/></svg>`,
  );
  await sharp(gradient).jpeg({ quality: 85 }).toFile(path.join(root, 'photo.jpg'));
  await sharp({ create: { width: 200, height: 100, channels: 4, background: { r: 0, g: 128, b: 0, alpha: 0.5 } } })
    .png()
    .toFile(path.join(root, 'alpha.png'));
  const frames = await Promise.all(
    ['#ff0000', '#00ff00', '#0000ff'].map((c) => sharp({ create: { width: 60, height: 40, channels: 3, background: c } }).raw().toBuffer()),
  );
  await sharp(Buffer.concat(frames), { raw: { width: 60, height: 120, channels: 3, pageHeight: 40 } as never })
    .gif({ loop: 0 })
    .toFile(path.join(root, 'anim.gif'));
  mkdirSync(path.join(root, 'sub'));
  await sharp(gradient).resize(320).webp().toFile(path.join(root, 'sub', 'inner.webp'));
  // A PNG stored under a .jpeg name: the Content-Type must come from the bytes.
  await sharp({ create: { width: 10, height: 10, channels: 3, background: '#123456' } }).png().toFile(path.join(root, 'liar.jpeg'));
  writeFileSync(path.join(root, 'notes.txt'), 'not an image\n');
  return { root, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

/** A validated config over `root` with the test keys, deep-merged with `overrides`. */
export function testConfig(root: string, overrides: Record<string, unknown> = {}): Config {
  const base: Record<string, unknown> = {
    server: { logLevel: 'silent' },
    sources: { local: { type: 'fs', root } },
    routes: [{ match: '*', source: 'local' }],
    keys: [
      { id: 'test', sha256: sha256hex(TEST_KEY) },
      { id: 'other', sha256: sha256hex(OTHER_KEY) },
    ],
    admin: { tokenSha256: sha256hex(ADMIN_TOKEN) },
  };
  return parseConfig({ ...base, ...overrides, server: { ...(base.server as object), ...((overrides.server as object) ?? {}) } });
}

export async function testApp(root: string, overrides: Record<string, unknown> = {}, options: AppOptions = {}): Promise<ImagegateApp> {
  return createApp(testConfig(root, overrides), { logger: createLogger('silent'), ...options });
}

/** `app.request` with the test key. */
export function get(ig: ImagegateApp, url: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Response> {
  return Promise.resolve(ig.app.request(url, { method, headers: { 'X-API-Key': TEST_KEY, ...headers } }));
}
