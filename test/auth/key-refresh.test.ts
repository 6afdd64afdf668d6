/**
 * Keys from Secrets Manager are read again while the process runs, so an API key rotation
 * (docs/deploy-aws.md) needs no restart: a new value works within `onMissAfterMs`, a removed one
 * stops working after `everyMs`. Against a real moto_server; time is a fake clock.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CreateSecretCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createKeyLookup, SECRET_REFRESH, secretKeyRefresh, sha256hex } from '../../src/auth/keys.ts';
import { resolveConfig } from '../../src/config/resolve.ts';
import { parseConfig } from '../../src/config/load.ts';
import { fakeAwsEnv, requireCommand, startMoto, type RunningService } from '../helpers/services.ts';

const skip = requireCommand('moto_server');
const OLD = 'OldOldOldOldOldOldOldOldOld123';
const NEW = 'NewNewNewNewNewNewNewNewNew456';

describe('secret-backed keys are re-read (moto_server)', { skip }, () => {
  let moto: RunningService;
  let sm: SecretsManagerClient;

  before(async () => {
    fakeAwsEnv();
    moto = await startMoto();
    sm = new SecretsManagerClient({ region: 'us-east-1', endpoint: moto.url });
    await sm.send(new CreateSecretCommand({ Name: 'slot-a', SecretString: JSON.stringify({ api_key: OLD }) }));
  });
  after(async () => {
    sm?.destroy();
    await moto?.stop();
  });

  test('a renewed secret: the new value is accepted within the miss interval, the old one refused after the refresh interval', async () => {
    const cfg = parseConfig({
      sources: { s: { type: 'fs', root: '.' } },
      routes: [{ match: '*', source: 's' }],
      keys: [{ id: 'dev-a', secret: { id: 'slot-a' } }],
      aws: { region: 'us-east-1', endpoint: moto.url },
    });
    let clock = 1_000_000;
    const resolved = await resolveConfig(cfg);
    const refresh = { ...secretKeyRefresh(resolved)!, now: () => clock };
    const keys = createKeyLookup(resolved.keys, undefined, refresh);
    assert.equal((await keys.findByHash(sha256hex(OLD)))?.id, 'dev-a');

    await sm.send(new PutSecretValueCommand({ SecretId: 'slot-a', SecretString: JSON.stringify({ api_key: NEW }) }));
    // Within the miss interval the secret is not read again: an unknown value costs no AWS call.
    clock += SECRET_REFRESH.onMissAfterMs - 1;
    assert.equal(await keys.findByHash(sha256hex(NEW)), undefined);
    clock += 1;
    assert.equal((await keys.findByHash(sha256hex(NEW)))?.id, 'dev-a', 'the new value, after one re-read');
    assert.equal(await keys.findByHash(sha256hex(OLD)), undefined, 'the re-read replaced the old value');
  });

  test('a known value triggers a background re-read after the refresh interval; a failed re-read keeps the values known', async () => {
    let clock = 0;
    let reads = 0;
    let fail = false;
    const values = new Map([[sha256hex(OLD), { id: 'k' }]]);
    const keys = createKeyLookup(new Map(values), undefined, {
      ...SECRET_REFRESH,
      now: () => clock,
      reload: async () => {
        reads++;
        if (fail) throw new Error('Secrets Manager down');
        return new Map([[sha256hex(NEW), { id: 'k' }]]);
      },
    });
    assert.equal((await keys.findByHash(sha256hex(OLD)))?.id, 'k');
    assert.equal(reads, 0);
    fail = true;
    clock = SECRET_REFRESH.everyMs;
    assert.equal((await keys.findByHash(sha256hex(OLD)))?.id, 'k', 'answered from what is known while the re-read runs');
    await new Promise((r) => setImmediate(r));
    assert.equal(reads, 1);
    assert.equal((await keys.findByHash(sha256hex(OLD)))?.id, 'k', 'a failed re-read keeps the old values');
    fail = false;
    clock += SECRET_REFRESH.everyMs;
    await keys.findByHash(sha256hex(OLD));
    await new Promise((r) => setImmediate(r));
    assert.equal(reads, 2);
    assert.equal(await keys.findByHash(sha256hex(OLD)), undefined);
    assert.equal((await keys.findByHash(sha256hex(NEW)))?.id, 'k');
  });
});
