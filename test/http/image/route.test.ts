import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { compileRoutes } from '../../../src/routes/match.ts';
import { Hono } from 'hono';
import { imageRoute, lenientSource, matchSource, notFound } from '../../../src/http/image/route.ts';
import type { AppEnv } from '../../../src/http/context.ts';
import { ServiceError } from '../../../src/errors.ts';
import { inContext } from '../../helpers/context.ts';

const routes = compileRoutes([
  { match: 'signed/*', source: 'signed', key: '{*}' },
  { match: '*', source: 'local' },
]);

describe('route stage', () => {
  test('the target after the base path, and the source found on a lenient decoding when asked', async () => {
    const r = await inContext('http://localhost/base/signed/a%20b.jpg?w=1', (c) => imageRoute(c, routes, '/base', true));
    assert.equal(r.target.imagePath, '/signed/a%20b.jpg');
    assert.deepEqual(r.target.rawQueries, ['w=1']);
    assert.equal(r.relative, 'signed/a%20b.jpg');
    assert.equal(r.source, 'signed');
  });

  test('not asked: no source is looked up', async () => {
    const r = await inContext('http://localhost/signed/a.jpg', (c) => imageRoute(c, routes, '', false));
    assert.equal(r.source, undefined);
  });

  test('reuses the target and source the matchSource middleware put on the context instead of matching again', async () => {
    const target = { imagePath: '/signed/x.jpg', clientPath: '/signed/x.jpg', rawQueries: [''], inBasePath: true };
    // A source no route would give: only the context's value can produce it.
    const r = await inContext('http://localhost/other.jpg', (c) => imageRoute(c, routes, '', true), { vars: { target, source: 'from-context' } });
    assert.equal(r.target, target);
    assert.equal(r.source, 'from-context');
  });

  test('outside the base path: 404 naming the path', async () => {
    await assert.rejects(
      inContext('http://localhost/elsewhere/a.jpg', (c) => imageRoute(c, routes, '/base', true)),
      (e: ServiceError) => e.status === 404 && e.code === 'not_found' && e.message.includes('elsewhere/a.jpg'),
    );
  });

  test('lenient decoding: a bad escape or a dot segment still finds the source; an empty path finds none', () => {
    assert.equal(lenientSource(routes, 'signed/%zz.jpg'), 'signed');
    assert.equal(lenientSource(routes, 'signed/../x.jpg'), 'signed');
    assert.equal(lenientSource(routes, ''), undefined);
  });

  test('a 404 message masks control characters and is bounded', () => {
    assert.equal(notFound('a%0Ab.jpg').message, 'Invalid image path: a?b.jpg');
    assert.ok(notFound('x'.repeat(500)).message.endsWith('…'));
  });

  test('as middleware: the target and its source on the context, for what runs before the handler', async () => {
    const app = new Hono<AppEnv>();
    app.use('*', matchSource({ routes, basePath: '/base' }));
    app.get('*', (c) => c.json({ path: c.get('target')?.imagePath, source: c.get('source') ?? null }));
    assert.deepEqual(await (await app.request('http://localhost/base/signed/%zz.jpg')).json(), { path: '/signed/%zz.jpg', source: 'signed' });
    assert.deepEqual(await (await app.request('http://localhost/base/')).json(), { path: '/', source: null });
    assert.deepEqual(await (await app.request('http://localhost/other/a.jpg')).json(), { path: '/other/a.jpg', source: null });
  });
});
