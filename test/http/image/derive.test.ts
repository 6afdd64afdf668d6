import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { compileRoutes } from '../../../src/routes/match.ts';
import { deriver, resultKey } from '../../../src/http/image/derive.ts';
import { parseConfig } from '../../../src/config/load.ts';
import { cacheKey, etagFor } from '../../../src/cache/index.ts';
import { ServiceError } from '../../../src/errors.ts';

const config = parseConfig({ sources: { local: { type: 'fs', root: '.' } }, routes: [{ match: 'img/:id.:ext', source: 'local', key: 'photos/{id}.{ext}' }], keys: [] });
const derive = deriver({ routes: compileRoutes(config.routes), maxPathLength: 200, transform: config.transform });
const headers = (h: Record<string, string>) => ({ header: (name: string) => h[name.toLowerCase()] });
const none = headers({});

describe('derive stage (pure)', () => {
  test('path → route match → options → format → identity', () => {
    const d = derive('/img/cat.jpg', 'w=100&fm=webp', none)!;
    assert.deepEqual(d.request.match, { source: 'local', key: 'photos/cat.jpg', params: { id: 'cat', ext: 'jpg' } });
    assert.equal(d.request.opts.w, 100);
    assert.equal(d.negotiated.format, 'webp');
    assert.equal(d.negotiated.vary, false);
    assert.equal(d.identity, false);
    assert.equal(d.request.versioned, false);
    assert.ok(Object.isFrozen(d.request.opts));
  });

  test('no parameters: the untouched original', () => {
    assert.equal(derive('/img/cat.jpg', '', none)!.identity, true);
  });

  test('a target asked for again reuses its derivation', () => {
    const a = derive('/img/cat.jpg', 'w=101', none)!;
    const b = derive('/img/cat.jpg', 'w=101', none)!;
    assert.equal(a.request, b.request);
    assert.notEqual(derive('/img/cat.jpg', 'w=102', none)!.request, a.request);
  });

  test('auto=format: the Accept header chooses, per request, on the same derivation', () => {
    const webp = derive('/img/cat.jpg', 'w=100&auto=format', headers({ accept: 'image/webp' }))!;
    const plain = derive('/img/cat.jpg', 'w=100&auto=format', headers({ accept: 'image/jpeg' }))!;
    assert.equal(webp.request, plain.request);
    assert.equal(webp.negotiated.format, 'webp');
    assert.equal(plain.negotiated.format, undefined);
    assert.equal(plain.negotiated.vary, true);
  });

  test('client hints stand for parameters appended to the query', () => {
    const d = derive('/img/cat.jpg', 'ch=Width', headers({ 'sec-ch-width': '320' }))!;
    assert.equal(d.request.opts.w, 320);
    assert.equal(derive('/img/cat.jpg', 'ch=Width', none)!.request.opts.w, undefined);
  });

  test('v= marks a versioned URL', () => {
    assert.equal(derive('/img/cat.jpg', 'v=3&w=5', none)!.request.versioned, true);
  });

  test('no route: undefined; a bad path: 400, before any route is tried', () => {
    assert.equal(derive('/other/cat.jpg', 'w=1', none), undefined);
    assert.throws(() => derive('/img/%2e%2e/cat.jpg', '', none), (e: ServiceError) => e.status === 400 && e.code === 'invalid_path');
    assert.throws(() => derive(`/other/${'x'.repeat(300)}`, '', none), (e: ServiceError) => e.status === 400 && e.code === 'path_too_long');
  });

  test("the result's cache key and ETag: built from the source's version and the marks, kept until either changes", () => {
    const d = derive('/img/cat.jpg', 'w=100&fm=webp', none)!;
    const a = resultKey(d, '"v1"', '');
    assert.equal(a.key, cacheKey({ source: 'local', key: 'photos/cat.jpg', etag: '"v1"', options: d.request.options, format: 'webp' }));
    assert.equal(a.etag, etagFor(a.key));
    assert.equal(resultKey(d, '"v1"', ''), a, 'the same identity is not built again');
    assert.notEqual(resultKey(d, '"v2"', '').key, a.key);
    const marked = resultKey(d, '"v2"', '\nmark="m1"');
    assert.ok(marked.key.includes(encodeURIComponent('\nmark="m1"')));
  });
});
