import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import sharp from 'sharp';
import { makeImageFolder, testApp, get } from '../helpers/app.ts';
import type { ImagegateApp } from '../../src/http/app.ts';

/** Blend and mask images come from the service's sources, as watermarks do, and their identity is part of the cache key. */
describe('blend and mask images over HTTP', () => {
  let folder: Awaited<ReturnType<typeof makeImageFolder>>;
  let ig: ImagegateApp;
  // A new size each time: the fs source's ETag comes from size and modification time.
  let size = 20;
  const paint = (name: string, background: string) =>
    sharp({ create: { width: size, height: size++, channels: 4, background } }).png().toFile(path.join(folder.root, name));
  before(async () => {
    folder = await makeImageFolder();
    await paint('overlay.png', '#ff0000');
    ig = await testApp(folder.root, { cache: { sourceMetaTtlMs: 0 } });
  });
  after(async () => {
    await ig.close();
    folder.cleanup();
  });

  for (const q of ['blend=overlay.png&blend-mode=normal&blend-w=1&blend-h=1&blend-fit=scale', 'mask=overlay.png&fm=png']) {
    test(`a replaced image is a new derivative (${q.split('=')[0]})`, async () => {
      const url = `/photo.jpg?w=40&${q}`;
      const first = await get(ig, url);
      assert.equal(first.status, 200);
      const a = Buffer.from(await first.arrayBuffer());
      await paint('overlay.png', q.startsWith('mask') ? '#ff000000' : '#0000ff');
      const second = await get(ig, url);
      const b = Buffer.from(await second.arrayBuffer());
      assert.notEqual(second.headers.get('etag'), first.headers.get('etag'));
      assert.notDeepEqual(a, b);
      await paint('overlay.png', '#ff0000');
    });
  }
  test('a blend image no route publishes is a 400 naming blend', async () => {
    const res = await get(ig, '/photo.jpg?w=40&blend=nope.png');
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as { message: string }).message, /^blend: /);
  });
});
