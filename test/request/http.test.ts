import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { makeImageFolder, testApp, get } from '../helpers/app.ts';
import type { ImagegateApp } from '../../src/http/app.ts';

/** The request behaviours of the imgix URL API as a browser sees them, through the real app. */
describe('imgix URLs over HTTP', () => {
  let folder: Awaited<ReturnType<typeof makeImageFolder>>;
  let ig: ImagegateApp;
  let strict: ImagegateApp;
  before(async () => {
    folder = await makeImageFolder();
    ig = await testApp(folder.root);
    strict = await testApp(folder.root, { transform: { strict: true } });
  });
  after(async () => {
    await ig.close();
    await strict.close();
    folder.cleanup();
  });

  const meta = async (res: Response) => sharp(Buffer.from(await res.arrayBuffer())).metadata();

  test('URLs imgix renders are rendered, not refused', async () => {
    for (const q of ['w=abc', 'w=100&w=200', 'fit=cover&w=50', 'dpr=6&w=20', 'auto=format,compress,foo', 'fit=facearea,fill&w=50&h=50', 'fill=gradient&fit=fill&w=50&h=50', 'trim=alpha', 'fm=mp4', 'fm=jp2', 'fm=jxr']) {
      const res = await get(ig, `/photo.jpg?${q}`);
      assert.equal(res.status, 200, q);
      await res.arrayBuffer();
    }
    assert.equal((await meta(await get(ig, '/photo.jpg?w=100&w=200'))).width, 200, 'the last value');
    assert.equal((await meta(await get(ig, '/photo.jpg?dpr=6&w=20'))).width, 100, 'dpr clamped to 5');
  });

  test('transform.strict keeps the 400s, naming the parameter', async () => {
    for (const [q, name] of [['w=abc', 'w'], ['w=100&w=200', 'w'], ['fit=cover', 'fit'], ['dpr=6', 'dpr'], ['auto=format,foo', 'auto']]) {
      const res = await get(strict, `/photo.jpg?${q}`);
      assert.equal(res.status, 400, q);
      const body = (await res.json()) as { code: string; message: string };
      assert.equal(body.code, 'invalid_parameter');
      assert.ok(body.message.startsWith(`${name}: `), body.message);
    }
  });

  test('bad base64 in a 64 parameter is a 400 in either mode, as with imgix', async () => {
    for (const app of [ig, strict]) {
      const res = await get(app, '/photo.jpg?txt64=!!!');
      assert.equal(res.status, 400);
      assert.equal(((await res.json()) as { code: string }).code, 'invalid_parameter');
    }
  });

  test('fm the service cannot encode: the closest format and a header naming the substitution', async () => {
    const res = await get(ig, '/photo.jpg?w=40&fm=jp2');
    assert.equal(res.headers.get('content-type'), 'image/png');
    assert.equal(res.headers.get('x-imagegate-format-substituted'), 'jp2->png');
    await res.arrayBuffer();
  });

  test('dl= (empty) downloads under the image\'s own name; dl=name under that name; the original stays untouched', async () => {
    const empty = await get(ig, '/sub/inner.webp?dl=');
    assert.equal(empty.status, 200);
    assert.equal(empty.headers.get('content-disposition'), `attachment; filename="inner.webp"; filename*=UTF-8''inner.webp`);
    assert.ok(Buffer.from(await empty.arrayBuffer()).equals(readFileSync(path.join(folder.root, 'sub/inner.webp'))), 'the original bytes');
    const named = await get(ig, '/photo.jpg?w=20&dl=résumé "photo".jpg');
    assert.equal(named.headers.get('content-disposition'), `attachment; filename="r_sum_ _photo_.jpg"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%22photo%22.jpg`);
    await named.arrayBuffer();
    const plain = await get(ig, '/photo.jpg?w=20');
    assert.equal(plain.headers.get('content-disposition'), null);
    await plain.arrayBuffer();
  });

  test('an animated GIF under auto=format stays animated: WebP where accepted, else GIF', async () => {
    const webp = await get(ig, '/anim.gif?w=30&auto=format', { Accept: 'image/avif,image/webp,*/*' });
    assert.equal(webp.headers.get('content-type'), 'image/webp');
    assert.equal(webp.headers.get('vary'), 'Accept');
    assert.equal((await meta(webp)).pages, 3);
    const gif = await get(ig, '/anim.gif?w=30&auto=format', { Accept: 'image/avif,*/*' });
    assert.equal(gif.headers.get('content-type'), 'image/gif');
    assert.equal((await meta(gif)).pages, 3);
    const one = await get(ig, '/anim.gif?w=30&frame=1&fm=png');
    assert.equal((await meta(one)).pages ?? 1, 1);
  });
});
