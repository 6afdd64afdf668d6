/**
 * The watermark passes the same access decision as the original: a source with
 * `signing.required` is never readable through `mark=` / `mark64=` from an unsigned request or
 * one signed for another source, and the refusal is the same whether the object exists or not.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { get, makeImageFolder, testApp } from '../helpers/app.ts';
import type { ImagegateApp } from '../../src/http/app.ts';
import { signTarget } from '../../src/request/signature.ts';
import { markAccess } from '../../src/http/access.ts';
import { compileRoutes } from '../../src/routes/match.ts';

const TOKEN = 'mark-token-7c2e9a41d0b35f86';
const OTHER = 'other-token-1f0e2d3c4b5a6978';

describe('watermarks and signed sources', () => {
  let folder: Awaited<ReturnType<typeof makeImageFolder>>;
  let ig: ImagegateApp;
  before(async () => {
    folder = await makeImageFolder();
    ig = await testApp(folder.root, {
      sources: {
        signed: { type: 'fs', root: folder.root, signing: { token: TOKEN } },
        other: { type: 'fs', root: folder.root, signing: { token: OTHER } },
        optional: { type: 'fs', root: folder.root, signing: { token: OTHER, required: false } },
        open: { type: 'fs', root: folder.root },
      },
      routes: [
        { match: 'signed/*', source: 'signed', key: '{*}' },
        { match: 'other/*', source: 'other', key: '{*}' },
        { match: 'optional/*', source: 'optional', key: '{*}' },
        { match: 'open/*', source: 'open', key: '{*}' },
      ],
    });
  });
  after(async () => {
    await ig?.close();
    folder.cleanup();
  });

  const req = (target: string) => get(ig, `http://localhost${target}`);
  const answer = async (target: string) => {
    const res = await req(target);
    return { status: res.status, body: res.headers.get('content-type')?.includes('json') ? await res.json() : undefined };
  };
  const b64 = (s: string) => Buffer.from(s).toString('base64url');

  test('blend and mask images and mark-base pass the same decision: an unsigned request cannot read a signed source through them', async () => {
    for (const q of ['blend=%2Fsigned%2Falpha.png', `blend64=${b64('/signed/alpha.png')}`, 'mask=%2Fsigned%2Falpha.png', 'mark=alpha.png&mark-base=%2Fsigned%2F']) {
      const res = await answer(`/open/photo.jpg?w=40&${q}`);
      assert.equal(res.status, 403, q);
      assert.equal((res.body as { code: string }).code, 'invalid_signature', q);
    }
    assert.equal((await answer('/open/photo.jpg?w=40&blend=%2Fopen%2Falpha.png')).status, 200, 'an open source can be blended');
  });

  test('an unsigned request cannot read a signed source through mark or mark64; exists and missing answer alike', async () => {
    for (const param of ['mark', 'mark64']) {
      const enc = (p: string) => (param === 'mark' ? encodeURIComponent(p) : b64(p));
      const exists = await answer(`/open/photo.jpg?${param}=${enc('/signed/alpha.png')}&mark-w=1`);
      const missing = await answer(`/open/photo.jpg?${param}=${enc('/signed/no-such.png')}&mark-w=1`);
      assert.equal(exists.status, 403, param);
      assert.deepEqual(exists.body, { message: "Forbidden: mark: the watermark's source requires a signed URL", code: 'invalid_signature' });
      assert.deepEqual(missing, exists, `${param}: no existence oracle`);
    }
  });

  test('a request signed for another source cannot read a signed source through mark', async () => {
    const target = signTarget(`/other/photo.jpg?w=64&mark=${encodeURIComponent('/signed/alpha.png')}`, OTHER);
    assert.equal((await req(target)).status, 403);
    const missing = signTarget(`/other/photo.jpg?w=64&mark=${encodeURIComponent('/signed/no-such.png')}`, OTHER);
    assert.equal((await req(missing)).status, 403);
  });

  test('a request signed for the mark’s own source may use it: the signature covers the mark', async () => {
    const plain = await req(signTarget('/signed/photo.jpg?w=64&fm=png', TOKEN));
    const marked = await req(signTarget(`/signed/photo.jpg?w=64&fm=png&mark=${encodeURIComponent('/signed/alpha.png')}&mark-w=32`, TOKEN));
    assert.equal(plain.status, 200);
    assert.equal(marked.status, 200);
    assert.ok(!Buffer.from(await plain.arrayBuffer()).equals(Buffer.from(await marked.arrayBuffer())), 'the mark is drawn');
  });

  test('a mark path that carries its own valid signature is read; a forged one is 403', async () => {
    const signedMark = signTarget('/signed/alpha.png', TOKEN);
    const ok = await req(`/open/photo.jpg?w=64&mark=${encodeURIComponent(signedMark)}`);
    assert.equal(ok.status, 200);
    assert.equal((await sharp(Buffer.from(await ok.arrayBuffer())).metadata()).width, 64);
    const forged = signTarget('/signed/alpha.png', 'wrong-token');
    const bad = await answer(`/open/photo.jpg?w=64&mark=${encodeURIComponent(forged)}`);
    assert.equal(bad.status, 403);
    assert.equal((bad.body as { code: string }).code, 'invalid_signature');
    // Only the signature may ride on a mark path.
    const extra = await answer(`/open/photo.jpg?w=64&mark=${encodeURIComponent('/signed/alpha.png?w=9&s=0')}`);
    assert.equal(extra.status, 400);
  });

  test('sources that do not require signatures keep serving marks to unsigned requests', async () => {
    for (const src of ['open', 'optional']) {
      const res = await req(`/open/photo.jpg?w=64&mark=${encodeURIComponent(`/${src}/alpha.png`)}`);
      assert.equal(res.status, 200, src);
    }
    const missing = await answer(`/open/photo.jpg?w=64&mark=${encodeURIComponent('/open/no-such.png')}`);
    assert.equal(missing.status, 400);
  });
});

describe('markAccess: the signed path of a mark is the path as written in the parameter', () => {
  const routes = compileRoutes([{ match: 'signed/*', source: 'signed', key: '{*}' }]);
  const rules = (path: 'request' | 'afterBasePath') => ({ routes, signing: { signed: { token: TOKEN, required: true, path } }, basePath: '/dev', maxPathLength: 1024 });

  test('with the base path written in the mark, signed over what is written (path: request)', () => {
    const m = markAccess(rules('request'), signTarget('/dev/signed/logo.png', TOKEN), undefined);
    assert.deepEqual(m && { source: m.source, key: m.key }, { source: 'signed', key: 'logo.png' });
    assert.throws(() => markAccess(rules('request'), signTarget('/signed/logo.png', TOKEN).replace('/signed', '/dev/signed'), undefined), { code: 'invalid_signature' });
  });

  test('path: afterBasePath signs the path without the base path', () => {
    assert.equal(markAccess(rules('afterBasePath'), `/dev${signTarget('/signed/logo.png', TOKEN)}`, undefined)?.key, 'logo.png');
  });

  test('verified for the same source: no signature needed on the mark; for another source: 403; no route: undefined', () => {
    assert.equal(markAccess(rules('request'), '/signed/logo.png', 'signed')?.key, 'logo.png');
    assert.throws(() => markAccess(rules('request'), '/signed/logo.png', 'other'), { code: 'invalid_signature' });
    assert.equal(markAccess(rules('request'), '/elsewhere/logo.png', undefined), undefined);
  });
});
