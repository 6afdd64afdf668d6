/**
 * A signing secret revoked mid-traffic, across two replicas sharing a real key store (Redis,
 * and DynamoDB on moto_server): both refuse URLs signed with it within the revocation window
 * the keys CLI promises.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { buildUrl } from '../../src/client/index.ts';
import type { RunningServer } from '../../src/server.ts';
import type { Config } from '../../src/config/schema.ts';
import { freshTable } from '../helpers/dynamodb.ts';
import { fakeAwsEnv, requireCommand, startMoto, startRedis, type RunningService } from '../helpers/services.ts';
import { accessFixture, startOn, type AccessFixture } from './helpers.ts';

replicas('Redis', requireCommand('redis-server'), async (service) => {
  service.push(await startRedis());
  return { type: 'redis', url: service[0]!.url, prefix: 'access-test:' };
});

replicas('DynamoDB', requireCommand('moto_server'), async (service) => {
  fakeAwsEnv();
  service.push(await startMoto({ serial: true }));
  const endpoint = service[0]!.url;
  return { type: 'dynamodb', table: await freshTable(endpoint), endpoint, region: 'us-east-1', prefix: 'access-test/' };
});

/** The suite, against the key store that `open` starts (its service pushed on `service`, stopped after). */
function replicas(name: string, skip: string | undefined, open: (service: RunningService[]) => Promise<NonNullable<Config['keyStore']>>) {
  describe(`secret revocation across two replicas (${name} key store)`, { skip }, () => {
    const service: RunningService[] = [];
    let fx: AccessFixture;
    const servers: RunningServer[] = [];
    before(async () => {
      fx = await accessFixture({}, await open(service));
      servers.push(await startOn(fx.config), await startOn(fx.config));
    });
    after(async () => {
      for (const s of servers) await s.close();
      await fx?.cleanup();
      for (const s of service) await s.stop();
    });

    test('both replicas serve the signed URL, then both refuse it within the window after a revocation', async () => {
      const target = buildUrl('/signed/photo.jpg', { w: 16 }, { signWith: { token: fx.alice.secret, keyId: 'alice' } });
      let stop = false;
      let served = 0;
      // Traffic keeps flowing on both replicas while the secret is revoked.
      const traffic = (async () => {
        while (!stop) {
          for (const s of servers) if ((await fetch(s.url + target)).status === 200) served++;
        }
      })();
      for (const s of servers) assert.equal((await fetch(s.url + target)).status, 200);
      await fx.store.revokeSecret('alice', fx.alice.secretId);
      const revokedAt = Date.now();
      for (const s of servers) {
        let status = 200;
        while (Date.now() - revokedAt < 5000 && (status = (await fetch(s.url + target)).status) === 200) await new Promise((r) => setTimeout(r, 50));
        assert.equal(status, 403);
      }
      stop = true;
      await traffic;
      assert.ok(served > 0);
      // Settled: every later request on either replica is refused.
      for (let i = 0; i < 5; i++) for (const s of servers) assert.equal((await fetch(s.url + target)).status, 403);
      // bob's secret was never touched.
      const bob = buildUrl('/signed/photo.jpg', { w: 16 }, { signWith: { token: fx.bob.secret, keyId: 'bob' } });
      for (const s of servers) assert.equal((await fetch(s.url + bob)).status, 200);
    });
  });
}
