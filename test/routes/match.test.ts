import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { compileRoutes, matchRoute, routeSource } from '../../src/routes/match.ts';
import { normaliseImagePath } from '../../src/routes/path.ts';

describe('route matching', () => {
  const routes = compileRoutes([
    { match: 'partnerimages/:a/:b/:id.:ext', source: 'partner', key: '{id}.{ext}' },
    { match: 'users/:user/avatar', source: 'avatars', key: 'u/{user}.png' },
    { match: 'static/*', source: 'static', key: 'public/{*}' },
    { match: '*', source: 'local' },
  ]);

  test('captures segments and builds the key from the template', () => {
    assert.deepEqual(matchRoute(routes, 'partnerimages/67/28/67286576.jpeg'), {
      source: 'partner',
      key: '67286576.jpeg',
      params: { a: '67', b: '28', id: '67286576', ext: 'jpeg' },
    });
  });

  test('a capture never crosses a slash', () => {
    const m = matchRoute(routes, 'partnerimages/67/28/x/67286576.jpeg');
    assert.equal(m?.source, 'local');
  });

  test('literal-only routes and templates without captures', () => {
    assert.equal(matchRoute(routes, 'users/alice/avatar')?.key, 'u/alice.png');
  });

  test('the wildcard takes the rest of the path', () => {
    assert.equal(matchRoute(routes, 'static/a/b/c.png')?.key, 'public/a/b/c.png');
  });

  test('first match wins; the catch-all keeps the whole path as key', () => {
    assert.deepEqual(matchRoute(routes, 'any/thing.jpg'), { source: 'local', key: 'any/thing.jpg', params: { '*': 'any/thing.jpg' } });
  });

  test('no route → undefined', () => {
    const only = compileRoutes([{ match: 'img/:id.jpg', source: 's' }]);
    assert.equal(matchRoute(only, 'other/1.jpg'), undefined);
    assert.equal(matchRoute(only, 'img/1.png'), undefined);
  });

  test('regex characters in patterns are literal', () => {
    const r = compileRoutes([{ match: 'a+b/(x).:ext', source: 's', key: 'k.{ext}' }]);
    assert.equal(matchRoute(r, 'a+b/(x).png')?.key, 'k.png');
    assert.equal(matchRoute(r, 'aab/(x).png'), undefined);
  });

  test('a built key with an empty, . or .. segment is 400 invalid_path', () => {
    const r = compileRoutes([
      { match: 'p/:dir-:file', source: 's', key: 'originals/{dir}/{file}' },
      { match: 'q/*', source: 's', key: '{*}' },
    ]);
    for (const p of ['p/..-main.jpg', 'p/.-main.jpg', 'q/a/../b', 'q/a//b']) {
      assert.throws(() => matchRoute(r, p), (e: { code?: string; status?: number }) => e.code === 'invalid_path' && e.status === 400, p);
    }
    assert.equal(matchRoute(r, 'p/a-main.jpg')?.key, 'originals/a/main.jpg');
    assert.equal(routeSource(r, 'q/a/../b'), 's');
  });

  test('bad patterns and templates are refused at start-up, naming the route', () => {
    assert.throws(() => compileRoutes([{ match: 'a/*/b', source: 's' }]), /routes\.0\.match: '\*' is allowed only as the last segment/);
    assert.throws(() => compileRoutes([{ match: 'a/:id', source: 's', key: '{nope}' }]), /routes\.0\.key: '\{nope\}' is not captured/);
    assert.throws(() => compileRoutes([{ match: 'a/:id/:id', source: 's' }]), /used twice/);
  });
});

describe('image path normalisation', () => {
  const ok = (p: string) => normaliseImagePath(p, 1024);
  const bad = (p: string, code: string) =>
    assert.throws(() => ok(p), (e: { code?: string; status?: number }) => e.code === code && e.status! < 500, p);

  test('decodes once and keeps ordinary names', () => {
    assert.equal(ok('/a/b%20c.jpg'), 'a/b c.jpg');
    assert.equal(ok('/caf%C3%A9.png'), 'café.png');
    assert.equal(ok('/%25.png'), '%.png');
  });

  test('refuses traversal, encoded separators, control characters', () => {
    for (const p of ['/../etc/passwd', '/a/../../b', '/%2e%2e/x', '/a/%2E%2E/b', '/./a', '/a//b']) bad(p, 'invalid_path');
    // Only one leading slash is dropped: `//_x` has an empty first segment, it is not `_x`.
    for (const p of ['//_private.jpg', '///a.jpg', '//']) bad(p, 'invalid_path');
    for (const p of ['/a%2fb', '/a%2Fb', '/a%5cb', '/a\\b', '/a%00b', '/a%0ab', '/a\u0000b']) bad(p, 'invalid_path');
    bad('/%E0%A4%A', 'invalid_path');
  });

  test('empty and over-long paths are 400s', () => {
    bad('/', 'missing_path');
    bad('', 'missing_path');
    bad(`/${'a'.repeat(2000)}`, 'path_too_long');
  });
});
