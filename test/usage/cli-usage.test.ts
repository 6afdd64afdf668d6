import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { serve } from '@hono/node-server';
import { fakeAwsEnv, requireCommand, startMoto, startRedis, type RunningService } from '../helpers/services.ts';
import { freshTable } from '../helpers/dynamodb.ts';
import { run as usageCli } from '../../src/cli/usage.ts';
import { createUsageService } from '../../src/usage/index.ts';
import { usageConfigSchema } from '../../src/config/usage.ts';
import { usageApp } from './app.ts';

function capture(env: NodeJS.ProcessEnv = {}) {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l), env }, out, err };
}

function writeConfig(dir: string, usage: unknown): string {
  const file = path.join(dir, `imagegate-${randomBytes(3).toString('hex')}.yaml`);
  writeFileSync(file, JSON.stringify({ sources: { local: { type: 'fs', root: dir } }, routes: [{ match: '*', source: 'local' }], usage }));
  return file;
}

const skip = requireCommand('redis-server');

describe('imagegate usage', () => {
  let dir: string;
  let redis: RunningService | undefined;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'ig-usage-cli-'));
  });
  after(async () => {
    await redis?.stop();
  });

  test('reads the DynamoDB usage store, its table named by a variable; an unset variable is an error, not a crash', { skip: requireCommand('moto_server') }, async () => {
    fakeAwsEnv();
    const moto = await startMoto();
    try {
      const table = await freshTable(moto.url);
      const usage = createUsageService(usageConfigSchema.parse({ store: 'dynamodb', table, endpoint: moto.url }), {
        clock: () => Date.parse('2026-11-03T10:00:00Z'),
      });
      usage.record('dev', { requests: 3, s2xx: 2, s4xx: 1, bytes: 5000 });
      await usage.close();
      const config = writeConfig(dir, { store: 'dynamodb', tableFromEnv: 'IG_CLI_TABLE', endpoint: moto.url });
      // The table's name comes from the command's environment (its io), as every setting does.
      const t = capture({ IG_CLI_TABLE: table });
      assert.equal(await usageCli(['--config', config, '--from', '2026-11-01', '--to', '2026-11-30'], t.io), 0, t.err.join('\n'));
      assert.match(t.out.join('\n'), /2026-11-03\s+dev\s+3\s+2\s+0\s+1\s+0\s+4\.9 KiB/);
      const unset = capture();
      assert.equal(await usageCli(['--config', config], unset.io), 1);
      assert.match(unset.err.join('\n'), /usage\.tableFromEnv: environment variable \$IG_CLI_TABLE is not set/);
    } finally {
      await moto.stop();
    }
  });

  test('reads the Redis usage store: a table with totals, or --json', { skip }, async () => {
    redis = await startRedis();
    const prefix = `cli${randomBytes(3).toString('hex')}:`;
    const usage = createUsageService(usageConfigSchema.parse({ store: 'redis', url: redis.url, prefix }), {
      clock: () => Date.parse('2026-11-03T10:00:00Z'),
    });
    await usage.ready();
    usage.record('dev', { requests: 3, s2xx: 2, s4xx: 1, bytes: 5000, transformations: 1, cacheHits: 1 });
    usage.record('ops', { requests: 1, s2xx: 1, bytes: 10 });
    await usage.close();
    const config = writeConfig(dir, { store: 'redis', url: redis.url, prefix });

    const t = capture();
    assert.equal(await usageCli(['--config', config, '--from', '2026-11-01', '--to', '2026-11-30'], t.io), 0, t.err.join('\n'));
    const text = t.out.join('\n');
    assert.match(text, /^2026-11-01 to 2026-11-30 \(UTC\)/);
    assert.match(text, /DATE\s+KEY\s+REQUESTS\s+2XX\s+3XX\s+4XX\s+5XX\s+BYTES/);
    assert.match(text, /2026-11-03\s+dev\s+3\s+2\s+0\s+1\s+0\s+4\.9 KiB\s+1\s+1/);
    assert.match(text, /TOTAL\s+all keys\s+4\s+3/);

    const j = capture();
    assert.equal(await usageCli(['--config', config, '--key', 'dev', '--from', '2026-11-01', '--to', '2026-11-30', '--json'], j.io), 0);
    const report = JSON.parse(j.out.join('\n'));
    assert.equal(report.key, 'dev');
    assert.equal(report.records.length, 1);
    assert.deepEqual(report.records[0].responses, { '2xx': 2, '3xx': 0, '4xx': 1, '5xx': 0 });
    assert.equal(report.totals.bytes, 5000);
  });

  test('--url asks a running server with the admin token (any store)', async () => {
    const usage = createUsageService(undefined);
    const app = await usageApp({ usage, keys: { v: { id: 'web' } }, adminToken: 'tok' });
    const server = serve({ fetch: app.app.fetch, port: 0, hostname: '127.0.0.1' });
    await new Promise((r) => server.once('listening', r));
    const port = (server.address() as { port: number }).port;
    try {
      for (let i = 0; i < 4; i++) await (await app.get('v')).arrayBuffer();
      const ok = capture({ IMAGEGATE_ADMIN_TOKEN: 'tok' });
      assert.equal(await usageCli(['--url', `http://127.0.0.1:${port}`, '--key', 'web', '--json'], ok.io), 0, ok.err.join('\n'));
      assert.equal(JSON.parse(ok.out.join('')).totals.requests, 4);
      const wrong = capture({ IMAGEGATE_ADMIN_TOKEN: 'nope' });
      assert.equal(await usageCli(['--url', `http://127.0.0.1:${port}`], wrong.io), 1);
      assert.match(wrong.err.join(''), /answered 401/);
      assert.equal(await usageCli(['--url', `http://127.0.0.1:${port}`], capture().io), 2);
    } finally {
      server.close();
      await app.close();
    }
  });

  test('usage errors exit 2; a memory store or an unreachable Redis exit 1', async () => {
    const bad = capture();
    assert.equal(await usageCli(['--from', '2026-02-30', '--config', 'x.yaml'], bad.io), 2);
    assert.match(bad.err.join(''), /--from: expected a UTC date as YYYY-MM-DD, got '2026-02-30'/);
    assert.equal(await usageCli(['--from', '2026-11-20', '--to', '2026-11-01', '--config', 'x.yaml'], capture().io), 2);
    assert.equal(await usageCli(['--bogus'], capture().io), 2);
    assert.equal(await usageCli([], capture().io), 2, 'no config anywhere');
    const mem = capture();
    assert.equal(await usageCli(['--config', writeConfig(dir, { store: 'memory' })], mem.io), 1);
    assert.match(mem.err.join(''), /memory/);
    const down = capture();
    assert.equal(await usageCli(['--config', writeConfig(dir, { store: 'redis', url: 'redis://127.0.0.1:1/0' })], down.io), 1);
    assert.match(down.err.join(''), /cannot reach Redis/);
  });
});
