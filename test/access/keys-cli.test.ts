/**
 * `imagegate keys secret create|list|revoke` against a real server reading the same file key
 * store: the secret is printed once, signs URLs the server accepts, is never listed, and
 * stops working after revoke. Usage errors exit 2, refused operations 1.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { run as keysCli, type CliIO } from '../../src/cli/keys.ts';
import { buildUrl } from '../../src/client/index.ts';
import type { RunningServer } from '../../src/server.ts';
import { accessFixture, startOn, type AccessFixture } from './helpers.ts';

let fx: AccessFixture;
let server: RunningServer;
let configFile: string;

function capture(): { io: CliIO; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l) => out.push(l), err: (l) => err.push(l), env: {} }, out, err };
}

const cli = async (...args: string[]) => {
  const c = capture();
  const code = await keysCli([...args, '--config', configFile], c.io);
  return { code, out: c.out.join('\n'), err: c.err.join('\n') };
};

async function eventually(check: () => Promise<boolean>): Promise<boolean> {
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

describe('imagegate keys secret', () => {
  before(async () => {
    fx = await accessFixture();
    server = await startOn(fx.config);
    const ks = fx.config.keyStore as { path: string };
    configFile = path.join(path.dirname(ks.path), 'imagegate.yaml');
    writeFileSync(
      configFile,
      stringify({
        sources: { signed: { type: 'fs', root: fx.root, access: 'signed' } },
        routes: [{ match: '*', source: 'signed' }],
        plans: { gold: { rate: 1000 } },
        keyStore: { type: 'file', path: ks.path },
      }),
    );
  });
  after(async () => {
    await server?.close();
    await fx?.cleanup();
  });

  test('create prints the secret once; list never shows it; revoke stops it', async () => {
    const created = await cli('secret', 'create', '--id', 'alice', '--json');
    assert.equal(created.code, 0, created.err);
    const { secretId, secret } = JSON.parse(created.out) as { secretId: string; secret: string };
    assert.match(secret, /^igs_/);
    const url = server.url + buildUrl('/signed/photo.jpg', { w: 14 }, { signWith: { token: secret, keyId: 'alice' } });
    assert.ok(await eventually(async () => (await fetch(url)).status === 200), 'the new secret signs URLs the server accepts');

    const listed = await cli('secret', 'list', '--id', 'alice');
    assert.equal(listed.code, 0);
    assert.match(listed.out, new RegExp(`${secretId}\\s+\\S+\\s+active`));
    assert.ok(!listed.out.includes(secret) && !listed.err.includes(secret));
    // keys list counts live secrets (the fixture's and this one), never shows them.
    const keys = await cli('list');
    assert.match(keys.out, /^ID\s+PLAN\s+CREATED\s+LAST USED\s+STATUS\s+SECRETS/);
    assert.match(keys.out, /\nalice\s+gold\s+\S+\s+\S+\s+active\s+2\b/);
    assert.ok(!keys.out.includes(secret));
    const json = await cli('secret', 'list', 'alice', '--json');
    assert.ok(!json.out.includes(secret));

    // The store file holds the secret (it must, to verify) and is readable by its owner only.
    const ks = (fx.config.keyStore as { path: string }).path;
    assert.ok(readFileSync(ks, 'utf8').includes(secret));
    assert.equal(statSync(ks).mode & 0o077, 0);

    const revoked = await cli('secret', 'revoke', '--id', 'alice', '--secret', secretId);
    assert.equal(revoked.code, 0, revoked.err);
    assert.ok(await eventually(async () => (await fetch(url)).status === 403), 'a revoked secret is refused');
    assert.match((await cli('secret', 'list', '--id', 'alice')).out, new RegExp(`${secretId}\\s+\\S+\\s+revoked`));
  });

  test('usage errors exit 2; unknown keys and secrets exit 1', async () => {
    assert.equal((await cli('secret', '--id', 'alice')).code, 2);
    assert.equal((await cli('secret', 'frob', '--id', 'alice')).code, 2);
    assert.equal((await cli('secret', 'revoke', '--id', 'alice')).code, 2);
    assert.equal((await cli('secret', 'create', '--id', 'alice', '--secret', 'x')).code, 2);
    assert.equal((await cli('secret', 'create', '--id', 'nobody')).code, 1);
    const unknown = await cli('secret', 'revoke', '--id', 'alice', '--secret', 'sec_nope');
    assert.equal(unknown.code, 1);
    assert.match(unknown.err, /no signing secret 'sec_nope'/);
  });

  test('a revoked key owns no working secret', async () => {
    const url = server.url + buildUrl('/signed/photo.jpg', { w: 15 }, { signWith: { token: fx.bob.secret, keyId: 'bob' } });
    assert.equal((await fetch(url)).status, 200);
    assert.equal((await cli('revoke', '--id', 'bob')).code, 0);
    assert.ok(await eventually(async () => (await fetch(url)).status === 403));
    assert.equal((await cli('secret', 'create', '--id', 'bob')).code, 1);
  });
});
