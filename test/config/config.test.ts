import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfigFile, parseConfig } from '../../src/config/load.ts';

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
