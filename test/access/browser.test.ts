/**
 * Signed images in a real browser (Debian's chromium via playwright-core): a page served from a
 * second loopback origin shows `<img src>` images from a `signed` source with no API key, reads
 * one with `fetch()` under CORS (body and RateLimit fields), and the owning key's usage records
 * count exactly the images that loaded — refused URLs and the preflight count nowhere.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { chromium, type Browser } from 'playwright-core';
import { buildUrl } from '../../src/client/index.ts';
import type { RunningServer } from '../../src/server.ts';
import { freePort, requireCommand } from '../helpers/services.ts';
import { ADMIN, accessFixture, startOn, usageOf, type AccessFixture } from './helpers.ts';
import { mkdirSync } from 'node:fs';

const skip = requireCommand('chromium');

let fx: AccessFixture;
let server: RunningServer;
let page: Server;
let pageOrigin: string;
let browser: Browser;
let html = '';

describe('signed images on a page of another origin, in chromium', { skip }, () => {
  before(async () => {
    mkdirSync('test/.artifacts', { recursive: true });
    const port = await freePort();
    pageOrigin = `http://127.0.0.1:${port}`;
    fx = await accessFixture();
    // The signed source allows exactly the page's origin.
    (fx.config.sources.signed as { cors?: { origins: string[] } }).cors = { origins: [pageOrigin] };
    server = await startOn(fx.config);
    page = createServer((req, res) => {
      if (req.url === '/') {
        res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
        res.end(html);
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((r) => page.listen(port, '127.0.0.1', r));
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });

  after(async () => {
    await browser?.close();
    await new Promise((r) => page?.close(r));
    await server?.close();
    await fx?.cleanup();
  });

  test('<img> shows signed images at the asked width; tampered and expired ones fail; fetch() reads body and RateLimit; usage counts exactly the loads', async () => {
    const sign = (w: number, extra: { expires?: number; token?: string } = {}) =>
      server.url + buildUrl('/signed/photo.jpg', { w }, { signWith: { token: extra.token ?? fx.alice.secret, keyId: 'alice', ...(extra.expires ? { expires: extra.expires } : {}) } });
    const images = {
      a: sign(120),
      b: sign(77),
      tampered: sign(60).replace('w=60', 'w=61'),
      expired: sign(50, { expires: Math.floor(Date.now() / 1000) - 60 }),
      otherSecret: sign(40, { token: fx.bob.secret }),
    };
    const fetched = sign(90);
    html = `<!doctype html><meta charset="utf-8"><body>
${Object.entries(images).map(([id, src]) => `<img id="${id}" src="${src}">`).join('\n')}
<script>
  window.result = (async () => {
    const imgs = [...document.images];
    await Promise.all(imgs.map((i) => i.complete ? null : new Promise((r) => { i.onload = r; i.onerror = r; })));
    // A non-safelisted header makes the browser send a preflight first.
    const res = await fetch(${JSON.stringify(fetched)}, { mode: 'cors', headers: { 'X-Request-Id': 'page-1' } });
    const body = await res.arrayBuffer();
    return {
      widths: Object.fromEntries(imgs.map((i) => [i.id, i.naturalWidth])),
      status: res.status, bytes: body.byteLength, type: res.headers.get('content-type'),
      policy: res.headers.get('RateLimit-Policy'), rate: res.headers.get('RateLimit'),
    };
  })();
</script>`;
    const before = await usageOf(server, 'alice');
    const tab = await browser.newPage();
    await tab.goto(`${pageOrigin}/`);
    const result = (await tab.evaluate('window.result')) as {
      widths: Record<string, number>;
      status: number;
      bytes: number;
      type: string;
      policy: string | null;
      rate: string | null;
    };
    await tab.close();
    assert.deepEqual(result.widths, { a: 120, b: 77, tampered: 0, expired: 0, otherSecret: 0 });
    assert.equal(result.status, 200);
    assert.ok(result.bytes > 100);
    assert.equal(result.type, 'image/jpeg');
    assert.match(result.policy ?? '', /"burst";q=1000/, 'the page reads the RateLimit fields');
    assert.match(result.rate ?? '', /"burst";r=\d+/);
    const after = await usageOf(server, 'alice');
    // Two images and one fetch: exactly three requests, all signed; the refused URLs and the preflight add nothing.
    assert.equal(after!.requests - (before?.requests ?? 0), 3);
    assert.equal(after!.signed - (before?.signed ?? 0), 3);
    assert.equal(after!.responses['2xx'] - (before?.responses['2xx'] ?? 0), 3);
  });

  test("the dashboard shows the signed traffic per source and the key's signed requests", async () => {
    const tab = await browser.newPage();
    await tab.goto(`${server.url}/_admin/`);
    await tab.fill('#token', ADMIN);
    await tab.click('#token-form button[type=submit]');
    await tab.waitForSelector('#access tbody tr[data-source=signed]', { timeout: 30_000 });
    const row = await tab.$$eval('#access tbody tr[data-source=signed] td', (tds) => tds.map((t) => t.textContent));
    // Three signed loads from the page; three refused (tampered, expired, another key's secret).
    assert.deepEqual(row, ['signed', '0', '3', '0', '3']);
    await tab.selectOption('#metric', 'signed');
    await tab.click('#usage-form button[type=submit]');
    const today = new Date().toISOString().slice(0, 10);
    const bar = `#chart svg[data-metric=signed] rect.bar[data-key=alice][data-date="${today}"]`;
    await tab.waitForSelector(bar, { timeout: 30_000, state: 'attached' });
    const value = await tab.$eval(bar, (r) => r.getAttribute('data-value'));
    assert.equal(value, '3');
    await tab.screenshot({ path: 'test/.artifacts/access-dashboard.png', fullPage: true });
    await tab.close();
  });
});
