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
});
