/**
 * The config is resolved once at start-up (src/config/resolve.ts): every `…FromEnv` setting
 * fails the same way when its variable is unset or empty — a ConfigError whose problem names
 * the setting's path and the variable — and every problem is reported at once. The resolved
 * config is frozen and read from the environment once. And the boundaries that keep it so:
 * src/config imports no feature folder, nothing outside src/config and src/cli reads
 * process.env.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, inspectConfigFile, loadConfigFile } from '../../src/config/load.ts';
import { environmentProblems, resolveConfig } from '../../src/config/resolve.ts';
import { createApp } from '../../src/http/app.ts';
import { createLogger } from '../../src/log.ts';
import { signTarget } from '../../src/request/signature.ts';
import { makeImageFolder, testConfig, TEST_KEY } from '../helpers/app.ts';

const VAR = 'IMAGEGATE_TEST_FROM_ENV';
const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'src');
let folder: Awaited<ReturnType<typeof makeImageFolder>>;

before(async () => {
  folder = await makeImageFolder();
});
after(() => {
  delete process.env[VAR];
  folder.cleanup();
});

/** Every `…FromEnv` setting: the config overrides that use it, and the path its problem names. */
const FROM_ENV: { path: string; overrides: () => Record<string, unknown> }[] = [
  { path: "keys.0.valueFromEnv (key 'ci')", overrides: () => ({ keys: [{ id: 'ci', valueFromEnv: VAR }] }) },
  { path: 'admin.tokenFromEnv', overrides: () => ({ admin: { tokenFromEnv: VAR } }) },
  { path: 'sources.local.signing.tokenFromEnv', overrides: () => ({ sources: { local: { type: 'fs', root: folder.root, signing: { tokenFromEnv: VAR } } } }) },
  { path: 'usage.tableFromEnv', overrides: () => ({ usage: { store: 'dynamodb', tableFromEnv: VAR } }) },
  { path: 'keyStore.tableFromEnv', overrides: () => ({ keyStore: { type: 'dynamodb', tableFromEnv: VAR } }) },
];

async function startUpProblems(overrides: Record<string, unknown>): Promise<string[]> {
  let caught: unknown;
  try {
    const ig = await createApp(testConfig(folder.root, overrides), { logger: createLogger('silent') });
    await ig.close();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${String(caught)}`);
  return caught.problems;
}

describe('every …FromEnv setting fails the same way', () => {
  for (const { path: setting, overrides } of FROM_ENV) {
    test(`${setting}: an unset or empty variable stops start-up with one problem naming the setting and the variable`, async () => {
      for (const value of [undefined, '']) {
        if (value === undefined) delete process.env[VAR];
        else process.env[VAR] = value;
        assert.deepEqual(await startUpProblems(overrides()), [`${setting}: environment variable $${VAR} is not set`]);
      }
    });
  }

  test('all of them unset at once, and a key whose secret cannot be read: every problem in one ConfigError', async () => {
    const env = {}; // none of the variables set
    const cfg = testConfig(folder.root, {
      sources: { local: { type: 'fs', root: folder.root, signing: { tokenFromEnv: 'SIGNING_VAR' } } },
      keys: [
        { id: 'ci', valueFromEnv: 'KEY_VAR' },
        { id: 'prod', secret: { id: 'global--api-key--prod' } },
      ],
      admin: { tokenFromEnv: 'ADMIN_VAR' },
      usage: { store: 'dynamodb', tableFromEnv: 'USAGE_VAR' },
      keyStore: { type: 'dynamodb', tableFromEnv: 'KEYSTORE_VAR' },
    });
    const fetchSecret = async () => {
      throw new Error('AccessDeniedException');
    };
    await assert.rejects(resolveConfig(cfg, { env, fetchSecret }), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.deepEqual([...err.problems].sort(), [
        'admin.tokenFromEnv: environment variable $ADMIN_VAR is not set',
        "keyStore.tableFromEnv: environment variable $KEYSTORE_VAR is not set",
        "keys.0.valueFromEnv (key 'ci'): environment variable $KEY_VAR is not set",
        "keys.1.secret (key 'prod'): secret 'global--api-key--prod': AccessDeniedException",
        'sources.local.signing.tokenFromEnv: environment variable $SIGNING_VAR is not set',
        'usage.tableFromEnv: environment variable $USAGE_VAR is not set',
      ]);
      return true;
    });
    // What check-config warns about: the same problems, secrets aside.
    assert.equal(environmentProblems(cfg, env).length, 5);
    assert.deepEqual(environmentProblems(cfg, { SIGNING_VAR: 's', KEY_VAR: 'k', ADMIN_VAR: 'a', USAGE_VAR: 'usage-t', KEYSTORE_VAR: 'keys-t' }), []);
  });

  test('check-config warns about each unset variable in the words start-up fails with', async () => {
    const { run } = await import('../../src/cli/check-config.ts');
    const dir = mkdtempSync(path.join(tmpdir(), 'imagegate-resolve-'));
    const out: string[] = [];
    const consoleLog = console.log;
    const vars = ['IG_TEST_SIGNING_VAR', 'IG_TEST_KEY_VAR', 'IG_TEST_ADMIN_VAR', 'IG_TEST_USAGE_VAR', 'IG_TEST_KEYSTORE_VAR'];
    for (const v of vars) delete process.env[v];
    try {
      const file = path.join(dir, 'imagegate.yaml');
      writeFileSync(
        file,
        [
          `sources: { local: { type: fs, root: ${JSON.stringify(folder.root)}, signing: { tokenFromEnv: IG_TEST_SIGNING_VAR } } }`,
          'routes: [{ match: "*", source: local }]',
          'keys: [{ id: ci, valueFromEnv: IG_TEST_KEY_VAR }]',
          'admin: { tokenFromEnv: IG_TEST_ADMIN_VAR }',
          'usage: { store: dynamodb, tableFromEnv: IG_TEST_USAGE_VAR }',
          'keyStore: { type: dynamodb, tableFromEnv: IG_TEST_KEYSTORE_VAR }',
        ].join('\n'),
      );
      console.log = (...args: unknown[]) => void out.push(args.join(' '));
      assert.equal(await run([file, '--json']), 0);
    } finally {
      console.log = consoleLog;
      rmSync(dir, { recursive: true, force: true });
    }
    const { warnings } = JSON.parse(out.join('\n')) as { warnings: string[] };
    const fromEnv = warnings.filter((w) => w.includes('environment variable'));
    assert.deepEqual(
      fromEnv.map((w) => w.replace(/^.*\$(\w+) is not set here \(start-up would fail\)$/, '$1')).sort(),
      [...vars].sort(),
      warnings.join('\n'),
    );
    assert.ok(fromEnv.includes("keys.0.valueFromEnv (key 'ci'): environment variable $IG_TEST_KEY_VAR is not set here (start-up would fail)"));
  });

  test('each setting works when its variable is set', async () => {
    process.env[VAR] = 'from-env-value-0123456789abcdef';
    const keyed = await createApp(testConfig(folder.root, FROM_ENV[0]!.overrides()), { logger: createLogger('silent') });
    assert.equal((await keyed.app.request('/photo.jpg', { headers: { 'X-API-Key': process.env[VAR] } })).status, 200);
    await keyed.close();

    const admin = await createApp(testConfig(folder.root, FROM_ENV[1]!.overrides()), { logger: createLogger('silent') });
    assert.equal((await admin.app.request('/_admin/usage', { headers: { Authorization: `Bearer ${process.env[VAR]}` } })).status, 200);
    assert.equal((await admin.app.request('/_admin/usage', { headers: { Authorization: 'Bearer wrong' } })).status, 401);
    await admin.close();

    const signed = await createApp(testConfig(folder.root, FROM_ENV[2]!.overrides()), { logger: createLogger('silent') });
    const target = signTarget('/photo.jpg?w=10', process.env[VAR]!);
    assert.equal((await signed.app.request(target, { headers: { 'X-API-Key': TEST_KEY } })).status, 200);
    assert.equal((await signed.app.request('/photo.jpg?w=10', { headers: { 'X-API-Key': TEST_KEY } })).status, 403);
    await signed.close();

    const tables = await resolveConfig(testConfig(folder.root, { ...FROM_ENV[3]!.overrides(), ...FROM_ENV[4]!.overrides() }));
    assert.equal(tables.usage.store === 'dynamodb' && tables.usage.table, process.env[VAR]);
    assert.equal(tables.keyStore?.type === 'dynamodb' && tables.keyStore.table, process.env[VAR]);
  });
});

describe('imagegate serve', () => {
  test('reports every problem of the environment as a configuration error, exit 1', async () => {
    const { run } = await import('../../src/cli/serve.ts');
    const dir = mkdtempSync(path.join(tmpdir(), 'imagegate-resolve-'));
    const errors: string[] = [];
    const consoleError = console.error;
    try {
      const file = path.join(dir, 'imagegate.yaml');
      writeFileSync(
        file,
        [
          `sources: { local: { type: fs, root: ${JSON.stringify(folder.root)} } }`,
          'routes: [{ match: "*", source: local }]',
          'keys: [{ id: ci, valueFromEnv: IMAGEGATE_TEST_UNSET_KEY_VAR }]',
          'admin: { tokenFromEnv: IMAGEGATE_TEST_UNSET_ADMIN_VAR }',
          'server: { logLevel: silent }',
        ].join('\n'),
      );
      console.error = (...args: unknown[]) => void errors.push(args.join(' '));
      assert.equal(await run(['--config', file, '--port', '0', '--host', '127.0.0.1']), 1);
    } finally {
      console.error = consoleError;
      rmSync(dir, { recursive: true, force: true });
    }
    const text = errors.join('\n');
    assert.match(text, /^invalid configuration \(environment and secrets\):/);
    assert.match(text, /keys\.0\.valueFromEnv \(key 'ci'\): environment variable \$IMAGEGATE_TEST_UNSET_KEY_VAR is not set/);
    assert.match(text, /admin\.tokenFromEnv: environment variable \$IMAGEGATE_TEST_UNSET_ADMIN_VAR is not set/);
    assert.doesNotMatch(text, /cannot listen/);
  });
});

describe('the resolved config', () => {
  test('is frozen, read from the environment once, and leaves the caller’s config as it was', async () => {
    const env: Record<string, string> = { [VAR]: 'first-token-0123456789' };
    const cfg = testConfig(folder.root, { admin: { tokenFromEnv: VAR }, keys: [{ id: 'ci', valueFromEnv: VAR }] });
    const resolved = await resolveConfig(cfg, { env });
    env[VAR] = 'second-token-0123456789';
    assert.equal(resolved.keys.size, 1);
    assert.equal([...resolved.keys.values()][0]!.id, 'ci');
    assert.ok(resolved.adminDigest);
    assert.equal((await resolveConfig(cfg, { env })).adminDigest === resolved.adminDigest, false, 'a new resolve reads the new value');
    assert.ok(Object.isFrozen(resolved) && Object.isFrozen(resolved.settings) && Object.isFrozen(resolved.settings.server));
    assert.throws(() => {
      (resolved.settings.server as { port: number }).port = 1;
    }, TypeError);
    assert.ok(!Object.isFrozen(cfg.server), 'the input is not frozen');
    assert.equal(resolved.settings.server.port, cfg.server.port);
  });

  test('AWS clients get the environment’s region where the file names none', async () => {
    const cfg = testConfig(folder.root, {
      sources: {
        local: { type: 'fs', root: folder.root },
        named: { type: 's3', bucket: 'b', region: 'eu-west-1' },
        unnamed: { type: 's3', bucket: 'b' },
      },
      cache: { persistent: { type: 's3', bucket: 'c' } },
    });
    const region = (s: { type: string; region?: string }) => (s.type === 's3' ? s.region : undefined);
    const fromAws = (await resolveConfig(cfg, { env: { AWS_REGION: 'ap-south-1', AWS_DEFAULT_REGION: 'sa-east-1' } })).settings;
    assert.equal(region(fromAws.sources.named!), 'eu-west-1');
    assert.equal(region(fromAws.sources.unnamed!), 'ap-south-1');
    assert.equal(region(fromAws.cache.persistent!), 'ap-south-1');
    assert.equal(fromAws.aws.region, 'ap-south-1');
    const fromDefault = (await resolveConfig(cfg, { env: { AWS_DEFAULT_REGION: 'sa-east-1' } })).settings;
    assert.equal(region(fromDefault.sources.unnamed!), 'sa-east-1');
    assert.equal(region((await resolveConfig(cfg, { env: {} })).settings.sources.unnamed!), 'us-east-1');
    assert.equal(region(cfg.sources.unnamed!), undefined, 'the input is not changed');
  });
});

describe('IMAGEGATE_LARGE_RESPONSE_BUCKET', () => {
  test('names the large-response bucket when the file names none; the file’s own wins', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'imagegate-resolve-'));
    try {
      const file = path.join(dir, 'imagegate.yaml');
      const body = `sources: { local: { type: fs, root: . } }\nroutes: [{ match: "*", source: local }]\n`;
      writeFileSync(file, body);
      const env = { IMAGEGATE_LARGE_RESPONSE_BUCKET: 'stack-bucket' };
      assert.equal(loadConfigFile(file, env).lambda.largeResponseBucket, 'stack-bucket');
      assert.equal(inspectConfigFile(file, env).origins.get('lambda.largeResponseBucket'), 'env IMAGEGATE_LARGE_RESPONSE_BUCKET');
      assert.equal(loadConfigFile(file, {}).lambda.largeResponseBucket, undefined);
      writeFileSync(file, `${body}lambda: { largeResponseBucket: file-bucket }\n`);
      assert.equal(loadConfigFile(file, env).lambda.largeResponseBucket, 'file-bucket');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('boundaries', () => {
  const files = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));
  const IMPORT = /(?:^|[\s;])(?:import|export)\b[^'"]*?\bfrom\s*['"]([^'"]+)['"]|\bimport\s*\(?\s*['"]([^'"]+)['"]/g;
  const ENV_READ = /\bprocess\s*(?:\.\s*env\b|\[\s*['"]env['"]\s*\])|\bfrom\s*['"](?:node:)?process['"]|\bimport\(\s*['"](?:node:)?process['"]\s*\)/;

  test('src/config imports nothing from a feature folder (only itself, packages and the shared modules at the top of src)', () => {
    const config = path.join(SRC, 'config');
    const found: string[] = [];
    for (const file of files(config)) {
      for (const m of readFileSync(file, 'utf8').matchAll(IMPORT)) {
        const spec = m[1] ?? m[2]!;
        if (!spec.startsWith('.')) continue; // a package
        const target = path.resolve(path.dirname(file), spec);
        const inConfig = target.startsWith(config + path.sep);
        const topLevel = path.dirname(target) === SRC;
        if (!inConfig && !topLevel) found.push(`${path.relative(SRC, file)} imports ${spec}`);
      }
    }
    assert.deepEqual(found, []);
    assert.ok(files(config).length >= 8, 'the scan sees the config folder');
  });

  test('the feature folders take only types from src/config: what a setting names is resolved before they run', () => {
    const config = path.join(SRC, 'config');
    const found: string[] = [];
    for (const folder of ['auth', 'cache', 'pipeline', 'request', 'routes', 'storage', 'usage']) {
      for (const file of files(path.join(SRC, folder))) {
        for (const m of readFileSync(file, 'utf8').matchAll(IMPORT)) {
          const spec = m[1] ?? m[2]!;
          if (!spec.startsWith('.') || !path.resolve(path.dirname(file), spec).startsWith(config + path.sep)) continue;
          if (!/^\s*import\s+type\b/.test(m[0])) found.push(`${path.relative(SRC, file)}: ${m[0].trim()}`);
        }
      }
    }
    assert.deepEqual(found, []);
  });

  test('nothing under src reads process.env but src/config and src/cli', () => {
    const found = files(SRC)
      .filter((f) => !/^(config|cli)\//.test(path.relative(SRC, f).split(path.sep).join('/')))
      .filter((f) => ENV_READ.test(readFileSync(f, 'utf8')))
      .map((f) => path.relative(SRC, f));
    assert.deepEqual(found, []);
    // The scan finds what it looks for.
    assert.ok(ENV_READ.test('const x = process.env.HOME') && ENV_READ.test("process['env']") && ENV_READ.test("import { env } from 'node:process'"));
    assert.ok(files(path.join(SRC, 'cli')).some((f) => ENV_READ.test(readFileSync(f, 'utf8'))));
  });
});
