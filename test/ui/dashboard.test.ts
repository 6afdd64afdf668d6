/**
 * The dashboard in a real browser: Debian's chromium driven by playwright-core (never a
 * downloaded browser). Requests are made first; the test then reads the chart and checks it
 * shows the usage the server recorded, and loads an image in the playground.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { chromium, type Browser, type Page } from 'playwright-core';
import { parseConfig } from '../../src/config/load.ts';
import { sha256hex } from '../../src/auth/keys.ts';
import { requireCommand } from '../helpers/services.ts';
import { startUiServer } from './server.ts';
import type { RunningServer } from '../../src/server.ts';

const skip = requireCommand('chromium');
const ARTIFACTS = path.resolve('test/.artifacts');
const ADMIN = 'ui-admin-token';
const KEYS = { alice: 'alice-key-ui', bob: 'bob-key-ui' };

let server: RunningServer;
let browser: Browser;
let page: Page;

describe('admin dashboard in chromium', { skip }, () => {
  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    const dir = mkdtempSync(path.join(tmpdir(), 'imagegate-ui-'));
    mkdirSync(path.join(dir, 'photos'));
    // A gradient so the rendered image looks like something in the screenshot.
    const w = 1200, h = 800;
    const raw = Buffer.alloc(w * h * 3);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 3;
      raw[i] = Math.round((255 * x) / w);
      raw[i + 1] = Math.round((255 * y) / h);
      raw[i + 2] = 160;
    }
    await sharp(raw, { raw: { width: w, height: h, channels: 3 } }).jpeg().toFile(path.join(dir, 'photos', 'gradient.jpg'));
    await sharp({ create: { width: 400, height: 400, channels: 3, background: '#2a9d8f' } }).png().toFile(path.join(dir, 'photos', 'teal.png'));
    const config = parseConfig(
      {
        server: { basePath: '/dev', logLevel: 'silent' },
        sources: { local: { type: 'fs', root: dir } },
        routes: [{ match: '*', source: 'local' }],
        keys: [
          { id: 'alice', sha256: sha256hex(KEYS.alice) },
          { id: 'bob', sha256: sha256hex(KEYS.bob) },
        ],
        admin: { token: ADMIN },
      },
      { baseDir: dir },
    );
    server = await startUiServer(config);
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  test('the page itself needs no token but holds no data; data routes need the admin token', async () => {
    const res = await fetch(`${server.url}/_admin/`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/html/);
    assert.equal((await fetch(`${server.url}/_admin/stats`)).status, 401);
    assert.equal((await fetch(`${server.url}/_admin/usage`)).status, 401);
    assert.equal((await fetch(`${server.url}/_admin/stats`, { headers: { 'X-API-Key': KEYS.alice } })).status, 401, 'an API key never opens admin');
  });

  test('the usage chart shows the numbers the server recorded per key and day', async () => {
    const get = (p: string, key: string) => fetch(`${server.url}/dev/${p}`, { headers: { 'X-API-Key': key } }).then((r) => r.arrayBuffer().then(() => r.status));
    const sent = { alice: 0, bob: 0 };
    for (let i = 0; i < 5; i++) (await get('photos/gradient.jpg?w=200', KEYS.alice)) === 200 && sent.alice++;
    for (let i = 0; i < 2; i++) (await get('photos/teal.png?w=100&fm=webp', KEYS.bob)) === 200 && sent.bob++;
    assert.equal(await get('photos/missing.jpg', KEYS.bob), 404);
    sent.bob++;
    assert.deepEqual(sent, { alice: 5, bob: 3 });

    const usage = (await (await fetch(`${server.url}/_admin/usage`, { headers: { Authorization: `Bearer ${ADMIN}` } })).json()) as {
      records: Array<{ key: string; date: string; requests: number; transformations: number; cacheHits: number }>;
      totals: { requests: number; transformations: number; cacheHits: number };
    };
    const recorded = new Map(usage.records.map((r) => [`${r.key}|${r.date}`, r.requests]));
    const today = new Date().toISOString().slice(0, 10);
    assert.equal(recorded.get(`alice|${today}`), 5);
    assert.equal(recorded.get(`bob|${today}`), 3);

    await page.goto(`${server.url}/_admin/`);
    await page.fill('#token', ADMIN);
    await page.click('#token-form button[type=submit]');
    await page.waitForSelector('#chart svg .bar-label', { timeout: 30_000 });
    const labels = await page.$$eval('#chart svg text.bar-label', (els) =>
      els.map((e) => ({ key: e.getAttribute('data-key'), date: e.getAttribute('data-date'), text: e.textContent })),
    );
    const shown = new Map(labels.map((l) => [`${l.key}|${l.date}`, Number(l.text!.replace(/,/g, ''))]));
    assert.deepEqual(shown, recorded, 'every bar label is the recorded count, and nothing else is drawn');
    const bars = await page.$$eval('#chart svg rect.bar', (els) => els.map((e) => ({ key: e.getAttribute('data-key'), value: Number(e.getAttribute('data-value')), h: Number(e.getAttribute('height')) })));
    const alice = bars.filter((b) => b.key === 'alice' && b.value === 5);
    const bob = bars.filter((b) => b.key === 'bob' && b.value === 3);
    assert.equal(alice.length, 1);
    assert.equal(bob.length, 1);
    assert.ok(Math.abs(alice[0].h / bob[0].h - 5 / 3) < 0.01, 'bar heights are proportional to the counts');
    const totals = (await page.textContent('#usage-totals')) ?? '';
    assert.match(totals, /: 8 requests, /);
    assert.ok(totals.includes(`${usage.totals.transformations} transformations, ${usage.totals.cacheHits} cache hits`), totals);
    assert.ok(usage.totals.transformations >= 2 && usage.totals.cacheHits >= 1, 'renders and cache hits were recorded');

    // Another measure: the labels follow the selected counter.
    await page.selectOption('#metric', 'transformations');
    await page.waitForSelector('#chart svg[data-metric=transformations]', { timeout: 30_000 });
    const renders = await page.$$eval('#chart svg text.bar-label', (els) => els.map((e) => [`${e.getAttribute('data-key')}|${e.getAttribute('data-date')}`, Number(e.textContent)] as const));
    assert.deepEqual(new Map(renders), new Map(usage.records.filter((r) => r.transformations > 0).map((r) => [`${r.key}|${r.date}`, r.transformations])));
    await page.selectOption('#metric', 'requests');
    // token survives a reload (sessionStorage) and the live cards fill in
    await page.reload();
    await page.waitForFunction(() => document.querySelector('#s-requests')?.textContent !== '–', null, { timeout: 30_000 });
    await page.waitForSelector('#top-paths tbody td.path', { timeout: 30_000 });
    const paths = await page.$$eval('#top-paths tbody td.path', (els) => els.map((e) => e.textContent));
    assert.equal(paths[0], '/dev/photos/gradient.jpg');
    assert.match((await page.textContent('#s-lat')) ?? '', /^[\d.]+ \/ [\d.]+ \/ [\d.]+ ms$/);
    assert.match((await page.textContent('#s-hit')) ?? '', /^\d+(\.\d)? %$/);
    await page.waitForSelector('#chart svg .bar-label', { timeout: 30_000 });
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-usage.png'), fullPage: true });
  });

  test('the playground loads the image with the typed key; its natural size matches w', async () => {
    await page.fill('#p-path', 'photos/gradient.jpg');
    await page.fill('#p-params', 'w=480&fm=webp');
    await page.fill('#p-key', KEYS.alice);
    await page.click('#play-form button[type=submit]');
    await page.waitForSelector('#p-img[data-state=loaded]', { timeout: 30_000 });
    const img = await page.$eval('#p-img', (e) => {
      const i = e as HTMLImageElement;
      return { w: i.naturalWidth, h: i.naturalHeight, src: i.src, type: i.dataset.contentType, bytes: Number(i.dataset.bytes) };
    });
    assert.equal(img.w, 480);
    assert.equal(img.h, 320);
    assert.match(img.src, /^blob:/);
    assert.equal(img.type, 'image/webp');
    assert.ok(img.bytes > 0);
    assert.equal(await page.inputValue('#p-url'), `${server.url}/dev/photos/gradient.jpg?w=480&fm=webp`);
    const meta = (await page.textContent('#p-meta')) ?? '';
    assert.match(meta, /480 × 320 px/);
    assert.match(meta, /image\/webp/);
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-playground.png'), fullPage: true });

    // a wrong key shows the service's answer instead of an image
    await page.fill('#p-key', 'not-a-key');
    await page.click('#play-form button[type=submit]');
    await page.waitForSelector('#p-img[data-state=error]', { state: 'attached', timeout: 30_000 });
    assert.match((await page.textContent('#p-meta')) ?? '', /^403: Forbidden/);
  });

  test('the OpenAPI document is served with the admin token (server.internalEndpoints: admin, the default)', async () => {
    assert.equal((await fetch(`${server.url}/_openapi.json`)).status, 401);
    assert.equal((await fetch(`${server.url}/_openapi.json`, { headers: { 'X-API-Key': KEYS.alice } })).status, 401);
    const res = await fetch(`${server.url}/_openapi.json`, { headers: { Authorization: `Bearer ${ADMIN}` } });
    assert.equal(res.status, 200);
    const doc = (await res.json()) as { paths: Record<string, unknown> };
    assert.ok(doc.paths['/dev/{path}']);
  });
});
