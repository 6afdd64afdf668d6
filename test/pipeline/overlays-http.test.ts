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

describe('client hints (ch)', () => {
  let folder: Awaited<ReturnType<typeof makeImageFolder>>;
  let ig: ImagegateApp;
  before(async () => {
    folder = await makeImageFolder();
    ig = await testApp(folder.root);
  });
  after(async () => {
    await ig.close();
    folder.cleanup();
  });
  const width = async (res: Response) => (await sharp(Buffer.from(await res.arrayBuffer())).metadata()).width;

  test('Width sets the width in device pixels; DPR multiplies w; Accept-CH and Vary name the hints', async () => {
    const res = await get(ig, '/photo.jpg?w=300&ch=Width,DPR', { 'Sec-CH-Width': '120', 'Sec-CH-DPR': '2' });
    assert.equal(await width(res), 120);
    assert.equal(res.headers.get('accept-ch'), 'Sec-CH-DPR, DPR, Sec-CH-Width, Width');
    assert.equal(res.headers.get('vary'), 'Sec-CH-DPR, DPR, Sec-CH-Width, Width');
    assert.equal(await width(await get(ig, '/photo.jpg?w=100&ch=dpr', { DPR: '2' })), 200);
    assert.equal(await width(await get(ig, '/photo.jpg?w=100&ch=dpr')), 100, 'no hint sent: w as written');
    assert.equal(await width(await get(ig, '/photo.jpg?w=100', { DPR: '2' })), 100, 'hints only where ch asks for them');
  });
  test('Save-Data: on lowers the quality unless q is given', async () => {
    const size = async (h: Record<string, string>, q = '') => Buffer.from(await (await get(ig, `/photo.jpg?w=300&ch=save-data${q}`, h)).arrayBuffer()).length;
    assert.ok((await size({ 'Save-Data': 'on' })) < (await size({})));
    assert.equal(await size({ 'Save-Data': 'on' }, '&q=90'), await size({}, '&q=90'));
  });
});
