/**
 * A signing secret revoked mid-traffic, across two replicas sharing a real Redis key store:
 * both refuse URLs signed with it within the revocation window the keys CLI promises.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { buildUrl } from '../../src/client/index.ts';
import type { RunningServer } from '../../src/server.ts';
import { requireCommand, startRedis, type RunningService } from '../helpers/services.ts';
import { accessFixture, startOn, type AccessFixture } from './helpers.ts';

let redis: RunningService;
let fx: AccessFixture;
const servers: RunningServer[] = [];

describe('secret revocation across two replicas (Redis key store)', { skip: requireCommand('redis-server') }, () => {
  before(async () => {
    redis = await startRedis();
    fx = await accessFixture({}, { type: 'redis', url: redis.url, prefix: 'access-test:' });
    servers.push(await startOn(fx.config), await startOn(fx.config));
  });
  after(async () => {
    for (const s of servers) await s.close();
    await fx?.cleanup();
    await redis?.stop();
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
