import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig, ConfigError } from '../../src/config/load.ts';
import { plansConfigSchema, usageConfigSchema } from '../../src/config/usage.ts';
import { quotaPeriod } from '../../src/usage/periods.ts';

const base = { sources: { s: { type: 'fs', root: '.' } }, routes: [{ match: '*', source: 's' }] };

function problems(raw: unknown): string[] {
  try {
    parseConfig(raw);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

test('the issue example parses, with defaults filled in', () => {
  const cfg = parseConfig({
    ...base,
    plans: {
      internal: { rate: 50, burst: 100, quota: { limit: 200000, period: 'day' } },
      batch: { rate: 200, burst: 400, quota: { limit: 5000000, period: 'month' } },
      slow: { rate: 2.5 },
    },
    keys: [{ id: 'dev', sha256: 'a'.repeat(64), plan: 'internal' }],
    usage: { store: 'redis', url: 'redis://127.0.0.1:6379/0' },
  });
  assert.deepEqual(cfg.plans.internal, { rate: 50, burst: 100, quota: { limit: 200000, period: 'day', weekStart: 'sunday' } });
  assert.equal(cfg.plans.slow!.burst, 3, 'burst defaults to the rate rounded up');
  assert.deepEqual(cfg.usage, {
    store: 'redis',
    url: 'redis://127.0.0.1:6379/0',
    prefix: 'imagegate:',
    onUnavailable: 'failOpen',
    commandTimeoutMs: 500,
    flushIntervalMs: 1000,
    lease: { maxUnits: 1000, idleMs: 1000 },
    headers: 'draft',
    retentionDays: 400,
  });
  assert.deepEqual(parseConfig(base).usage, { store: 'memory', headers: 'draft', retentionDays: 400 });
});

test('every bad setting is named with a clear message', () => {
  const p = problems({
    ...base,
    plans: {
      a: { rate: -1, burst: 1.5, quota: { limit: 0, period: 'year' } },
      'bad name': {},
      b: { burst: 10 },
      c: { rate: 5, extra: 1 },
    },
    keys: [{ id: 'dev', sha256: 'a'.repeat(64), plan: 'missing' }],
    usage: { store: 'redis', url: 'http://x', onUnavailable: 'maybe', commandTimeoutMs: 1, lease: { maxUnits: 0, idleMs: 5, every: 1 } },
  });
  const text = p.join('\n');
  assert.match(text, /plans\.a\.rate: must be above 0/);
  assert.match(text, /plans\.a\.burst: expected a whole number of requests/);
  assert.match(text, /plans\.a\.quota\.limit: must be at least 1/);
  assert.match(text, /plans\.a\.quota\.period: expected 'day', 'week' or 'month'/);
  assert.match(text, /plans\.bad name: plan name 'bad name'/);
  assert.match(text, /plans\.c\.extra: unknown setting \(allowed here: rate, burst, quota\)/);
  assert.match(text, /usage\.url: expected redis:\/\/host:port\/db/);
  assert.match(text, /usage\.onUnavailable: expected 'failOpen' or 'failClosed'/);
  assert.match(text, /usage\.commandTimeoutMs: at least 10/);
  assert.match(text, /usage\.lease\.maxUnits: at least 1/);
  assert.match(text, /usage\.lease\.idleMs: at least 10/);
  assert.match(text, /usage\.lease\.every: unknown setting/);
  assert.deepEqual(
    plansConfigSchema.safeParse({ b: { burst: 10 } }).error?.issues.map((i) => [i.path.join('.'), i.message]),
    [['b.burst', 'needs a rate (requests per second) to refill the bucket']],
  );
  assert.match(usageConfigSchema.safeParse({ store: 'disk' }).error!.issues[0]!.message, /expected 'memory', 'redis' or 'dynamodb'/);
});

test('quota periods are UTC days, Sunday (or Monday) weeks and calendar months', () => {
  const at = (iso: string, period: 'day' | 'week' | 'month', weekStart: 'sunday' | 'monday' = 'sunday') => {
    const p = quotaPeriod({ period, weekStart }, Date.parse(iso));
    return [new Date(p.start).toISOString(), new Date(p.end).toISOString()];
  };
  assert.deepEqual(at('2026-11-26T23:59:59.999Z', 'day'), ['2026-11-26T00:00:00.000Z', '2026-11-27T00:00:00.000Z']);
  assert.deepEqual(at('2026-11-26T12:00:00Z', 'week'), ['2026-11-22T00:00:00.000Z', '2026-11-29T00:00:00.000Z']);
  assert.deepEqual(at('2026-11-29T00:00:00Z', 'week'), ['2026-11-29T00:00:00.000Z', '2026-12-06T00:00:00.000Z']);
  assert.deepEqual(at('2026-11-29T12:00:00Z', 'week', 'monday'), ['2026-11-23T00:00:00.000Z', '2026-11-30T00:00:00.000Z']);
  assert.deepEqual(at('2028-02-29T12:00:00Z', 'month'), ['2028-02-01T00:00:00.000Z', '2028-03-01T00:00:00.000Z']);
  assert.deepEqual(at('2026-12-31T23:59:59Z', 'month'), ['2026-12-01T00:00:00.000Z', '2027-01-01T00:00:00.000Z']);
});

test('usage and keyStore on DynamoDB: a table or the variable naming it (exactly one), checked names; an unset variable stops start-up', async () => {
  const cfg = parseConfig({ ...base, usage: { store: 'dynamodb', table: 'imagegate-metering', region: 'eu-west-1' }, keyStore: { type: 'dynamodb', tableFromEnv: 'METERING' } });
  assert.deepEqual(cfg.usage, {
    store: 'dynamodb',
    table: 'imagegate-metering',
    region: 'eu-west-1',
    prefix: '',
    onUnavailable: 'failOpen',
    commandTimeoutMs: 500,
    flushIntervalMs: 1000,
    lease: { maxUnits: 1000, idleMs: 1000 },
    headers: 'draft',
    retentionDays: 400,
  });
  assert.deepEqual(cfg.keyStore, { type: 'dynamodb', tableFromEnv: 'METERING', prefix: '' });
  const bad = problems({ ...base, usage: { store: 'dynamodb', table: 'no spaces allowed' }, keyStore: { type: 'dynamodb', table: 'x-y-z', tableFromEnv: 'T' } });
  assert.ok(bad.some((p) => /^usage\.table: .*DynamoDB table name/.test(p)), bad.join('\n'));
  assert.ok(bad.some((p) => /^keyStore\.table: set exactly one of table or tableFromEnv/.test(p)), bad.join('\n'));
  assert.ok(problems({ ...base, usage: { store: 'dynamodb' } }).some((p) => /^usage\.table: set exactly one of table or tableFromEnv/.test(p)));

  const { resolveConfig } = await import('../../src/config/resolve.ts');
  const unset = parseConfig({ ...base, usage: { store: 'dynamodb', tableFromEnv: 'IG_TEST_UNSET_TABLE' }, keyStore: { type: 'dynamodb', tableFromEnv: 'IG_TEST_UNSET_TABLE' } });
  await assert.rejects(
    resolveConfig(unset, { env: {} }),
    (err: unknown) =>
      err instanceof ConfigError &&
      err.problems.length === 2 &&
      /usage\.tableFromEnv: environment variable \$IG_TEST_UNSET_TABLE is not set/.test(err.problems.join()) &&
      /keyStore\.tableFromEnv: environment variable \$IG_TEST_UNSET_TABLE is not set/.test(err.problems.join()),
  );
  const named = await resolveConfig(unset, { env: { IG_TEST_UNSET_TABLE: 'from-env' } });
  assert.equal(named.usage.store === 'dynamodb' && named.usage.table, 'from-env');
  assert.equal(named.keyStore?.type === 'dynamodb' && named.keyStore.table, 'from-env');
});
