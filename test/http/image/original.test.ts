import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { makeImageFolder } from '../../helpers/app.ts';
import { createFsStorage } from '../../../src/storage/fs.ts';
import { ByteBudget } from '../../../src/cache/index.ts';
import type { Storage } from '../../../src/storage/types.ts';
import { bodyStream, originalHeaders, readOriginal } from '../../../src/http/image/original.ts';
import { originalContentType } from '../../../src/content-type.ts';
import { ServiceError } from '../../../src/errors.ts';

describe('original stage', () => {
  let folder: Awaited<ReturnType<typeof makeImageFolder>>;
  let fs: Storage;
  before(async () => {
    folder = await makeImageFolder();
    fs = createFsStorage({ root: folder.root });
  });
  after(() => folder.cleanup());

  const match = (key: string) => ({ source: 's', key, params: {} });
  const signal = () => AbortSignal.timeout(10_000);
  const kinds: Array<[string, (fs: Storage) => Storage]> = [
    ['opens and streams (fs)', (fs) => fs],
    ['streams only', (fs) => ({ head: fs.head, get: fs.get, stream: fs.stream })],
    ['reads whole only', (fs) => ({ head: fs.head, get: fs.get })],
  ];

  for (const [kind, make] of kinds) {
    test(`${kind}: the bytes, their first bytes for the type, and the budget back when the body is read`, async () => {
      const storage = make(fs);
      const bytes = new ByteBudget({ maxBytes: 64 << 20, queue: 4 });
      const deps = { storages: { s: storage }, bytes };
      const obj = await readOriginal(deps, match('photo.jpg'), 'photo.jpg', signal(), false);
      const expected = readFileSync(path.join(folder.root, 'photo.jpg'));
      assert.equal(obj.size, expected.length);
      assert.equal(originalContentType(obj.head, undefined), 'image/jpeg');
      assert.ok(bytes.inFlight > 0, 'held while the body is unsent');
      const sent = Buffer.from(await new Response(obj.body).arrayBuffer());
      assert.ok(sent.equals(expected));
      assert.equal(bytes.inFlight, 0);
      const head = await readOriginal(deps, match('photo.jpg'), 'photo.jpg', signal(), true);
      assert.equal(head.body, null);
      assert.equal(originalContentType(head.head, undefined), 'image/jpeg');
      assert.equal(bytes.inFlight, 0);
      await assert.rejects(readOriginal(deps, match('gone.jpg'), 'gone.jpg', signal(), false), (e: ServiceError) => e.status === 404 && e.message.includes('gone.jpg'));
      assert.equal(bytes.inFlight, 0);
    });
  }

  test('a body cancelled by the client gives the budget back once', async () => {
    let done = 0;
    const stream = bodyStream(Buffer.from('a'), [Buffer.from('b'), Buffer.from('c')][Symbol.iterator](), () => done++);
    const reader = stream.getReader();
    assert.equal(Buffer.from((await reader.read()).value!).toString(), 'a');
    await reader.cancel();
    assert.equal(done, 1);
  });

  test("an original's headers: its own ETag, the type from its bytes, its length; an SVG is sandboxed", () => {
    const meta = { size: 3, etag: '"own"' };
    const png = readFileSync(path.join(folder.root, 'liar.jpeg'));
    const h: Record<string, string> = { ETag: '"derived"' };
    originalHeaders(h, { meta: { ...meta, contentType: 'image/jpeg' }, head: png, size: png.length, body: null });
    assert.deepEqual(h, { ETag: '"own"', 'Content-Type': 'image/png', 'Content-Length': String(png.length) });
    const svg: Record<string, string> = {};
    originalHeaders(svg, { meta, head: Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>'), size: 3, body: null });
    assert.equal(svg['Content-Type'], 'image/svg+xml');
    assert.match(svg['Content-Security-Policy']!, /sandbox/);
  });
});
