import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { eventually, fakeAwsEnv, requireCommand, startMoto, startRedis, type RunningService } from '../helpers/services.ts';
import { freshTable } from '../helpers/dynamodb.ts';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { createDynamoClient } from '../../src/dynamodb.ts';
import { startServer } from './spawn.ts';
import { sha256hex } from '../../src/digest.ts';
import { openKeyStore, type KeyStore } from '../../src/auth/store.ts';
import { run as keysCli, parseDuration } from '../../src/cli/keys.ts';
import type { Config } from '../../src/config/schema.ts';

const sha = sha256hex;
const skipRedis = requireCommand('redis-server');
const skipMoto = requireCommand('moto_server');
let redis: RunningService | undefined;

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l), env: {} as NodeJS.ProcessEnv }, out, err };
}

type StoreCfg = NonNullable<Config['keyStore']>;

/** A config file for `imagegate keys` naming the key store, with `extra` settings (keys, plans). */
function cliConfig(keyStore: StoreCfg, extra: Record<string, unknown>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'ig-keys-'));
  const file = path.join(dir, 'imagegate.yaml');
  writeFileSync(file, JSON.stringify({ sources: { local: { type: 'fs', root: dir } }, routes: [{ match: '*', source: 'local' }], keyStore, ...extra }));
  return file;
}

function storeBehaviour(makeCfg: () => StoreCfg) {
  test('create stores only the hash; list shows ids, plans and dates, never values', async () => {
    const cfg = makeCfg();
    const store = openKeyStore(cfg);
    try {
      const { id, key } = await store.create({ id: 'alice', plan: 'internal' });
      assert.equal(id, 'alice');
      assert.match(key, /^ig_[A-Za-z0-9_-]{43}$/);
      assert.deepEqual(await store.findByHash(sha(key)), { id: 'alice', plan: 'internal' });
      assert.equal(await store.findByHash(sha(key + 'x')), undefined);
      await assert.rejects(store.create({ id: 'alice' }), /already exists/);
      await store.create({ id: 'bob' });
      const list = await store.list();
      assert.deepEqual(list.map((k) => [k.id, k.plan, k.activeValues]), [['alice', 'internal', 1], ['bob', undefined, 1]]);
      assert.ok(!Number.isNaN(Date.parse(list[0]!.created)));
      const text = JSON.stringify(list);
      assert.ok(!text.includes(key) && !text.includes(sha(key)), 'list never carries values or hashes');
      if (cfg.type === 'file') {
        const file = readFileSync(cfg.path, 'utf8');
        assert.ok(!file.includes(key), 'the file holds no key value');
        assert.ok(file.includes(sha(key)));
        assert.equal(statSync(cfg.path).mode & 0o777, 0o600);
      }
      if (cfg.type === 'dynamodb') {
        const client = createDynamoClient({ endpoint: cfg.endpoint, region: cfg.region, timeoutMs: 10_000 });
        const items = JSON.stringify((await client.send(new ScanCommand({ TableName: cfg.table }))).Items);
        client.destroy();
        assert.ok(!items.includes(key), 'the table holds no key value');
        assert.ok(items.includes(sha(key)));
      }
    } finally {
      await store.close();
    }
  });

  test('revoke stops the key; rotate keeps the old value only until the grace ends', async () => {
    const clock = { now: Date.parse('2026-11-26T12:00:00.000Z') };
    const store = openKeyStore(makeCfg(), { clock: () => clock.now });
    try {
      const a = await store.create({ id: 'carol', plan: 'internal' });
      const r = await store.rotate('carol', 3_600_000);
      assert.equal(r.previousValidUntil, '2026-11-26T13:00:00.000Z');
      assert.notEqual(r.key, a.key);
      assert.equal((await store.findByHash(sha(a.key)))?.id, 'carol');
      assert.equal((await store.findByHash(sha(r.key)))?.id, 'carol');
      const during = (await store.list()).find((k) => k.id === 'carol')!;
      assert.equal(during.activeValues, 2);
      assert.equal(during.graceUntil, '2026-11-26T13:00:00.000Z');
      clock.now += 3_600_000 + 1;
      await sleep(600); // past the look-up cache
      assert.equal(await store.findByHash(sha(a.key)), undefined, 'old value stops after the grace');
      assert.equal((await store.findByHash(sha(r.key)))?.id, 'carol');
      assert.equal((await store.list()).find((k) => k.id === 'carol')!.activeValues, 1);

      const r0 = await store.rotate('carol', 0);
      await sleep(600);
      assert.equal(await store.findByHash(sha(r.key)), undefined, 'grace 0 stops the old value at once');
      assert.equal((await store.findByHash(sha(r0.key)))?.id, 'carol');

      await store.revoke('carol');
      await sleep(600);
      assert.equal(await store.findByHash(sha(r0.key)), undefined);
      const listed = (await store.list()).find((k) => k.id === 'carol')!;
      assert.ok(listed.revoked);
      assert.equal(listed.activeValues, 0);
      await assert.rejects(store.rotate('carol', 0), /revoked/);
      await assert.rejects(store.revoke('nobody'), /no key 'nobody'/);
    } finally {
      await store.close();
    }
  });

  test('signing secrets: created once, listed without values, revoked (seen by a second reader past the look-up window), gone with the key', async () => {
    const cfg = makeCfg();
    const store = openKeyStore(cfg);
    const reader = openKeyStore(cfg); // another replica sharing the store
    try {
      await assert.rejects(store.createSecret('nobody'), /no key 'nobody'/);
      await store.create({ id: 'frank', plan: 'internal' });
      const a = await store.createSecret('frank');
      const b = await store.createSecret('frank');
      assert.equal(a.id, 'frank');
      assert.match(a.secret, /^igs_[A-Za-z0-9_-]{43}$/);
      assert.notEqual(a.secretId, b.secretId);
      const found = await reader.findSigningKey('frank');
      assert.deepEqual({ ...found, secrets: found?.secrets.sort() }, { id: 'frank', plan: 'internal', secrets: [a.secret, b.secret].sort() });
      assert.equal(await reader.findSigningKey('nobody'), undefined);
      const listed = await store.listSecrets('frank');
      assert.deepEqual(listed.map((x) => [x.id, x.revoked]).sort(), [[a.secretId, undefined], [b.secretId, undefined]].sort());
      assert.ok(!JSON.stringify(listed).includes(a.secret) && !JSON.stringify(await store.list()).includes(a.secret), 'never listed');
      assert.equal((await store.list()).find((k) => k.id === 'frank')!.signingSecrets, 2);
      await assert.rejects(store.listSecrets('nobody'), /no key 'nobody'/);
      await assert.rejects(store.revokeSecret('frank', 'sec_nope'), /no signing secret 'sec_nope'/);

      await store.revokeSecret('frank', a.secretId);
      await store.revokeSecret('frank', a.secretId); // again: no change, no error
      await sleep(600); // past the look-up cache
      assert.deepEqual((await reader.findSigningKey('frank'))?.secrets, [b.secret]);
      assert.ok((await store.listSecrets('frank')).find((x) => x.id === a.secretId)!.revoked);
      assert.equal((await store.list()).find((k) => k.id === 'frank')!.signingSecrets, 1);
      for (let i = 0; i < 4; i++) await store.createSecret('frank');
      await assert.rejects(store.createSecret('frank'), /already has 5 live signing secrets/);

      await store.revoke('frank');
      await sleep(600);
      assert.equal(await reader.findSigningKey('frank'), undefined, 'a revoked key signs nothing');
      await assert.rejects(store.createSecret('frank'), /revoked/);
    } finally {
      await store.close();
      await reader.close();
    }
  });

  test('last used is recorded by look-ups', async () => {
    const store = openKeyStore(makeCfg());
    const { key } = await store.create({ id: 'dave' });
    assert.equal((await store.list())[0]!.lastUsed, undefined);
    await store.findByHash(sha(key));
    await store.close(); // writes pending last-used times
    const again = openKeyStore(lastCfg!);
    try {
      await eventually(async () => !!(await again.list()).find((k) => k.id === 'dave')?.lastUsed, 'lastUsed written');
    } finally {
      await again.close();
    }
  });

  test('ids named like Object.prototype members are ids like any other: create, find, list, revoke (issue 12.12)', async () => {
    const cfg = makeCfg();
    const configFile = cliConfig(cfg, { keys: [{ id: 'valueOf', sha256: sha('configured-value') }] });
    const cli = async (...args: string[]) => {
      const c = capture();
      const code = await keysCli([...args, '--config', configFile], c.io);
      return { code, out: c.out.join('\n'), err: c.err.join('\n') };
    };
    const ids = ['constructor', '__proto__', 'toString', 'hasOwnProperty'];
    const values = new Map<string, string>();
    for (const id of ids) {
      const early = await cli('revoke', '--id', id);
      assert.equal(early.code, 1, `revoke ${id} before it exists: ${early.err}`);
      assert.ok(early.err.includes(`no key '${id}'`), early.err);
      assert.equal((await cli('rotate', '--id', id)).code, 1, `rotate ${id} before it exists`);
      const made = await cli('create', '--id', id);
      assert.equal(made.code, 0, `create ${id}: ${made.err}`);
      values.set(id, made.out);
      const again = await cli('create', '--id', id);
      assert.equal(again.code, 1);
      assert.match(again.err, /already exists/);
    }
    const configured = await cli('create', '--id', 'valueOf');
    assert.equal(configured.code, 1);
    assert.match(configured.err, /defined in the config's keys: list/);

    const store = openKeyStore(cfg); // a second reader of what the CLI wrote
    try {
      for (const id of ids) assert.deepEqual(await store.findByHash(sha(values.get(id)!)), { id });
      assert.deepEqual((await store.list()).map((k) => k.id).sort(), [...ids].sort());
      if (cfg.type === 'file') {
        const written = JSON.parse(readFileSync(cfg.path, 'utf8')) as { keys: object };
        assert.deepEqual(Object.keys(written.keys).sort(), [...ids].sort(), 'every id is an own entry of the file');
      }
      const revoked = await cli('revoke', '--id', '__proto__');
      assert.equal(revoked.code, 0, revoked.err);
      await sleep(600); // past the look-up cache
      assert.equal(await store.findByHash(sha(values.get('__proto__')!)), undefined);
      assert.deepEqual(await store.findByHash(sha(values.get('constructor')!)), { id: 'constructor' });
      assert.ok((await store.list()).find((k) => k.id === '__proto__')!.revoked);
    } finally {
      await store.close();
    }
  });

  test('CLI: create (value once on stdout), list, rotate, revoke — revoked key stops working in a second server process', async () => {
    const cfg = makeCfg();
    const configFile = cliConfig(cfg, {
      plans: { internal: { rate: 100 } },
      keys: [{ id: 'configured', sha256: sha('configured-value'), plan: 'internal' }],
    });
    const server = await startServer({ keyStore: cfg, plans: { internal: { rate: 1000 } }, usage: { store: 'memory' } });
    const call = (key: string) =>
      fetch(`http://127.0.0.1:${server.port}/alpha.png`, { headers: { 'X-API-Key': key } }).then(async (r) => (await r.arrayBuffer(), r.status));
    try {
      const c = capture();
      assert.equal(await keysCli(['create', '--id', 'erin', '--plan', 'internal', '--config', configFile], c.io), 0, c.err.join('\n'));
      assert.equal(c.out.length, 1);
      const value = c.out[0]!;
      assert.match(value, /^ig_/);
      assert.match(c.err.join('\n'), /shown only this once/);
      await eventually(async () => (await call(value)) === 200, 'new key accepted by the server');

      const bad = capture();
      assert.equal(await keysCli(['create', '--id', 'x', '--plan', 'nope', '--config', configFile], bad.io), 1);
      assert.match(bad.err.join('\n'), /unknown plan 'nope'/);
      assert.equal(await keysCli(['create', '--config', configFile], capture().io), 2);
      assert.equal(await keysCli(['frobnicate', '--config', configFile], capture().io), 2);
      assert.equal(await keysCli(['rotate', 'erin', '--grace', 'soon', '--config', configFile], capture().io), 2);
      const dup = capture();
      assert.equal(await keysCli(['create', '--id', 'configured', '--config', configFile], dup.io), 1);

      const l = capture();
      assert.equal(await keysCli(['list', '--config', configFile], l.io), 0);
      const listing = l.out.join('\n');
      assert.match(listing, /^ID\s+PLAN\s+CREATED\s+LAST USED\s+STATUS/);
      assert.match(listing, /erin\s+internal\s+\S+\s+\S+\s+active/);
      assert.match(listing, /configured\s+internal/);
      assert.ok(!listing.includes(value) && !listing.includes(sha(value)));

      const rot = capture();
      assert.equal(await keysCli(['rotate', 'erin', '--grace', '1h', '--json', '--config', configFile], rot.io), 0);
      const rotated = JSON.parse(rot.out[0]!) as { key: string; previousValidUntil: string };
      await eventually(async () => (await call(rotated.key)) === 200, 'rotated value accepted');
      assert.equal(await call(value), 200, 'old value works during the grace');

      // keys secret create|list|revoke, read back by another reader of the store
      const sc = capture();
      assert.equal(await keysCli(['secret', 'create', '--id', 'erin', '--json', '--config', configFile], sc.io), 0, sc.err.join('\n'));
      const made = JSON.parse(sc.out[0]!) as { secretId: string; secret: string };
      const reader = openKeyStore(cfg);
      try {
        assert.deepEqual((await reader.findSigningKey('erin'))?.secrets, [made.secret]);
        const sl = capture();
        assert.equal(await keysCli(['secret', 'list', '--id', 'erin', '--config', configFile], sl.io), 0);
        assert.match(sl.out.join('\n'), new RegExp(`${made.secretId}\\s+\\S+\\s+active`));
        assert.ok(!sl.out.join('\n').includes(made.secret));
        assert.equal(await keysCli(['secret', 'revoke', '--id', 'erin', '--secret', made.secretId, '--config', configFile], capture().io), 0);
        await sleep(600); // past the look-up cache
        assert.equal(await reader.findSigningKey('erin'), undefined);
        assert.equal(await keysCli(['secret', 'create', '--id', 'ghost', '--config', configFile], capture().io), 1);
      } finally {
        await reader.close();
      }

      assert.equal(await keysCli(['revoke', '--id', 'erin', '--config', configFile], capture().io), 0);
      await eventually(async () => (await call(rotated.key)) === 403 && (await call(value)) === 403, 'revocation seen by the other process');
      assert.equal(await keysCli(['revoke', '--id', 'ghost', '--config', configFile], capture().io), 1);
    } finally {
      await server.stop();
    }
  });
}

let lastCfg: StoreCfg | undefined;

describe('key store: file', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'ig-store-'));
  });
  let n = 0;
  storeBehaviour(() => {
    // a fresh file per test, except that the second open in a test reuses it
    lastCfg = { type: 'file', path: path.join(dir, `keys-${++n}.json`) };
    return lastCfg;
  });
});

describe('key store: redis', { skip: skipRedis }, () => {
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis?.stop();
  });
  storeBehaviour(() => {
    lastCfg = { type: 'redis', url: redis!.url, prefix: `ks${randomBytes(4).toString('hex')}:` };
    return lastCfg;
  });
});

test('durations for --grace', () => {
  assert.equal(parseDuration('24h'), 86_400_000);
  assert.equal(parseDuration('90s'), 90_000);
  assert.equal(parseDuration('0'), 0);
  assert.equal(parseDuration('7d'), 7 * 86_400_000);
  assert.equal(parseDuration('soon'), undefined);
});


describe('key store: dynamodb', { skip: skipMoto }, () => {
  let moto: RunningService | undefined;
  let table = '';
  before(async () => {
    fakeAwsEnv();
    moto = await startMoto({ serial: true });
    table = await freshTable(moto.url);
  });
  after(async () => {
    await moto?.stop();
  });
  storeBehaviour(() => {
    lastCfg = { type: 'dynamodb', table, endpoint: moto!.url, region: 'us-east-1', prefix: `ks${randomBytes(4).toString('hex')}/` };
    return lastCfg;
  });
});
