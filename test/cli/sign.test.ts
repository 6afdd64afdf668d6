import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { parseExpires, run, signUrl, splitTarget } from '../../src/cli/sign.ts';
import { verifySignature } from '../../src/request/signature.ts';
import { parseConfig } from '../../src/config/load.ts';
import { capture, imagegate, tempDir, writeConfig } from './helpers.ts';

const YAML = `
server: { basePath: /dev }
sources:
  local: { type: fs, root: . , signing: { token: FOO123bar } }
  after: { type: fs, root: . , signing: { token: other, path: afterBasePath } }
  envtok: { type: fs, root: . , signing: { tokenFromEnv: SIGN_TEST_TOKEN } }
  open: { type: fs, root: . }
routes:
  - { match: "after/*", source: after }
  - { match: "env/*", source: envtok }
  - { match: "open/*", source: open }
  - { match: "*", source: local }
`;
const dir = tempDir();
const file = writeConfig(dir, YAML);
const cfg = parseConfig((await import('yaml')).parse(YAML), { baseDir: dir });

describe('sign', () => {
  test('signs the path as sent, stage prefix included, verifiable by the server', () => {
    const url = signUrl(cfg, { url: '/dev/users/1.png?w=400&h=300' });
    assert.match(url, /^\/dev\/users\/1\.png\?w=400&h=300&s=[0-9a-f]{32}$/);
    verifySignature(url, 'FOO123bar');
    // a path without the stage prefix gets it
    assert.equal(signUrl(cfg, { url: 'users/1.png?w=400&h=300' }), url);
  });

  test('published imgix vector with an explicit token and no config', () => {
    assert.equal(signUrl(undefined, { url: '/users/1.png?w=400&h=300', token: 'FOO123bar' }), '/users/1.png?w=400&h=300&s=c7b86f666a832434dd38577e38cf86d1');
  });

  test('a full URL keeps its origin; the query is signed as written; an old s is replaced', () => {
    const url = signUrl(cfg, { url: 'https://img.example.com/dev/a%20b.jpg?txt=a+b&rect=0%2C0%2C10%2C10&s=deadbeef' });
    assert.ok(url.startsWith('https://img.example.com/dev/a%20b.jpg?txt=a+b&rect=0%2C0%2C10%2C10&s='));
    verifySignature(url.slice('https://img.example.com'.length), 'FOO123bar');
  });

  test('afterBasePath sources sign the path without the stage prefix', () => {
    const url = signUrl(cfg, { url: '/dev/after/x.jpg?w=10' });
    assert.ok(url.startsWith('/dev/after/x.jpg?w=10&s='));
    verifySignature(url.slice('/dev'.length), 'other');
    assert.throws(() => verifySignature(url, 'other'), /signature/);
  });

  test('--expires adds expires before s', () => {
    const url = signUrl(cfg, { url: '/dev/a.jpg', expires: 4_000_000_000 });
    assert.match(url, /^\/dev\/a\.jpg\?expires=4000000000&s=[0-9a-f]{32}$/);
    verifySignature(url, 'FOO123bar');
    assert.equal(parseExpires('2h', 1000), 1000 + 7200);
    assert.equal(parseExpires('1735689600'), 1735689600);
    assert.equal(parseExpires('tomorrow'), undefined);
  });

  test('a source without signing or with an unset token env is an error that says which', () => {
    assert.throws(() => signUrl(cfg, { url: '/dev/open/a.jpg' }), /source 'open' has no signing settings/);
    assert.throws(() => signUrl(cfg, { url: '/dev/env/a.jpg' }, {}), /\$SIGN_TEST_TOKEN is not set/);
    const ok = signUrl(cfg, { url: '/dev/env/a.jpg' }, { SIGN_TEST_TOKEN: 'zz' });
    verifySignature(ok, 'zz');
    assert.throws(() => signUrl(cfg, { url: '/dev/a.jpg', source: 'nope' }), /unknown source 'nope'/);
  });

  test('splitTarget never re-encodes', () => {
    assert.deepEqual(splitTarget('http://h:1/a%2Cb?x=%20+&y'), { origin: 'http://h:1', path: '/a%2Cb', query: 'x=%20+&y' });
    assert.deepEqual(splitTarget('a.jpg'), { origin: '', path: '/a.jpg', query: '' });
  });

  test('command: prints the URL; exit 1 when it cannot sign; 2 on usage errors', async () => {
    const ok = await capture(() => run(['/dev/users/1.png', '--config', file]));
    assert.equal(ok.code, 0, ok.err);
    assert.equal(ok.out, signUrl(cfg, { url: '/dev/users/1.png' }));
    const bad = await capture(() => run(['/dev/open/a.jpg', '--config', file]));
    assert.equal(bad.code, 1);
    assert.match(bad.err, /no signing settings/);
    assert.equal((await capture(() => run([]))).code, 2);
    assert.equal((await capture(() => run(['/a', '--expires', 'later']))).code, 2);
    assert.equal((await capture(() => run(['--help']))).code, 0);
  });

  test('through the imagegate binary', () => {
    const r = imagegate(['sign', '/users/1.png?w=400&h=300', '--token', 'FOO123bar']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), '/users/1.png?w=400&h=300&s=c7b86f666a832434dd38577e38cf86d1');
  });
});
