/**
 * Masters through the whole app: which requests render from a master (counted by the app's own
 * metrics), that their output has the direct render's exact size, single-flight on the build,
 * the original's identity (a new ETag never uses an old master), and the persistent tier.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { get, makeImageFolder, testApp, testConfig } from '../helpers/app.ts';
import { CountingStorage } from '../helpers/storage.ts';
import { createStorages } from '../../src/storage/index.ts';
import type { ImagegateApp } from '../../src/http/app.ts';
import { photoSkip } from '../pipeline/helpers.ts';

const FOSSA = '/usr/share/backgrounds/Fossa_by_Jasper_Roks.jpg'; // 4096×2304 baseline 4:4:4
const skip = photoSkip();

async function counts(ig: ImagegateApp) {
  const v = async (c: { get(): Promise<{ values: Array<{ value: number }> }> }) => (await c.get()).values[0]?.value ?? 0;
  const m = ig.metrics;
  return { made: await v(m.mastersMade), hits: await v(m.masterHits), original: await v(m.rendersFromOriginal), bytes: await v(m.masterBytesStored) };
}

async function size(res: Response): Promise<[number, number, string]> {
  assert.equal(res.status, 200, await res.clone().text());
  const meta = await sharp(Buffer.from(await res.arrayBuffer())).metadata();
  return [meta.width!, meta.height!, meta.format!];
}

describe('masters through the app', { skip }, () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'imagegate-masters-'));
    copyFileSync(FOSSA, path.join(dir, 'fossa.jpg'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('one size of an original renders from it and builds no master; the second size decodes it once into its master and renders from that; later eligible sizes render from it, at the direct render\'s exact size', async () => {
    const storage = new CountingStorage((await createStorages(testConfig(dir).sources)).local);
    const ig = await testApp(dir, {}, { storages: { local: storage } });
    const direct = await testApp(dir, { cache: { masters: { enabled: false } } });
    try {
      await size(await get(ig, '/fossa.jpg?w=500'));
      await ig.masters.close();
      let c = await counts(ig);
      assert.deepEqual([c.made, c.hits, c.original], [0, 0, 1], 'an original asked for once gets no master');
      assert.equal(storage.reads, 1);
      assert.deepEqual(await size(await get(ig, '/fossa.jpg?w=480')), await size(await get(direct, '/fossa.jpg?w=480')));
      await ig.masters.close(); // the master is stored after the second size's response
      c = await counts(ig);
      assert.deepEqual([c.made, c.hits, c.original], [1, 1, 1], 'the second size rendered from the master its own decode made');
      assert.equal(storage.reads, 2, 'the original was read once per request: the second read made the master');
      assert.ok(c.bytes > 100_000, `master bytes ${c.bytes}`);
      const eligible = ['w=101', 'w=333', 'w=641&fm=webp', 'w=999&h=333&fit=crop', 'h=577&fm=avif', 'w=1000&dpr=2', 'w=2048', 'w=300&ar=4:3&fit=crop', 'w=250&rect=1000,500,1500,900', 'w=400&h=400&fit=crop&crop=focalpoint&fp-x=0.2&fp-y=0.7&fp-z=2', 'w=720&fit=crop&ar=1:1&crop=entropy'];
      for (const q of eligible) assert.deepEqual(await size(await get(ig, `/fossa.jpg?${q}`)), await size(await get(direct, `/fossa.jpg?${q}`)), q);
      c = await counts(ig);
      assert.deepEqual([c.made, c.hits, c.original], [1, eligible.length + 1, 1], 'every eligible request rendered from the master');
      assert.equal(storage.reads, 2, 'and none read the original');
      for (const q of ['w=2100', 'w=1200&dpr=2', 'w=400&fm=png', 'w=400&fm=json', 'w=400&orient=90', 'w=400&bri=20', 'w=400&fm=webp&lossless=1', 'w=400&rect=0,0,600,400', 'fm=webp']) {
        const res = await get(ig, `/fossa.jpg?${q}`);
        assert.equal(res.status, 200, q);
        await res.arrayBuffer();
      }
      const after = await counts(ig);
      assert.deepEqual([after.made, after.hits, after.original], [1, eligible.length + 1, 10], 'ineligible requests rendered from the original');
    } finally {
      await ig.close();
      await direct.close();
    }
  });

  test('concurrent sizes of a new original wait for one master instead of decoding the original each', async () => {
    const storage = new CountingStorage((await createStorages(testConfig(dir).sources)).local);
    const ig = await testApp(dir, { limits: { concurrency: 2, queue: 16 } }, { storages: { local: storage } });
    try {
      const widths = [120, 240, 360, 480, 600, 720, 840, 960];
      const sizes = await Promise.all(widths.map(async (w) => size(await get(ig, `/fossa.jpg?w=${w}&fm=webp`))));
      assert.deepEqual(sizes.map((s) => s[0]), widths);
      await ig.masters.close();
      const c = await counts(ig);
      assert.deepEqual([c.made, c.hits, c.original], [1, widths.length - 1, 1]);
      assert.equal(storage.reads, 2, 'the original was read twice: the first size, and the one decode that made the master');
    } finally {
      await ig.close();
    }
  });

  test('a replaced original (new ETag) never renders from the old master', async () => {
    const file = path.join(dir, 'replaced.jpg');
    copyFileSync(FOSSA, file);
    const ig = await testApp(dir, { cache: { sourceMetaTtlMs: 0 } });
    try {
      await size(await get(ig, '/replaced.jpg?w=400'));
      await size(await get(ig, '/replaced.jpg?w=350'));
      await ig.masters.close();
      await size(await get(ig, '/replaced.jpg?w=250'));
      assert.deepEqual(await counts(ig).then((c) => [c.made, c.hits]), [1, 2]);
      // The new version: the same photo turned upside down, 4096×2304 still.
      await sharp(FOSSA).rotate(180).jpeg({ quality: 90 }).toFile(`${file}.new`);
      copyFileSync(`${file}.new`, file);
      utimesSync(file, new Date(), new Date(Date.now() + 5000));
      const res = await get(ig, '/replaced.jpg?w=300');
      const body = Buffer.from(await res.arrayBuffer());
      let c = await counts(ig);
      assert.deepEqual([c.made, c.hits, c.original], [1, 2, 2], 'rendered from the new original');
      const newVersion = async (body: Buffer, w: number) => {
        const expected = await sharp(FOSSA).rotate(180).resize(w).raw().toBuffer();
        const got = await sharp(body).raw().toBuffer();
        const mean = got.reduce((s, v, i) => s + Math.abs(v - expected[i]), 0) / got.length;
        assert.ok(mean < 3, `the new version's pixels at w=${w} (mean difference ${mean.toFixed(2)})`);
      };
      await newVersion(body, 300);
      await newVersion(Buffer.from(await (await get(ig, '/replaced.jpg?w=220')).arrayBuffer()), 220);
      await ig.masters.close();
      await newVersion(Buffer.from(await (await get(ig, '/replaced.jpg?w=200')).arrayBuffer()), 200);
      c = await counts(ig);
      assert.deepEqual([c.made, c.hits], [2, 4], 'a master of the new version, then renders from it');
    } finally {
      await ig.close();
    }
  });

  test('a master in the persistent tier serves another process: no decode of the original there', async () => {
    const cacheDir = mkdtempSync(path.join(tmpdir(), 'imagegate-masters-cache-'));
    const cfg = { cache: { persistent: { type: 'fs', dir: cacheDir } } };
    const one = await testApp(dir, cfg);
    const storage = new CountingStorage((await createStorages(testConfig(dir).sources)).local);
    const two = await testApp(dir, cfg, { storages: { local: storage } });
    try {
      assert.deepEqual(await one.masters.build({ source: 'local', key: 'fossa.jpg' }).then((r) => r.outcome), 'made');
      assert.deepEqual(await one.masters.build({ source: 'local', key: 'fossa.jpg' }).then((r) => r.outcome), 'exists');
      assert.deepEqual(await size(await get(two, '/fossa.jpg?w=640')), [640, 360, 'jpeg']);
      const c = await counts(two);
      assert.deepEqual([c.made, c.hits, c.original], [0, 1, 0]);
      assert.equal(storage.reads, 0, 'the original was not read');
    } finally {
      await one.close();
      await two.close();
      rmSync(cacheDir, { recursive: true, force: true });
    }
  });

  test('cache.masters.pixelBytes=0: later sizes render from the stored master, at the direct render\'s exact size', async () => {
    const storage = new CountingStorage((await createStorages(testConfig(dir).sources)).local);
    const ig = await testApp(dir, { cache: { masters: { pixelBytes: 0 } } }, { storages: { local: storage } });
    const direct = await testApp(dir, { cache: { masters: { enabled: false } } });
    try {
      for (const q of ['w=500', 'w=480', 'w=333&fm=webp', 'w=250&rect=1000,500,1500,900']) {
        assert.deepEqual(await size(await get(ig, `/fossa.jpg?${q}`)), await size(await get(direct, `/fossa.jpg?${q}`)), q);
        await ig.masters.close();
      }
      const c = await counts(ig);
      assert.deepEqual([c.made, c.hits, c.original], [1, 3, 1]);
      assert.equal(storage.reads, 2);
    } finally {
      await ig.close();
      await direct.close();
    }
  });

  test('cache.masters.enabled=false: every render from the original, no master', async () => {
    const ig = await testApp(dir, { cache: { masters: { enabled: false } } });
    try {
      for (const w of [300, 400]) await size(await get(ig, `/fossa.jpg?w=${w}`));
      await ig.masters.close();
      const c = await counts(ig);
      assert.deepEqual([c.made, c.hits, c.original], [0, 0, 2]);
      assert.equal((await ig.masters.build({ source: 'local', key: 'fossa.jpg' })).outcome, 'ineligible');
    } finally {
      await ig.close();
    }
  });
});

describe('masters: originals that get none', () => {
  test('small originals, animations and SVG: a marker, so no one builds again', async () => {
    const folder = await makeImageFolder();
    const storage = new CountingStorage((await createStorages(testConfig(folder.root).sources)).local);
    const ig = await testApp(folder.root, {}, { storages: { local: storage } });
    try {
      for (const key of ['photo.jpg', 'anim.gif']) assert.equal((await ig.masters.build({ source: 'local', key })).outcome, 'ineligible', key);
      const reads = storage.reads;
      await size(await get(ig, '/photo.jpg?w=100'));
      await ig.masters.close();
      assert.equal(storage.reads, reads + 1, 'one read: the render, no build');
      const c = await counts(ig);
      assert.deepEqual([c.made, c.hits, c.original], [0, 0, 1]);
    } finally {
      await ig.close();
      folder.cleanup();
    }
  });
});
