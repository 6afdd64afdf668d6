/**
 * The three `…FromEnv` settings (keys[].valueFromEnv, admin.tokenFromEnv,
 * sources.*.signing.tokenFromEnv) fail start-up the same way when their variable is unset or
 * empty: a ConfigError naming the setting and the variable. When set, each works.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../src/config/load.ts';
import { createApp } from '../../src/http/app.ts';
import { createLogger } from '../../src/log.ts';
import { signTarget } from '../../src/request/signature.ts';
import { makeImageFolder, testConfig, TEST_KEY } from '../helpers/app.ts';

const VAR = 'IMAGEGATE_TEST_FROM_ENV';
let folder: Awaited<ReturnType<typeof makeImageFolder>>;

before(async () => {
  folder = await makeImageFolder();
});
after(() => {
  delete process.env[VAR];
  folder.cleanup();
});

const settings: { name: string; overrides: () => Record<string, unknown>; setting: RegExp }[] = [
  { name: 'keys[].valueFromEnv', overrides: () => ({ keys: [{ id: 'ci', valueFromEnv: VAR }] }), setting: /^keys\.0 \(ci\): valueFromEnv: / },
  { name: 'admin.tokenFromEnv', overrides: () => ({ admin: { tokenFromEnv: VAR } }), setting: /^admin\.tokenFromEnv: / },
  {
    name: 'sources.*.signing.tokenFromEnv',
    overrides: () => ({ sources: { local: { type: 'fs', root: folder.root, signing: { tokenFromEnv: VAR } } } }),
    setting: /^sources\.local\.signing\.tokenFromEnv: /,
  },
];

for (const { name, overrides, setting } of settings) {
  test(`${name}: an unset or empty variable stops start-up with a ConfigError naming the setting and the variable`, async () => {
    for (const value of [undefined, '']) {
      if (value === undefined) delete process.env[VAR];
      else process.env[VAR] = value;
      let caught: unknown;
      try {
        await createApp(testConfig(folder.root, overrides()), { logger: createLogger('silent') });
      } catch (err) {
        caught = err;
      }
      assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${String(caught)}`);
      assert.equal(caught.problems.length, 1);
      assert.match(caught.problems[0]!, setting);
      assert.match(caught.problems[0]!, new RegExp(`environment variable \\$${VAR} is not set$`));
    }
  });
}

test('each setting works when its variable is set', async () => {
  process.env[VAR] = 'from-env-value-0123456789abcdef';
  const keyed = await createApp(testConfig(folder.root, { keys: [{ id: 'ci', valueFromEnv: VAR }] }), { logger: createLogger('silent') });
  assert.equal((await keyed.app.request('/photo.jpg', { headers: { 'X-API-Key': process.env[VAR] } })).status, 200);
  await keyed.close();

  const admin = await createApp(testConfig(folder.root, { admin: { tokenFromEnv: VAR } }), { logger: createLogger('silent') });
  assert.equal((await admin.app.request('/_admin/usage', { headers: { Authorization: `Bearer ${process.env[VAR]}` } })).status, 200);
  assert.equal((await admin.app.request('/_admin/usage', { headers: { Authorization: 'Bearer wrong' } })).status, 401);
  await admin.close();

  const signed = await createApp(testConfig(folder.root, settings[2]!.overrides()), { logger: createLogger('silent') });
  const target = signTarget('/photo.jpg?w=10', process.env[VAR]!);
  assert.equal((await signed.app.request(target, { headers: { 'X-API-Key': TEST_KEY } })).status, 200);
  assert.equal((await signed.app.request('/photo.jpg?w=10', { headers: { 'X-API-Key': TEST_KEY } })).status, 403);
  await signed.close();
});
