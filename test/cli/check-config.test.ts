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
    assert.match(body.problems[0], /routes\.0\.key: '\{name\}' is not captured/);
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
