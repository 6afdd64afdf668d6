/**
 * Hostile images through the whole app: real corrupt files, pixel bombs, decompression bombs,
 * hostile SVGs and oversized animations. Each one gets a 4xx with a stable code (or renders,
 * for files a lenient decoder can recover), never a 5xx; memory stays bounded and the service
 * keeps answering afterwards.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { get, testApp } from '../helpers/app.ts';
import type { ImagegateApp } from '../../src/http/app.ts';
import { corpusSources, GDK, mayRender, mustRefuse, requireCorpus, routePath, SVGZ_BOMB } from './corpus.ts';

const MiB = 1024 * 1024;
const skipCorpus = requireCorpus();

/** Samples this process's RSS every 20 ms while `fn` runs; returns the peak and the value after. */
async function watchRss<T>(fn: () => Promise<T>): Promise<{ result: T; before: number; peak: number; after: number }> {
  globalThis.gc?.();
  const before = process.memoryUsage().rss;
  let peak = before;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 20);
  try {
    const result = await fn();
    const after = process.memoryUsage().rss;
    peak = Math.max(peak, after);
    return { result, before, peak, after };
  } finally {
    clearInterval(timer);
  }
}

async function expectRefusal(res: Response, what: string): Promise<{ status: number; code: string }> {
  const text = await res.text();
  assert.ok(res.status >= 400 && res.status < 500, `${what}: expected a 4xx, got ${res.status} ${text.slice(0, 200)}`);
  let body: { code?: unknown; message?: unknown };
  try {
    body = JSON.parse(text);
  } catch {
    assert.fail(`${what}: a refusal must be JSON, got ${text.slice(0, 100)}`);
  }
  assert.equal(typeof body.code, 'string', `${what}: refusal without a code`);
  assert.match(body.code as string, /^[a-z_]+$/);
  assert.equal(typeof body.message, 'string');
  return { status: res.status, code: body.code as string };
}

async function expectServiceAlive(ig: ImagegateApp): Promise<void> {
  const health = await ig.app.request('http://localhost/_health');
  assert.equal(health.status, 200);
  const ok = await get(ig, 'http://localhost/gdk/test-image.png?w=40&fm=png');
  assert.equal(ok.status, 200, 'a valid image still renders after the hostile ones');
  const meta = await sharp(Buffer.from(await ok.arrayBuffer())).metadata();
  assert.equal(meta.format, 'png');
  assert.equal(meta.width, 40);
}

describe('hostile image corpus (gdk-pixbuf-tests, librsvg2-tests)', { skip: skipCorpus }, () => {
  let ig: ImagegateApp;
  before(async () => {
    ig = await testApp(GDK, corpusSources);
  });
  after(() => ig?.close());

  test('corrupt, unsupported and oversized files are refused with a 4xx and a code, never a 5xx', async (t) => {
    const files = mustRefuse();
    assert.ok(files.length >= 40, `expected the full corpus, found ${files.length} files`);
    const codes = new Map<string, number>();
    const slow: [string, number][] = [];
    const { before, peak, after } = await watchRss(async () => {
      for (const file of files) {
        const started = performance.now();
        const res = await get(ig, `http://localhost${routePath(file)}?w=100`);
        const { status, code } = await expectRefusal(res, path.basename(file));
        codes.set(`${status} ${code}`, (codes.get(`${status} ${code}`) ?? 0) + 1);
        slow.push([path.basename(file), performance.now() - started]);
      }
    });
    slow.sort((a, b) => b[1] - a[1]);
    t.diagnostic(`${files.length} files; answers: ${[...codes].map(([k, n]) => `${k} ×${n}`).join(', ')}`);
    t.diagnostic(`slowest: ${slow.slice(0, 3).map(([f, ms]) => `${f} ${ms.toFixed(0)} ms`).join(', ')}`);
    t.diagnostic(`RSS before ${(before / MiB).toFixed(0)} MiB, peak ${(peak / MiB).toFixed(0)} MiB, after ${(after / MiB).toFixed(0)} MiB`);
    assert.ok(after - before < 300 * MiB, `RSS grew by ${((after - before) / MiB).toFixed(0)} MiB`);
    await expectServiceAlive(ig);
  });

  test('the 749 and 839 MP pixel bombs and the 4 GP header are refused on the header, as image_too_large', async () => {
    for (const name of ['large.jpg', 'large.png', 'issue205.jpg']) {
      const res = await get(ig, `http://localhost/gdk/${name}?w=100`);
      const { status, code } = await expectRefusal(res, name);
      assert.equal(status, 422, name);
      assert.equal(code, 'image_too_large', name);
    }
    // Also when no resize is asked for but a format change is.
    const res = await get(ig, 'http://localhost/gdk/large.png?fm=webp');
    assert.equal((await expectRefusal(res, 'large.png fm=webp')).code, 'image_too_large');
  });

  test('fuzzed and crash-regression files render or are refused, never a 5xx', async (t) => {
    const files = mayRender();
    assert.ok(files.length >= 30, `expected the full corpus, found ${files.length} files`);
    let rendered = 0;
    let refused = 0;
    const slow: [string, number][] = [];
    const { before, peak, after } = await watchRss(async () => {
      for (const file of files) {
        const started = performance.now();
        const res = await get(ig, `http://localhost${routePath(file)}?w=100&fm=png`);
        slow.push([path.basename(file), performance.now() - started]);
        if (res.status === 200) {
          const out = await sharp(Buffer.from(await res.arrayBuffer())).metadata();
          assert.equal(out.format, 'png', path.basename(file));
          assert.ok((out.width ?? 0) <= 100, path.basename(file));
          rendered++;
        } else {
          await expectRefusal(res, path.basename(file));
          refused++;
        }
      }
    });
    slow.sort((a, b) => b[1] - a[1]);
    t.diagnostic(`${files.length} files: ${rendered} rendered, ${refused} refused`);
    t.diagnostic(`slowest: ${slow.slice(0, 3).map(([f, ms]) => `${f} ${ms.toFixed(0)} ms`).join(', ')}`);
    t.diagnostic(`RSS before ${(before / MiB).toFixed(0)} MiB, peak ${(peak / MiB).toFixed(0)} MiB, after ${(after / MiB).toFixed(0)} MiB`);
    assert.ok(rendered > 0 && refused > 0);
    assert.ok(after - before < 300 * MiB, `RSS grew by ${((after - before) / MiB).toFixed(0)} MiB`);
    await expectServiceAlive(ig);
  });

  test('a 40 KB svgz that expands to a million elements is refused without a memory blow-up', async (t) => {
    const { result, before, peak, after } = await watchRss(async () => {
      const res = await get(ig, `http://localhost${routePath(SVGZ_BOMB)}?w=100`);
      return expectRefusal(res, 'svgz bomb');
    });
    t.diagnostic(`${result.status} ${result.code}; RSS before ${(before / MiB).toFixed(0)} MiB, peak ${(peak / MiB).toFixed(0)} MiB, after ${(after / MiB).toFixed(0)} MiB`);
    assert.ok(peak - before < 300 * MiB, `RSS peaked ${((peak - before) / MiB).toFixed(0)} MiB above its start`);
    await expectServiceAlive(ig);
  });

  test('the originals themselves are still served untouched (no parameter → no decode)', async () => {
    const res = await get(ig, 'http://localhost/gdk/test-images/fail/invalid.1.gif');
    assert.equal(res.status, 200, 'an original is bytes; only a transformation decodes it');
  });
});

describe('animated inputs are capped by frames × pixels', () => {
  let root: string;
  before(async () => {
    root = mkdtempSync(path.join(tmpdir(), 'imagegate-anim-'));
    const frame = (w: number, h: number, n: number) =>
      Promise.all(
        Array.from({ length: n }, (_, i) =>
          sharp({ create: { width: w, height: h, channels: 3, background: { r: (i * 37) % 256, g: (i * 91) % 256, b: 60 } } })
            .raw()
            .toBuffer(),
        ),
      );
    const gif = async (w: number, h: number, n: number, name: string) => {
      const frames = await frame(w, h, n);
      await sharp(Buffer.concat(frames), { raw: { width: w, height: h * n, channels: 3, pageHeight: h } as never })
        .gif({ loop: 0 })
        .toFile(path.join(root, name));
    };
    await gif(16, 16, 250, 'many-frames.gif'); // more frames than transform.maxFrames (200)
    await gif(200, 200, 30, 'thirty.gif'); // 1.2 MP in all: over a 1 MP limit, each frame 0.04 MP
    await sharp({ create: { width: 200, height: 200, channels: 3, background: '#336699' } }).png().toFile(path.join(root, 'still.png'));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  test('no more than transform.maxFrames frames come out', async () => {
    const ig = await testApp(root);
    const res = await get(ig, 'http://localhost/many-frames.gif?w=8');
    if (res.status === 200) {
      const out = await sharp(Buffer.from(await res.arrayBuffer()), { pages: -1 }).metadata();
      assert.ok((out.pages ?? 1) <= 200, `${out.pages} frames out`);
    } else {
      await expectRefusal(res, 'many-frames.gif');
    }
    const fewer = await testApp(root, { transform: { maxFrames: 10 } });
    const capped = await get(fewer, 'http://localhost/many-frames.gif?w=8');
    if (capped.status === 200) {
      const out = await sharp(Buffer.from(await capped.arrayBuffer()), { pages: -1 }).metadata();
      assert.ok((out.pages ?? 1) <= 10, `${out.pages} frames out with maxFrames 10`);
    } else {
      await expectRefusal(capped, 'many-frames.gif with maxFrames 10');
    }
  });

  test('the pixel limit counts every frame kept', async () => {
    const ig = await testApp(root, { transform: { maxPixels: 1_000_000 } });
    const still = await get(ig, 'http://localhost/still.png?w=50');
    assert.equal(still.status, 200, 'a 0.04 MP still image is under the limit');
    const anim = await get(ig, 'http://localhost/thirty.gif?w=50');
    const { status, code } = await expectRefusal(anim, 'thirty.gif');
    assert.equal(status, 422);
    assert.equal(code, 'image_too_large');
  });

  test('a real 45-frame GIF (19.8 MP in all) is refused under a 10 MP limit', { skip: skipCorpus }, async () => {
    const ig = await testApp(GDK, { ...corpusSources, transform: { maxPixels: 10_000_000 } });
    const res = await get(ig, 'http://localhost/gdk/1_partyanimsm2.gif?w=100');
    assert.equal((await expectRefusal(res, '1_partyanimsm2.gif')).code, 'image_too_large');
    const ok = await testApp(GDK, corpusSources);
    const res2 = await get(ok, 'http://localhost/gdk/1_partyanimsm2.gif?w=100');
    assert.equal(res2.status, 200, 'under the default 100 MP limit it renders');
  });
});

describe('SVG input is rasterised without external references or scripts', () => {
  let root: string;
  let outside: string;
  let ig: ImagegateApp;
  let canary: http.Server;
  let canaryUrl: string;
  const hits: string[] = [];

  before(async () => {
    const base = mkdtempSync(path.join(tmpdir(), 'imagegate-svg-'));
    root = path.join(base, 'root');
    outside = path.join(base, 'outside');
    mkdirSync(root);
    mkdirSync(outside);
    const red = await sharp({ create: { width: 50, height: 50, channels: 3, background: '#ff0000' } }).png().toBuffer();
    writeFileSync(path.join(outside, 'red.png'), red);
    writeFileSync(path.join(root, 'red.png'), red);
    canary = http.createServer((req, res) => {
      hits.push(req.url ?? '');
      res.writeHead(200, { 'content-type': 'image/png' });
      res.end(red);
    });
    await new Promise<void>((r) => canary.listen(0, '127.0.0.1', r));
    canaryUrl = `http://127.0.0.1:${(canary.address() as AddressInfo).port}`;

    const svg = (body: string, w = 100, h = 100, pre = '') =>
      `${pre}<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:xi="http://www.w3.org/2001/XInclude" width="${w}" height="${h}"><rect width="${w}" height="${h}" fill="#0000ff"/>${body}</svg>`;
    const image = (href: string) => `<image href="${href}" xlink:href="${href}" x="0" y="0" width="100" height="100"/>`;
    const files: Record<string, string> = {
      'data-image.svg': svg(image(`data:image/png;base64,${red.toString('base64')}`)),
      'file-image.svg': svg(image(`file://${path.join(outside, 'red.png')}`)),
      'relative-image.svg': svg(image('red.png')),
      'http-image.svg': svg(image(`${canaryUrl}/image.png`)),
      'http-use.svg': svg(`<use xlink:href="${canaryUrl}/use.svg#a"/><rect width="10" height="10" fill="url(${canaryUrl}/paint.svg#g)"/>`),
      'css-import.svg': svg(`<style>@import url("${canaryUrl}/style.css"); rect { fill: url(${canaryUrl}/fill.svg#x) }</style>`),
      'stylesheet-pi.svg': svg('', 100, 100, `<?xml-stylesheet type="text/css" href="${canaryUrl}/pi.css"?>`),
      'script.svg': svg(`<script>fetch("${canaryUrl}/script")</script><rect width="1" height="1" onload="fetch('${canaryUrl}/onload')"/>`).replace(
        '<svg ',
        `<svg onload="fetch('${canaryUrl}/svg-onload')" `,
      ),
      'text.svg': svg('<text x="5" y="60" font-size="40" fill="#000000">Hello</text>', 400, 100),
      'xinclude.svg': svg('<text x="5" y="60" font-size="40" fill="#000000"><xi:include href="file:///etc/passwd" parse="text"/></text>', 400, 100),
      'xinclude-http.svg': svg(`<text x="5" y="60" font-size="40" fill="#000000"><xi:include href="${canaryUrl}/xi.txt" parse="text"/></text>`, 400, 100),
      'entity.svg': `<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY f SYSTEM "file:///etc/passwd"><!ENTITY h SYSTEM "${canaryUrl}/entity">]>${svg('<text x="5" y="60" font-size="40" fill="#000000">&f;&h;</text>', 400, 100)}`,
    };
    for (const [name, text] of Object.entries(files)) writeFileSync(path.join(root, name), text);
    ig = await testApp(root);
  });
  after(async () => {
    await ig?.close();
    await new Promise((r) => canary.close(r));
    rmSync(path.dirname(root), { recursive: true, force: true });
  });

  async function render(name: string, w = 100): Promise<{ status: number; pixels?: { data: Buffer; width: number; height: number; channels: number } }> {
    const res = await get(ig, `http://localhost/${name}?w=${w}&fm=png`);
    if (res.status !== 200) {
      await expectRefusal(res, name);
      return { status: res.status };
    }
    const { data, info } = await sharp(Buffer.from(await res.arrayBuffer())).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
    return { status: 200, pixels: { data, width: info.width, height: info.height, channels: info.channels } };
  }

  const isRed = (p: { data: Buffer; width: number; height: number; channels: number }) => {
    const i = (Math.floor(p.height / 2) * p.width + Math.floor(p.width / 2)) * p.channels;
    return p.data[i] > 200 && p.data[i + 1] < 60 && p.data[i + 2] < 60;
  };
  const darkPixels = (p: { data: Buffer; width: number; height: number; channels: number }) => {
    let n = 0;
    for (let i = 0; i < p.data.length; i += p.channels) if (p.data[i] < 60 && p.data[i + 1] < 60 && p.data[i + 2] < 60) n++;
    return n;
  };

  test('SVG renders, and an embedded data: image is drawn (the control for the tests below)', async () => {
    const r = await render('data-image.svg');
    assert.equal(r.status, 200);
    assert.ok(isRed(r.pixels!), 'the data: image covers the centre');
    const text = await render('text.svg', 400);
    assert.equal(text.status, 200);
    assert.ok(darkPixels(text.pixels!) > 20, 'text is drawn');
  });

  test('an SVG original served untouched cannot run script on the service origin', async () => {
    const res = await get(ig, 'http://localhost/script.svg');
    assert.equal(res.status, 200);
    const type = res.headers.get('content-type') ?? '';
    const csp = res.headers.get('content-security-policy') ?? '';
    const sandboxed = /(^|;)\s*sandbox\b/.test(csp) || /script-src 'none'|default-src 'none'/.test(csp);
    assert.ok(!/svg|html|xml/.test(type) || sandboxed, `served as ${type} with CSP '${csp}'`);
  });

  test('images from file: URLs and relative paths are not loaded', async () => {
    for (const name of ['file-image.svg', 'relative-image.svg']) {
      const r = await render(name);
      if (r.pixels) assert.ok(!isRed(r.pixels), `${name}: the external image must not be drawn`);
    }
  });

  test('XInclude and external entities do not read /etc/passwd', async () => {
    for (const name of ['xinclude.svg', 'entity.svg']) {
      const r = await render(name, 400);
      if (r.pixels) assert.equal(darkPixels(r.pixels), 0, `${name}: no included text is drawn`);
    }
  });

  test('no http: reference is fetched: images, use, paint servers, CSS, XInclude, entities, scripts', async () => {
    for (const name of ['http-image.svg', 'http-use.svg', 'css-import.svg', 'stylesheet-pi.svg', 'script.svg', 'xinclude-http.svg', 'entity.svg']) {
      const r = await render(name);
      if (name === 'http-image.svg' && r.pixels) assert.ok(!isRed(r.pixels));
    }
    // Give any stray connection time to arrive before concluding none was made.
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(hits, [], 'the canary server was contacted');
  });
});
