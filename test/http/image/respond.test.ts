import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cacheControl, imageHeaders, respond, resultHeaders } from '../../../src/http/image/respond.ts';
import { deriver } from '../../../src/http/image/derive.ts';
import { compileRoutes } from '../../../src/routes/match.ts';
import { parseConfig } from '../../../src/config/load.ts';
import { addResponseHeaders } from '../../../src/http/context.ts';
import { inContext } from '../../helpers/context.ts';

const config = parseConfig({
  server: { cacheControl: 'private, max-age=60' },
  sources: { local: { type: 'fs', root: '.' }, own: { type: 'fs', root: '.', cacheControl: 'max-age=5' } },
  routes: [{ match: 'own/*', source: 'own', key: '{*}' }, { match: '*', source: 'local' }],
  keys: [],
});
const derive = deriver({ routes: compileRoutes(config.routes), maxPathLength: 500, transform: config.transform });
const meta = { size: 1, etag: '"e"', lastModified: new Date('2026-01-02T03:04:05Z') };
const none = { header: () => undefined };

describe('respond stage', () => {
  test('Cache-Control: the object\'s own, else the source\'s, else by credential', () => {
    assert.equal(cacheControl(config, { ...meta, cacheControl: 'no-cache' }, 'local', false, 'signed', false), 'no-cache');
    assert.equal(cacheControl(config, meta, 'own', false, 'signed', false), 'max-age=5');
    assert.equal(cacheControl(config, meta, 'local', true, 'key', false), 'private, max-age=60');
    assert.equal(cacheControl(config, meta, 'local', false, 'anonymous', false), 'public, max-age=31536000');
    assert.equal(cacheControl(config, meta, 'local', true, 'signed', false), 'public, max-age=31536000, immutable');
    assert.equal(cacheControl(config, meta, 'local', true, 'signed', true), 'public, max-age=31536000');
  });

  test('the headers of a 200 or 304: ETag, bounded Cache-Control, Last-Modified, Vary, Accept-CH, Content-Disposition', () => {
    const d = derive('/a%20b.jpg', 'w=10&auto=format&ch=DPR&dl=', { header: (n) => (n === 'accept' ? 'image/webp' : undefined) })!;
    const expires = Math.floor(Date.now() / 1000) + 30;
    const h = imageHeaders(config, d, meta, '"k"', 'key', expires, 'a%20b.jpg');
    assert.equal(h.ETag, '"k"');
    assert.match(h['Cache-Control']!, /^private, max-age=(29|30)$/);
    assert.equal(h['Last-Modified'], 'Fri, 02 Jan 2026 03:04:05 GMT');
    assert.equal(h.Vary, 'Accept, Sec-CH-DPR, DPR');
    assert.equal(h['Accept-CH'], 'Sec-CH-DPR, DPR');
    assert.match(h['Content-Disposition']!, /^attachment; filename="a b.jpg"/);
    assert.equal(h['X-Content-Type-Options'], 'nosniff');
    const plain = imageHeaders(config, derive('/a.jpg', 'w=10', none)!, { size: 1, etag: '"e"' }, '"k"', 'key', undefined, 'a.jpg');
    assert.deepEqual(Object.keys(plain).sort(), ['Cache-Control', 'ETag', 'X-Content-Type-Options']);
  });

  test("a result's type, length and own headers over the request's", () => {
    const h: Record<string, string> = { ETag: '"k"' };
    resultHeaders(h, { body: Buffer.from('abc'), contentType: 'image/webp', headers: { 'X-Extra': '1' }, createdAt: 0 });
    assert.deepEqual(h, { ETag: '"k"', 'X-Extra': '1', 'Content-Type': 'image/webp', 'Content-Length': '3' });
  });

  test('the response takes the pending headers once, Vary added to; HEAD has no body', async () => {
    const res = await inContext('http://localhost/', (c) => {
      addResponseHeaders(c, { 'X-Request-Id': 'r1', Vary: 'Origin' });
      return respond(c, 200, { Vary: 'Accept' }, Buffer.from('body'));
    });
    assert.equal(res.headers.get('x-request-id'), 'r1');
    assert.equal(res.headers.get('vary'), 'Accept, Origin');
    assert.equal(await res.text(), 'body');
    const head = await inContext('http://localhost/', (c) => respond(c, 200, {}, Buffer.from('body')), { method: 'HEAD' });
    assert.equal(head.body, null);
  });
});
