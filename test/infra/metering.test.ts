/**
 * The metering table (issue 19): created by each environment's global stack, kept on prod and
 * removed with dev, named in the generated Lambda config, and granted to the Lambda role for
 * exactly the items the app's DynamoDB stores touch while serving — checked by running those
 * stores against moto and reading every request they send.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { METERING_KEYS } from '../../infra/lib/global-stack.ts';
import { METERING_TABLE_ENV } from '../../infra/lib/lambda-config.ts';
import { parseConfig } from '../../src/config/load.ts';
import { TABLE_KEYS } from '../../src/dynamodb.ts';
import { DynamoKeyStore } from '../../src/auth/dynamodb-store.ts';
import { sha256hex } from '../../src/digest.ts';
import { usageConfigSchema } from '../../src/config/usage.ts';
import { createUsageService } from '../../src/usage/index.ts';
import { fakeAwsEnv, requireCommand, startMoto, type RunningService } from '../helpers/services.ts';
import { freshTable, startTcpProxy } from '../helpers/dynamodb.ts';
import { onlyResource, synthApp, type Synthesized } from './synth.ts';

let synth: Synthesized;
before(() => {
  synth = synthApp({ 'imagegate:imagesBucket': { prod: 'images-prod', dev: 'images-dev' }, 'imagegate:stages': 'dev-alice' });
});
after(() => {
  if (synth) rmSync(synth.outdir, { recursive: true, force: true });
});

/** The role's Metering statements, by sid. */
function meteringStatements(env: 'prod' | 'dev'): Record<string, any> {
  const [, role] = Object.entries(synth.json(`imagegate-global-${env}`).Resources).find(([id, r]) => r.Type === 'AWS::IAM::Role' && id.startsWith('ApiLambdaRole'))!;
  const doc = role.Properties.Policies.find((p: any) => p.PolicyName === 'Metering').PolicyDocument;
  return Object.fromEntries(doc.Statement.map((st: any) => [st.Sid, st]));
}

describe('metering table in the global stacks', () => {
  test('one table per environment: pk/sk strings as the app reads them, on demand, point-in-time recovery, TTL on expiresAt', () => {
    assert.deepEqual(METERING_KEYS, TABLE_KEYS, 'the stack and the app agree on the key and TTL attributes');
    for (const env of ['prod', 'dev'] as const) {
      const [, table] = onlyResource(synth.template(`imagegate-global-${env}`), 'AWS::DynamoDB::Table');
      const p = table.Properties;
      assert.equal(p.TableName, undefined, 'no fixed name: prod\'s table outlives its stack and must not block deploying it again');
      assert.deepEqual(p.KeySchema, [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ]);
      assert.deepEqual(p.AttributeDefinitions, [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
      ]);
      assert.equal(p.BillingMode, 'PAY_PER_REQUEST');
      assert.equal(p.ProvisionedThroughput, undefined);
      assert.deepEqual(p.PointInTimeRecoverySpecification, { PointInTimeRecoveryEnabled: true });
      assert.deepEqual(p.TimeToLiveSpecification, { AttributeName: 'expiresAt', Enabled: true });
    }
    assert.equal(synth.template('imagegate-api-dev-alice').findResources('AWS::DynamoDB::Table') && Object.keys(synth.template('imagegate-api-dev-alice').findResources('AWS::DynamoDB::Table')).length, 0, 'engineer stages share dev\'s table');
  });

  test('prod keeps the table when its stack is deleted; dev (every engineer stage) removes it', () => {
    const [, prod] = onlyResource(synth.template('imagegate-global-prod'), 'AWS::DynamoDB::Table');
    const [, dev] = onlyResource(synth.template('imagegate-global-dev'), 'AWS::DynamoDB::Table');
    assert.equal(prod.DeletionPolicy, 'Retain');
    assert.equal(prod.UpdateReplacePolicy, 'Retain');
    assert.equal(dev.DeletionPolicy, 'Delete');
  });

  test('least privilege: reads on the table; UpdateItem only on plan and usage items; PutItem only on last-used items; nothing deletes', () => {
    for (const env of ['prod', 'dev'] as const) {
      const st = meteringStatements(env);
      assert.deepEqual(Object.keys(st).sort(), ['MeteringCount', 'MeteringKeyLastUsed', 'MeteringRead']);
      assert.deepEqual(st.MeteringRead.Action, ['dynamodb:BatchGetItem', 'dynamodb:GetItem', 'dynamodb:Query']);
      assert.equal(st.MeteringCount.Action, 'dynamodb:UpdateItem');
      assert.deepEqual(st.MeteringCount.Condition, { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['plan#*', 'usage#*'] } });
      assert.equal(st.MeteringKeyLastUsed.Action, 'dynamodb:PutItem');
      assert.deepEqual(st.MeteringKeyLastUsed.Condition, { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['keyused#*'] } });
      for (const s of Object.values(st)) {
        assert.deepEqual(s.Resource, { 'Fn::GetAtt': [s.Resource['Fn::GetAtt'][0], 'Arn'] }, 'the table itself, no index, no wildcard');
        assert.match(s.Resource['Fn::GetAtt'][0], /^Metering/);
      }
      const all = JSON.stringify(synth.json(`imagegate-global-${env}`));
      assert.ok(!all.includes('dynamodb:*') && !all.includes('dynamodb:DeleteItem') && !all.includes('dynamodb:Scan'));
    }
  });

  test('the table reaches the Lambda through one path: global export → API stack variable → the generated config names the variable', () => {
    for (const env of ['prod', 'dev'] as const) {
      const cfg = parseConfig(parseYaml(synth.built.configs[env]));
      assert.ok(cfg.usage.store === 'dynamodb');
      assert.equal(cfg.usage.tableFromEnv, METERING_TABLE_ENV);
      assert.equal(cfg.usage.table, undefined);
      assert.equal(cfg.usage.prefix, '', 'the leading keys the role allows');
      assert.deepEqual(cfg.usage.lease, { maxUnits: 1, idleMs: 1000 }, 'no leases on Lambda unless the base file asks');
      assert.deepEqual(cfg.keyStore, { type: 'dynamodb', tableFromEnv: METERING_TABLE_ENV, prefix: '' });
      const out = synth.json(`imagegate-global-${env}`).Outputs!.MeteringTable;
      const [tableId] = onlyResource(synth.template(`imagegate-global-${env}`), 'AWS::DynamoDB::Table');
      assert.deepEqual(out.Value, { Ref: tableId });
      assert.equal(out.Export.Name, `imagegate-global-${env}-metering-table`);
    }
    for (const [stage, env] of [['prod', 'prod'], ['dev', 'dev'], ['dev-alice', 'dev']] as const) {
      const [, fn] = Object.entries(synth.json(`imagegate-api-${stage}`).Resources).find(([, r]) => r.Type === 'AWS::Lambda::Function' && r.Properties.Environment?.Variables?.IMAGEGATE_CONFIG)!;
      assert.deepEqual(fn.Properties.Environment.Variables[METERING_TABLE_ENV], { 'Fn::ImportValue': `imagegate-global-${env}-metering-table` });
    }
  });

  test('a base file cannot choose another usage store or key store; the usage service settings stay its own', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ig-metering-'));
    try {
      for (const [yaml, message] of [
        ['routes: [{ match: "*", source: images }]\nusage: { store: redis, url: redis://x:6379 }\n', /usage\.store is set by the deployment/],
        ['routes: [{ match: "*", source: images }]\nkeyStore: { type: file, path: keys.json }\n', /keyStore is set by the deployment/],
      ] as const) {
        const file = path.join(dir, 'base.yaml');
        writeFileSync(file, yaml);
        assert.throws(() => synthApp({ 'imagegate:imagesBucket': 'images-x', 'imagegate:config': file }), message);
      }
      // settings of the usage service itself stay the base file's
      const file = path.join(dir, 'base.yaml');
      writeFileSync(file, 'routes: [{ match: "*", source: images }]\nusage: { onUnavailable: failClosed, retentionDays: 90 }\n');
      const s = synthApp({ 'imagegate:imagesBucket': 'images-x', 'imagegate:config': file });
      try {
        const usage = parseConfig(parseYaml(s.built.configs.prod)).usage;
        assert.equal(usage.store === 'dynamodb' && usage.onUnavailable, 'failClosed');
        assert.equal(usage.retentionDays, 90);
      } finally {
        rmSync(s.outdir, { recursive: true, force: true });
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('cfn-lint passes on the global stacks with the table, warnings included', { skip: requireCommand('cfn-lint') }, () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ig-metering-lint-'));
    try {
      const files = (['prod', 'dev'] as const).map((env) => {
        const f = path.join(dir, `global-${env}.json`);
        writeFileSync(f, JSON.stringify(synth.json(`imagegate-global-${env}`)));
        return f;
      });
      const res = spawnSync('cfn-lint', ['--format', 'parseable', '--', ...files], { encoding: 'utf8', timeout: 180_000 });
      assert.equal(res.status, 0, `cfn-lint found problems:\n${res.stdout}${res.stderr}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('what the Lambda sends to the table is what its role allows', { skip: requireCommand('moto_server') }, () => {
  let moto: RunningService;
  before(async () => {
    fakeAwsEnv();
    moto = await startMoto();
  });
  after(async () => {
    await moto?.stop();
  });

  test('serving keyed and signed requests (plan check, usage records, key and secret look-up, last use, /_admin/usage): only allowed actions on allowed items', async () => {
    const table = await freshTable(moto.url);
    // keys are created by an operator (the CLI, with their own credentials), directly on moto
    const admin = new DynamoKeyStore({ table, endpoint: moto.url, region: 'us-east-1', prefix: '' }, Date.now);
    const { key } = await admin.create({ id: 'partner', plan: 'p' });
    const { secret } = await admin.createSecret('partner');
    await admin.close();

    const proxy = await startTcpProxy(moto.port);
    try {
      const usage = createUsageService(
        usageConfigSchema.parse({ store: 'dynamodb', table, endpoint: proxy.url, region: 'us-east-1', flushIntervalMs: 60_000 }),
      );
      const keys = new DynamoKeyStore({ table, endpoint: proxy.url, region: 'us-east-1', prefix: '' }, Date.now);
      const plan = { rate: 10, burst: 5, quota: { limit: 3, period: 'day' as const, weekStart: 'sunday' as const } };
      assert.equal((await keys.findByHash(sha256hex(key)))?.id, 'partner');
      assert.deepEqual((await keys.findSigningKey('partner'))?.secrets, [secret], 'a signed URL\'s key and secrets are read');
      for (let i = 0; i < 8; i++) await usage.check('partner', plan);
      usage.record('partner', { requests: 8, s2xx: 3, s4xx: 5 });
      await usage.flush();
      const today = new Date().toISOString().slice(0, 10);
      assert.equal((await usage.read({ days: [today] }))[0]!.requests, 8);
      assert.equal((await usage.read({ key: 'partner', days: [today] }))[0]!.requests, 8);
      await keys.close();
      await usage.close();

      const allowed: Record<string, RegExp | null> = {
        GetItem: null,
        BatchGetItem: null,
        Query: null,
        UpdateItem: /^(plan|usage)#/,
        PutItem: /^keyused#/,
      };
      const seen = new Set<string>();
      for (const raw of proxy.requests) {
        const target = /X-Amz-Target: DynamoDB_20120810\.(\w+)/i.exec(raw)?.[1];
        if (!target) continue;
        const body = JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as any;
        const writes: [string, string][] =
          target === 'TransactWriteItems'
            ? body.TransactItems.map((t: any) => {
                const [op, spec] = Object.entries(t)[0] as [string, any];
                return [op === 'Update' ? 'UpdateItem' : op === 'Put' ? 'PutItem' : op === 'Delete' ? 'DeleteItem' : op, (spec.Key ?? spec.Item).pk.S];
              })
            : [[target, body.Key?.pk?.S ?? body.Item?.pk?.S ?? '']];
        for (const [action, pk] of writes) {
          seen.add(action);
          assert.ok(Object.hasOwn(allowed, action), `${action} is not granted to the Lambda`);
          const rule = allowed[action];
          if (rule) assert.match(pk, rule, `${action} on ${pk}`);
        }
      }
      assert.deepEqual([...seen].sort(), ['BatchGetItem', 'GetItem', 'PutItem', 'Query', 'UpdateItem']);
    } finally {
      await proxy.close();
    }
  });
});
