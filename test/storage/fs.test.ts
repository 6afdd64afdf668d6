import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, symlinkSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createFsStorage } from '../../src/storage/fs.ts';
import { testApp, get } from '../helpers/app.ts';
import type { ImagegateApp } from '../../src/http/app.ts';

/**
 * The traversal corpus: every request below targets `secret.txt` (or /etc/passwd) outside the
 * source root. None may be served; each must be a 400 or a 404.
 */
describe('fs source', () => {
  let base: string;
  let root: string;
  let ig: ImagegateApp;
  const SECRET = 'TOP-SECRET-CANARY';

  before(async () => {
    base = mkdtempSync(path.join(tmpdir(), 'imagegate-fs-'));
    root = path.join(base, 'root');
    mkdirSync(path.join(root, 'dir'), { recursive: true });
    writeFileSync(path.join(base, 'secret.txt'), SECRET);
    writeFileSync(path.join(root, 'dir', 'ok.txt'), 'inside');
    writeFileSync(path.join(root, 'target.bin'), 'linked-inside');
    symlinkSync(path.join(base, 'secret.txt'), path.join(root, 'escape.txt'));
    symlinkSync(base, path.join(root, 'escape-dir'));
    symlinkSync(path.join(root, 'target.bin'), path.join(root, 'inside-link.bin'));
    symlinkSync('/etc/passwd', path.join(root, 'passwd'));
    ig = await testApp(root);
  });
  after(() => rmSync(base, { recursive: true, force: true }));

  test('reads files inside the root, with size-and-mtime ETag', async () => {
    const s = createFsStorage({ root });
    const obj = await s.get('dir/ok.txt');
    assert.equal(obj?.body.toString(), 'inside');
    assert.match(obj!.meta.etag, /^"[0-9a-f]+-[0-9a-f]+"$/);
    assert.equal((await s.head('dir/ok.txt'))?.size, 6);
  });

  test('missing files and directories are undefined, not errors', async () => {
    const s = createFsStorage({ root });
    assert.equal(await s.get('nope.jpg'), undefined);
    assert.equal(await s.head('dir'), undefined);
    assert.equal(await s.get('dir'), undefined);
    assert.equal(await s.head('dir/ok.txt/more'), undefined);
  });

  test('symlinks inside the root are followed; those leaving it are missing', async () => {
    const s = createFsStorage({ root });
    assert.equal((await s.get('inside-link.bin'))?.body.toString(), 'linked-inside');
    assert.equal(await s.get('escape.txt'), undefined);
    assert.equal(await s.get('escape-dir/secret.txt'), undefined);
    assert.equal(await s.get('passwd'), undefined);
    assert.equal(await s.head('escape.txt'), undefined);
  });

  test('storage-level traversal keys never leave the root', async () => {
    const s = createFsStorage({ root });
    for (const key of ['../secret.txt', 'dir/../../secret.txt', '/etc/passwd', path.join(base, 'secret.txt'), 'a\0b', '..']) {
      assert.equal(await s.get(key), undefined, key);
    }
  });

  test('HTTP traversal corpus: 400 or 404, never the canary', async () => {
    const corpus = [
      '/../secret.txt',
      '/..%2fsecret.txt',
      '/%2e%2e/secret.txt',
      '/%2e%2e%2fsecret.txt',
      '/dir/%2e%2e/%2e%2e/secret.txt',
      '/%252e%252e/secret.txt',
      '/..\\secret.txt',
      '/%5c..%5csecret.txt',
      '/dir%00/../../secret.txt',
      '/escape.txt',
      '/escape-dir/secret.txt',
      '/passwd',
      `/${path.join(base, 'secret.txt')}`,
      '//etc/passwd',
      `/${'a/'.repeat(600)}x`,
      '/dir/ok.txt%00.jpg',
    ];
    for (const p of corpus) {
      const res = await get(ig, `http://localhost${p}`);
      const body = await res.text();
      assert.ok(res.status === 400 || res.status === 404, `${p} → ${res.status}`);
      assert.ok(!body.includes(SECRET) && !body.includes('root:x:0'), p);
    }
    const outside = readFileSync(path.join(base, 'secret.txt'), 'utf8');
    assert.equal(outside, SECRET);
  });

  test('list yields relative keys under a prefix', async () => {
    const s = createFsStorage({ root });
    const keys: string[] = [];
    for await (const k of s.list!('dir')) keys.push(k);
    assert.deepEqual(keys, ['dir/ok.txt']);
    const none: string[] = [];
    for await (const k of s.list!('../')) none.push(k);
    assert.deepEqual(none, []);
  });
});
