/**
 * Local originals handed to the decoder as files (`Storage.open`): the very file that was
 * checked is decoded, whatever happens to its path meanwhile; handles are closed after every
 * render; the output equals the one made from the bytes; SVG never goes this way.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { createFsStorage } from '../../src/storage/fs.ts';
import { runPipeline } from '../../src/pipeline/run.ts';
import { parseTransform } from '../../src/request/params.ts';
import { makeImageFolder, testApp, testConfig, get } from '../helpers/app.ts';
import { CountingStorage } from '../helpers/storage.ts';

/** The fs storage with its calls counted; `afterOpen` runs between the open and the render. */
function spyStorage(root: string, afterOpen?: (key: string) => void): CountingStorage {
  return new CountingStorage(createFsStorage({ root }), { afterOpen });
}

const openFds = () => readdirSync('/proc/self/fd').length;

describe('fs source opened for the decoder', () => {
  let folder: Awaited<ReturnType<typeof makeImageFolder>>;
  before(async () => {
    folder = await makeImageFolder();
  });
  after(() => folder.cleanup());

  test('names the open handle: a file swapped for a symlink after the check is not what gets read', async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'imagegate-open-'));
    try {
      const outside = path.join(tmpdir(), `imagegate-outside-${process.pid}.png`);
      await sharp({ create: { width: 8, height: 8, channels: 3, background: '#00ff00' } }).png().toFile(outside);
      await sharp({ create: { width: 8, height: 8, channels: 3, background: '#ff0000' } }).png().toFile(path.join(root, 'a.png'));
      const storage = createFsStorage({ root });
      const opened = await storage.open!('a.png');
      assert.ok(opened);
      assert.match(opened.file, /^\/proc\/self\/fd\/\d+$/);
      assert.equal(opened.head.subarray(1, 4).toString('latin1'), 'PNG');
      // The path now leads outside the root; the handle still holds the checked file.
      renameSync(path.join(root, 'a.png'), path.join(root, 'old.png'));
      symlinkSync(outside, path.join(root, 'a.png'));
      const { data } = await sharp(opened.file).raw().toBuffer({ resolveWithObject: true });
      assert.deepEqual([...data.subarray(0, 3)], [255, 0, 0]);
      await opened.close();
      assert.equal(await storage.open!('a.png'), undefined, 'a symlink leaving the root is missing');
      assert.equal(await storage.open!('nope.png'), undefined);
      rmSync(outside);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  test('the pipeline renders the same bytes from the file as from memory', async () => {
    const storage = createFsStorage({ root: folder.root });
    const config = testConfig(folder.root).transform;
    for (const [key, query, format] of [
      ['photo.jpg', 'w=120&sat=40', 'webp'],
      ['alpha.png', 'w=50&border=2,000000', 'png'],
      ['anim.gif', 'w=30', 'gif'],
    ] as const) {
      const opts = parseTransform(new URLSearchParams(query), config);
      const ctx = { config, format, deadline: Date.now() + 60_000, loadMark: async () => undefined } as const;
      const fromBytes = await runPipeline((await storage.get(key))!.body, opts, ctx);
      const opened = (await storage.open!(key))!;
      try {
        const fromFile = await runPipeline({ file: opened.file, head: opened.head, size: opened.meta.size }, opts, ctx);
        assert.ok(fromFile.body.equals(fromBytes.body), key);
      } finally {
        await opened.close();
      }
    }
  });

  test('every handle is closed after renders, refusals and corrupt sources alike', async () => {
    writeFileSync(path.join(folder.root, 'broken.jpg'), Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(64, 7)]));
    const ig = await testApp(folder.root, { cache: { enabled: false } });
    try {
      await get(ig, '/photo.jpg?w=10'); // warm-up: modules and pools open what they keep
      const before = openFds();
      const statuses: number[] = [];
      for (let i = 0; i < 12; i++) statuses.push((await get(ig, `/photo.jpg?w=${20 + i}`)).status);
      statuses.push((await get(ig, '/broken.jpg?w=10')).status);
      statuses.push((await get(ig, '/photo.jpg?w=10&rot=45&fm=json')).status);
      assert.deepEqual([...new Set(statuses)].sort(), [200, 422]);
      assert.ok(openFds() <= before, `${openFds()} descriptors open after, ${before} before`);
    } finally {
      await ig.close();
    }
  });

  test('the handler decodes raster originals from the opened file, and SVG from memory (the file closed either way)', async () => {
    writeFileSync(path.join(folder.root, 'drawing.svg'), '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20"><rect width="40" height="20" fill="#f00"/></svg>');
    const storage = spyStorage(folder.root);
    const calls = () => ({ opens: storage.opens, gets: storage.gets, fileReads: storage.fileReads, closes: storage.closes });
    const ig = await testApp(folder.root, { cache: { enabled: false } }, { storages: { local: storage } });
    try {
      assert.equal((await get(ig, '/photo.jpg?w=41')).status, 200);
      assert.deepEqual(calls(), { opens: 1, gets: 0, fileReads: 0, closes: 1 });
      const svg = await get(ig, '/drawing.svg?w=20&fm=png');
      assert.equal(svg.status, 200);
      assert.deepEqual(calls(), { opens: 2, gets: 0, fileReads: 1, closes: 2 }, 'the SVG was read into memory through the same handle');
    } finally {
      await ig.close();
    }
  });

  test('changed() tells a file rewritten in place from one left alone', async () => {
    const file = path.join(folder.root, 'rewritten.png');
    await sharp({ create: { width: 8, height: 8, channels: 3, background: '#123456' } }).png().toFile(file);
    const storage = createFsStorage({ root: folder.root });
    const kept = (await storage.open!('rewritten.png'))!;
    assert.equal(await kept.changed(), false);
    await kept.close();
    const opened = (await storage.open!('rewritten.png'))!;
    writeFileSync(file, await sharp({ create: { width: 9, height: 9, channels: 3, background: '#654321' } }).png().toBuffer());
    assert.equal(await opened.changed(), true);
    await opened.close();
  });

  test('an original rewritten in place during its render is a 503 source_changed, not a cached mix of two versions', async () => {
    const file = path.join(folder.root, 'moving.png');
    await sharp({ create: { width: 64, height: 64, channels: 3, background: '#ff0000' } }).png().toFile(file);
    const rewrite = (content: Buffer) => () => writeFileSync(file, content);
    const bigger = await sharp({ create: { width: 80, height: 80, channels: 3, background: '#0000ff' } }).png().toBuffer();
    const storage = spyStorage(folder.root, rewrite(bigger));
    const ig = await testApp(folder.root, {}, { storages: { local: storage } });
    try {
      const res = await get(ig, '/moving.png?w=16');
      assert.equal(res.status, 503);
      assert.equal((await res.json()).code, 'source_changed');
      assert.equal(res.headers.get('retry-after'), '1');
    } finally {
      await ig.close();
    }
  });

  test('a raster file turned into SVG after it was opened is never decoded as SVG from the file', async () => {
    // The pipeline itself refuses it, before any decode (the changed() check would come after).
    const file = path.join(folder.root, 'turncoat.png');
    await sharp({ create: { width: 64, height: 64, channels: 3, background: '#00ff00' } }).png().toFile(file);
    const storage = createFsStorage({ root: folder.root });
    const opened = (await storage.open!('turncoat.png'))!;
    try {
      writeFileSync(file, '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><rect width="64" height="64"/></svg>');
      const config = testConfig(folder.root).transform;
      const opts = parseTransform(new URLSearchParams('w=16'), config);
      await assert.rejects(
        runPipeline({ file: opened.file, head: opened.head, size: opened.meta.size }, opts, { config, format: 'png', deadline: Date.now() + 60_000, loadMark: async () => undefined }),
        { code: 'source_changed' },
      );
    } finally {
      await opened.close();
    }
});
});
