import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConfigError, inspectConfigFile, loadConfigFile, parseConfig } from '../../src/config/load.ts';

describe('configuration', () => {
  test('the issue example validates, with defaults filled in', () => {
    const cfg = parseConfig(
      {
        server: { port: 8080, basePath: '/dev' },
        sources: {
          local: { type: 'fs', root: './examples/images' },
          partner: { type: 's3', bucket: 'images-bucket', prefix: 'originals/', region: 'eu-west-1', endpoint: 'http://127.0.0.1:5000', forcePathStyle: true },
        },
        routes: [
          { match: 'partnerimages/:a/:b/:id.:ext', source: 'partner', key: '{id}.{ext}' },
          { match: '*', source: 'local' },
        ],
        keys: [
          { id: 'dev', sha256: 'a'.repeat(64) },
          { id: 'ci', valueFromEnv: 'IMAGEGATE_CI_KEY' },
          { id: 'prod', secret: { id: 'global--api-key--prod', field: 'api_key' } },
        ],
      },
      { baseDir: '/srv/app' },
    );
    assert.equal(cfg.server.host, '0.0.0.0');
    assert.equal(cfg.server.basePath, '/dev');
    assert.equal(cfg.sources.local.type === 'fs' && cfg.sources.local.root, path.resolve('/srv/app', 'examples/images'));
    assert.equal(cfg.keys[2].secret?.field, 'api_key');
    assert.equal(cfg.transform.maxPixels, 100_000_000);
  });

  test('a bad config lists every problem, each naming its setting', () => {
    let err: ConfigError | undefined;
    try {
      parseConfig({
        server: { port: 70000, basePath: 'no-slash', bogus: 1 },
        sources: { local: { type: 'ftp', root: '/x' }, s3src: { type: 's3' } },
        routes: [{ match: '*', source: 'missing' }],
        keys: [{ id: 'a' }, { id: 'bad id!', sha256: 'xyz' }],
      });
    } catch (e) {
      err = e as ConfigError;
    }
    assert.ok(err instanceof ConfigError);
    const text = err.problems.join('\n');
    for (const setting of ['server.port', 'server.basePath', 'server.bogus', 'sources.local.type', 'sources.s3src.bucket', 'keys.0 (key \'a\')', "keys.1.id (key 'bad id!')", "keys.1.sha256 (key 'bad id!')", "routes.0.source (route '*')"]) {
      assert.ok(err.problems.some((p) => p.startsWith(`${setting}:`)), `missing problem for ${setting} in:\n${text}`);
    }
    assert.equal(err.problems.length, 9, text);
    // The route's unknown source is reported with the schema problems, not after they are fixed.
    assert.match(text, /routes\.0\.source \(route '\*'\): unknown source 'missing' \(defined: local, s3src\)/);
    assert.match(text, /sources\.s3src\.bucket: required: text/);
    assert.match(text, /server\.port: expected at most 65535, got 70000/);
    assert.doesNotMatch(text, /Invalid input|Unrecognized key|received undefined/);
  });

  test('routes must name a defined source and keys a defined plan', () => {
    assert.throws(
      () => parseConfig({ sources: { a: { type: 'fs', root: '.' } }, routes: [{ match: '*', source: 'b' }], keys: [{ id: 'k', sha256: 'a'.repeat(64), plan: 'gold' }] }),
      (e: ConfigError) =>
        e.problems.some((p) => p.startsWith("routes.0.source (route '*'): unknown source 'b' (defined: a)")) &&
        e.problems.some((p) => p.startsWith("keys.0.plan (key 'k'): unknown plan 'gold' (defined: none)")),
    );
  });

  test('a plan name that is an Object.prototype property is still unknown', () => {
    assert.throws(
      () => parseConfig({ sources: { a: { type: 'fs', root: '.' } }, routes: [{ match: '*', source: 'a' }], keys: [{ id: 'k', sha256: 'a'.repeat(64), plan: 'constructor' }] }),
      (e: ConfigError) => e.problems.some((p) => p.startsWith("keys.0.plan (key 'k'): unknown plan 'constructor'")),
    );
  });

  test('files: unreadable and non-YAML files name the file', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'imagegate-cfg-'));
    assert.throws(() => loadConfigFile(path.join(dir, 'none.yaml')), /cannot read file/);
    writeFileSync(path.join(dir, 'bad.yaml'), 'server: [unclosed');
    assert.throws(() => loadConfigFile(path.join(dir, 'bad.yaml')), /not valid YAML/);
    writeFileSync(
      path.join(dir, 'ok.yaml'),
      'sources: { local: { type: fs, root: ./img } }\nroutes: [{ match: "*", source: local }]\ncache: { persistent: { type: fs, dir: ./cache } }\nkeyStore: { type: file, path: keys.json }\n',
    );
    const cfg = loadConfigFile(path.join(dir, 'ok.yaml'));
    assert.equal(cfg.sources.local.type === 'fs' && cfg.sources.local.root, path.join(dir, 'img'));
    assert.equal(cfg.cache.persistent?.type === 'fs' && cfg.cache.persistent.dir, path.join(dir, 'cache'));
    assert.equal(cfg.keyStore?.type === 'file' && cfg.keyStore.path, path.join(dir, 'keys.json'));
  });
});

describe('configuration from the environment', () => {
  const file = (yaml: string) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'imagegate-env-'));
    writeFileSync(path.join(dir, 'imagegate.yaml'), yaml);
    return path.join(dir, 'imagegate.yaml');
  };
  const base = 'sources: { local: { type: fs, root: ./img } }\nroutes: [{ match: "*", source: local }]\n';

  test('${VAR} and ${VAR:-default} in values; a whole reference becomes a number or boolean; $$ is a dollar', () => {
    // Unquoted in block style; quoted inside { } (where YAML reads a bare { as a map).
    const f = file(`${base}server:
  port: \${P}
  host: "\${H:-127.0.0.1}"
  cacheControl: "max-age=\${AGE:-60}, $$x"
cache: { enabled: "\${ON:-true}", persistent: { type: fs, dir: "\${EMPTY:-./cache}" } }
admin: { token: "\${T}" }
`);
    const inspected = inspectConfigFile(f, { P: '9001', EMPTY: '', T: '0123' });
    const cfg = inspected.config!;
    assert.equal(cfg.server.port, 9001);
    assert.equal(cfg.server.host, '127.0.0.1');
    assert.equal(cfg.server.cacheControl, 'max-age=60, $x');
    assert.equal(cfg.cache.enabled, true);
    assert.equal(cfg.cache.persistent?.type === 'fs' && cfg.cache.persistent.dir, path.join(path.dirname(f), 'cache'));
    assert.equal(inspected.origins.get('server.port'), 'file, ${P}');
    assert.equal(cfg.admin?.token, '0123', 'a setting that takes text keeps text that looks like a number');
  });

  test('an unset variable without a default is a problem naming the setting, reported with the others', () => {
    const f = file(`${base}server: { port: "\${NOPE_PORT}", logLevel: loud, basePath: "\${BAD NAME}" }\n`);
    assert.throws(
      () => loadConfigFile(f, {}),
      (e: ConfigError) => {
        assert.deepEqual(e.problems, [
          'server.port: ${NOPE_PORT} is not set (write ${NOPE_PORT:-default} to give a default)',
          "server.basePath: '${BAD NAME}' is not a reference: write ${NAME} or ${NAME:-default}",
          "server.logLevel: expected one of 'fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent', got 'loud'",
        ]);
        return true;
      },
    );
  });

  test('IMAGEGATE_* variables override the file; PORT too, IMAGEGATE_SERVER_PORT over it', () => {
    const f = file(`${base}server: { port: 8080, logLevel: info }\nusage: { store: memory }\nadmin: { tokenFromEnv: SOMETHING }\ncache: { persistent: { type: s3, bucket: b } }\n`);
    const env = {
      PORT: '7000',
      IMAGEGATE_SERVER_PORT: '7001',
      IMAGEGATE_SERVER_HOST: '::',
      IMAGEGATE_LOG_LEVEL: 'debug',
      IMAGEGATE_USAGE_REDIS_URL: 'redis://cache:6379/2',
      IMAGEGATE_USAGE_ON_UNAVAILABLE: 'failClosed',
      IMAGEGATE_ADMIN_TOKEN: 'from-env',
      IMAGEGATE_CACHE_DIR: 'derived',
      IMAGEGATE_LIMITS_CONCURRENCY: '3',
      IMAGEGATE_SERVER_DRAIN_MS: '1500',
    };
    const cfg = loadConfigFile(f, env);
    assert.equal(cfg.server.port, 7001);
    assert.equal(loadConfigFile(f, { PORT: '7000' }).server.port, 7000);
    assert.equal(cfg.server.host, '::');
    assert.equal(cfg.server.logLevel, 'debug');
    assert.deepEqual([cfg.usage.store, cfg.usage.store === 'redis' && cfg.usage.url, cfg.usage.store === 'redis' && cfg.usage.onUnavailable], ['redis', 'redis://cache:6379/2', 'failClosed']);
    assert.deepEqual(cfg.admin, { token: 'from-env' });
    // A folder from the environment resolves against the working directory, not the file's.
    assert.deepEqual(cfg.cache.persistent, { type: 'fs', dir: path.resolve('derived') });
    assert.equal(cfg.limits.concurrency, 3);
    assert.equal(cfg.server.drainMs, 1500);
    // parseConfig reads no environment unless given one; an empty variable counts as unset.
    assert.equal(parseConfig({ sources: { a: { type: 'fs', root: '.' } }, routes: [{ match: '*', source: 'a' }] }).server.port, 8080);
    assert.equal(loadConfigFile(f, { IMAGEGATE_SERVER_PORT: '' }).server.port, 8080);
  });

  test('a bad value from the environment names its variable', () => {
    const f = file(base);
    assert.throws(
      () => loadConfigFile(f, { IMAGEGATE_SERVER_PORT: '80a', IMAGEGATE_LOG_LEVEL: 'verbose', IMAGEGATE_CACHE_ENABLED: 'maybe' }),
      (e: ConfigError) => {
        assert.deepEqual(e.problems, [
          "server.port (from env IMAGEGATE_SERVER_PORT): expected a number, got '80a'",
          "server.logLevel (from env IMAGEGATE_LOG_LEVEL): expected one of 'fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent', got 'verbose'",
          "cache.enabled (from env IMAGEGATE_CACHE_ENABLED): expected true or false, got 'maybe'",
        ]);
        return true;
      },
    );
  });

  test('the example config in examples/ loads, and serves its folder with its key', async () => {
    const example = path.resolve(import.meta.dirname, '..', '..', 'examples', 'imagegate.yaml');
    const cfg = loadConfigFile(example, {});
    assert.equal(cfg.server.host, '127.0.0.1');
    assert.equal(cfg.sources.local.type === 'fs' && cfg.sources.local.root, path.resolve(path.dirname(example), 'images'));
    assert.equal(loadConfigFile(example, { IMAGEGATE_HOST: '0.0.0.0' }).server.host, '0.0.0.0');
    process.env.IMAGEGATE_EXAMPLE_KEY = 'example-key-for-test';
    process.env.IMAGEGATE_EXAMPLE_ADMIN_TOKEN = 'example-admin-token-for-test';
    const { createApp } = await import('../../src/http/app.ts');
    const ig = await createApp({ ...cfg, server: { ...cfg.server, logLevel: 'silent' } });
    try {
      const res = await ig.app.request('/sample.jpg?w=40', { headers: { 'X-API-Key': 'example-key-for-test' } });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'image/jpeg');
    } finally {
      await ig.close();
      delete process.env.IMAGEGATE_EXAMPLE_KEY;
      delete process.env.IMAGEGATE_EXAMPLE_ADMIN_TOKEN;
    }
  });
});
