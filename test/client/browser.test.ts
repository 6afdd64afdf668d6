/**
 * The client has no dependencies beyond the platform: it bundles for the browser without a
 * single Node module, and runs in chromium (URL building; signing refuses, by design).
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { build } from 'esbuild';
import { chromium, type Browser } from 'playwright-core';
import { buildUrl, srcset } from '../../src/client/index.ts';
import { requireCommand } from '../helpers/services.ts';

let bundle = '';

describe('client in a browser bundle', () => {
  before(async () => {
    const out = await build({
      entryPoints: ['src/client/index.ts'],
      bundle: true,
      platform: 'browser',
      format: 'iife',
      globalName: 'imagegateClient',
      write: false,
      logLevel: 'silent',
    });
    bundle = out.outputFiles[0].text;
  });

  test('bundles for the browser with no Node built-ins and no packages', () => {
    assert.ok(bundle.length > 0 && bundle.length < 40_000, `bundle is ${bundle.length} bytes`);
    assert.doesNotMatch(bundle, /require\(|from ['"]node:|node_modules/);
  });

  describe('in chromium', { skip: requireCommand('chromium') }, () => {
    let browser: Browser;
    before(async () => {
      browser = await chromium.launch({
        executablePath: '/usr/bin/chromium',
        headless: true,
        args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      });
    });
    after(async () => {
      await browser?.close();
    });

    test('buildUrl and srcset give the same URLs as in Node; signing refuses with a reason', async () => {
      const page = await browser.newPage();
      await page.addScriptTag({ content: bundle });
      const result = await page.evaluate(() => {
        const c = (globalThis as any).imagegateClient;
        let signError = '';
        try {
          c.buildUrl('a.jpg', { w: 1 }, { signWith: 'secret' });
        } catch (e) {
          signError = String((e as Error).message);
        }
        return {
          url: c.buildUrl('photos/a b.jpg', { w: 400, crop: ['top', 'left'], txt64: 'Hé' }, { baseUrl: 'https://img.example.com/dev' }),
          set: c.srcset('p.jpg', { params: { w: 300 }, dprs: [1, 2] }),
          signError,
        };
      });
      assert.equal(result.url, buildUrl('photos/a b.jpg', { w: 400, crop: ['top', 'left'], txt64: 'Hé' }, { baseUrl: 'https://img.example.com/dev' }));
      assert.equal(result.set, srcset('p.jpg', { params: { w: 300 }, dprs: [1, 2] }));
      assert.match(result.signError, /sign URLs on a server, never in a browser/);
      await page.close();
    });
  });
});
