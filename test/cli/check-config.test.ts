import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { run, help } from '../../src/cli/check-config.ts';
import { capture, imagegate, tempDir, writeConfig } from './helpers.ts';

const dir = tempDir();
mkdirSync(path.join(dir, 'images'));

const GOOD = `
server: { port: 9000, basePath: /dev }
sources:
  local: { type: fs, root: ./images }
  partner: { type: s3, bucket: images-bucket, prefix: originals/, region: eu-west-1, signing: { tokenFromEnv: PARTNER_TOKEN_UNSET_FOR_TEST } }
  unused: { type: fs, root: ./images }
routes:
  - { match: "partnerimages/:a/:b/:id.:ext", source: partner, key: "{id}.{ext}" }
  - { match: "*", source: local }
  - { match: "late/*", source: local }
keys:
  - { id: dev, sha256: "${'a'.repeat(64)}", plan: internal }
  - { id: ci, valueFromEnv: IMAGEGATE_CI_KEY_UNSET_FOR_TEST }
plans:
  internal: { rate: 50, burst: 100, quota: { limit: 200000, period: day } }
admin: { token: very-secret-admin-token }
`;

describe('check-config', () => {
  test('a valid file is explained: sources, routes in order, keys by id, plans, warnings', async () => {
    const file = writeConfig(dir, GOOD);
    const r = await capture(() => run([file]));
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /valid/);
    assert.match(r.out, /stage prefix \/dev/);
    assert.match(r.out, /internal endpoints \(\/_metrics, \/_openapi\.json\): admin token on the image listener/);
    assert.match(r.out, /partner: s3:\/\/images-bucket\/originals\/ \(eu-west-1\); signed URLs required \(token from \$PARTNER_TOKEN_UNSET_FOR_TEST/);
    assert.match(r.out, /1\. partnerimages\/:a\/:b\/:id\.:ext → partner key "\{id\}\.\{ext\}"/);
    assert.match(r.out, /dev: value from sha256 in config; plan internal/);
    assert.match(r.out, /ci: value from \$IMAGEGATE_CI_KEY_UNSET_FOR_TEST/);
    assert.match(r.out, /internal: 50 req\/s, burst 100, quota 200000 per day/);
    assert.match(r.out, /usage store: memory \(this process only/);
    // warnings
    assert.match(r.out, /routes\.2: never reached, routes\.1 \('\*'\) matches every path first/);
    assert.match(r.out, /sources\.unused: no route uses this source/);
    assert.match(r.out, /\$IMAGEGATE_CI_KEY_UNSET_FOR_TEST is not set here/);
    assert.match(r.out, /\$PARTNER_TOKEN_UNSET_FOR_TEST is not set here/);
    // never a secret value
    assert.doesNotMatch(r.out, /very-secret-admin-token|aaaaaaaa/);
  });

  test('an invalid file: exit 1 and every problem listed, each naming its setting', async () => {
    const file = writeConfig(dir, `
sources:
  local: { type: fs }
  bad: { type: ftp, root: x }
routes:
  - { match: "*", source: nowhere }
keys:
  - { id: "has space", sha256: "abc" }
`, 'bad.yaml');
    const r = await capture(() => run([file]));
    assert.equal(r.code, 1);
    assert.match(r.err, /sources\.local\.root/);
    assert.match(r.err, /sources\.bad/);
    assert.match(r.err, /keys\.0\.id/);
    assert.match(r.err, /keys\.0\.sha256/);
    const count = Number(/(\d+) problems/.exec(r.err)?.[1]);
    assert.ok(count >= 4, r.err);
  });

  test('route templates that name missing captures are problems', async () => {
    const file = writeConfig(dir, `
sources: { local: { type: fs, root: ./images } }
routes: [ { match: "p/:id.jpg", source: local, key: "{name}.jpg" } ]
`, 'tpl.yaml');
    const r = await capture(() => run([file, '--json']));
    assert.equal(r.code, 1);
    const body = JSON.parse(r.out);
    assert.equal(body.ok, false);
    assert.match(body.problems[0], /routes\.0\.key \(route 'p\/:id\.jpg'\): '\{name\}' is not captured/);
  });

  test('one pass: schema problems, unknown references and bad templates together, in plain words with suggestions', async () => {
    const file = writeConfig(dir, `
server: { rooot: 1, logLevel: inof }
sources:
  partner: { type: s3, bucket: b }
  local: { type: fs, root: ./images, cacheControll: x }
  web: { type: htp, baseUrl: "https://example.com/" }
routes:
  - { match: "a/:id.jpg", source: partnr, key: "{nmae}.jpg" }
  - { match: "*", source: local }
keys:
  - { id: ci, sha256: "${'a'.repeat(64)}", plan: gld }
  - { id: dev }
plans: { gold: { rate: 1 } }
usage: { store: redis }
`, 'many.yaml');
    const r = await capture(() => run([file]));
    assert.equal(r.code, 1);
    const expected = [
      /server\.rooot: unknown setting \(allowed here: host, port, /,
      /server\.logLevel: expected one of 'fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent', got 'inof' \(did you mean 'info'\?\)/,
      /sources\.local\.cacheControll: unknown setting \(did you mean 'cacheControl'\? allowed here: type, root, signing, access, cors, cacheControl\)/,
      /sources\.web\.type: expected one of 'fs', 's3', 'http', got 'htp' \(did you mean 'http'\?\)/,
      /keys\.1 \(key 'dev'\): set exactly one of sha256, valueFromEnv or secret/,
      /usage\.url: required \(expected redis:\/\/host:port\/db/,
      /routes\.0\.source \(route 'a\/:id\.jpg'\): unknown source 'partnr' \(did you mean 'partner'\? defined: partner, local, web\)/,
      /keys\.0\.plan \(key 'ci'\): unknown plan 'gld' \(did you mean 'gold'\? defined: gold\)/,
      /routes\.0\.key \(route 'a\/:id\.jpg'\): '\{nmae\}' is not captured by 'a\/:id\.jpg' \(captures: id\)/,
    ];
    for (const re of expected) assert.match(r.err, re);
    assert.match(r.err, new RegExp(`${expected.length} problems`));
    assert.doesNotMatch(r.err, /Invalid input|Unrecognized key|received undefined|Invalid option/);
  });

  test('where each value comes from: the file, an environment variable, a \${VAR} reference, or the default', () => {
    const file = writeConfig(dir, `
server: { port: 9000, cacheControl: "\${CC_FOR_TEST:-public, max-age=60}" }
sources: { local: { type: fs, root: "\${IMAGES_FOR_TEST}" } }
routes: [ { match: "*", source: local } ]
admin: { token: "\${ADMIN_FOR_TEST}" }
`, 'origins.yaml');
    const r = imagegate(['check-config', file, '--json'], { IMAGES_FOR_TEST: path.join(dir, 'images'), ADMIN_FOR_TEST: 'secret-admin-value', IMAGEGATE_LOG_LEVEL: 'warn', PORT: '7000' });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const settings = new Map((JSON.parse(r.stdout).settings as { setting: string; value: unknown; from: string }[]).map((x) => [x.setting, x]));
    assert.deepEqual(settings.get('server.port'), { setting: 'server.port', value: 7000, from: 'env PORT' });
    assert.deepEqual(settings.get('server.logLevel'), { setting: 'server.logLevel', value: 'warn', from: 'env IMAGEGATE_LOG_LEVEL' });
    assert.equal(settings.get('server.cacheControl')?.from, 'file, ${CC_FOR_TEST:-…} default');
    assert.equal(settings.get('sources.local.root')?.from, 'file, ${IMAGES_FOR_TEST}');
    assert.equal(settings.get('server.host')?.from, 'default');
    assert.deepEqual(settings.get('admin.token'), { setting: 'admin.token', value: '[hidden]', from: 'file, ${ADMIN_FOR_TEST}' });
    assert.equal(settings.get('server.drainMs')?.value, 35000);
    assert.doesNotMatch(r.stdout, /secret-admin-value/);

    const human = imagegate(['check-config', file], { IMAGES_FOR_TEST: path.join(dir, 'images'), ADMIN_FOR_TEST: 'x', IMAGEGATE_SERVER_PORT: '7001' });
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /server\.port\s+= 7001 {2}\(env IMAGEGATE_SERVER_PORT\)/);
    assert.match(human.stdout, /more at their defaults \(--all lists them\)/);

    // A missing variable names the setting; a bad value from the environment names the variable.
    const bad = imagegate(['check-config', file], { IMAGEGATE_SERVER_PORT: 'eighty', ADMIN_FOR_TEST: 'x' });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /sources\.local\.root: \$\{IMAGES_FOR_TEST\} is not set \(write \$\{IMAGES_FOR_TEST:-default\} to give a default\)/);
    assert.match(bad.stderr, /server\.port \(from env IMAGEGATE_SERVER_PORT\): expected a number, got 'eighty'/);
    assert.match(bad.stderr, /2 problems/);
  });

  test('usage errors exit 2; --help exits 0', async () => {
    assert.equal((await capture(() => run(['--nope']))).code, 2);
    assert.equal((await capture(() => run(['a.yaml', 'b.yaml']))).code, 2);
    const h = await capture(() => run(['--help']));
    assert.equal(h.code, 0);
    assert.equal(h.out, help);
  });

  test('through the imagegate binary: exit codes scripts can use', () => {
    const good = writeConfig(dir, GOOD);
    assert.equal(imagegate(['check-config', good]).code, 0);
    const missing = imagegate(['check-config', path.join(dir, 'nope.yaml')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /cannot read file/);
    assert.equal(imagegate(['check-config']).code, 2);
    const viaEnv = imagegate(['check-config'], { IMAGEGATE_CONFIG: good });
    assert.equal(viaEnv.code, 0, viaEnv.stderr);
  });
});
