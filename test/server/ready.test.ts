/**
 * `/_ready` for load balancers and Kubernetes: 503 while starting, draining, a failClosed Redis
 * usage store is down or a source's last probe failed, with a body naming why; `/_health`
 * stays 200 meanwhile.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { once } from 'node:events';
import { mkdtempSync, mkdirSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseConfig } from '../../src/config/load.ts';
import { createApp } from '../../src/http/app.ts';
import { startServer } from '../../src/server.ts';
import { requireCommand, startRedis } from '../helpers/services.ts';

async function ready(app: { request: (p: string) => Response | Promise<Response> }) {
  const res = await app.request('/_ready');
  return { status: res.status, body: (await res.json()) as { ready: boolean; status: string; notReady: string[]; degraded: string[] } };
}

function config(extra: Record<string, unknown> = {}, sources: Record<string, unknown> = {}) {
  const root = mkdtempSync(path.join(tmpdir(), 'imagegate-ready-'));
  mkdirSync(path.join(root, 'images'));
  return {
    root,
    cfg: parseConfig({
      server: { logLevel: 'silent' },
      cache: { sourceMetaTtlMs: 0 }, // a probe asks the source itself, not a remembered answer
      sources: { local: { type: 'fs', root: path.join(root, 'images') }, ...sources },
      routes: [{ match: '*', source: 'local' }],
      ...extra,
    }),
  };
}

describe('readiness', () => {
  test('starting, ready, a source gone, back again; /_health stays 200', async () => {
    const origin = createServer((_req, res) => void res.writeHead(404).end());
    origin.listen(0, '127.0.0.1');
    await once(origin, 'listening');
    const { port } = origin.address() as { port: number };
    const { root, cfg } = config({}, { web: { type: 'http', baseUrl: `http://127.0.0.1:${port}/`, allowPrivateNetworks: true, timeoutMs: 2000 } });
    const ig = await createApp(cfg);
    try {
      let r = await ready(ig.app);
      assert.equal(r.status, 503);
      assert.equal(r.body.status, 'starting');
      await ig.readiness.start(0);
      r = await ready(ig.app);
      assert.deepEqual([r.status, r.body], [200, { ready: true, status: 'ready', notReady: [], degraded: [] }]);

      // The folder disappears (an unmounted volume) and the origin stops answering.
      renameSync(path.join(root, 'images'), path.join(root, 'gone'));
      origin.close();
      origin.closeAllConnections();
      await ig.readiness.check();
      r = await ready(ig.app);
      assert.equal(r.status, 503);
      assert.equal(r.body.status, 'not ready');
      assert.ok(r.body.notReady.some((w) => w.startsWith("source 'local': folder") && w.endsWith('does not exist')), JSON.stringify(r.body));
      assert.ok(r.body.notReady.some((w) => w.startsWith("source 'web':")), JSON.stringify(r.body));
      assert.equal((await ig.app.request('/_health')).status, 200);

      renameSync(path.join(root, 'gone'), path.join(root, 'images'));
      await ig.readiness.check();
      r = await ready(ig.app);
      assert.deepEqual(r.body.notReady.map((w) => w.split(':')[0]), ["source 'web'"]);
    } finally {
      await ig.close();
    }
  });

  test('draining: 503 from the moment the drain starts', async () => {
    const { cfg } = config();
    const server = await startServer(cfg, { port: 0, host: '127.0.0.1' });
    await server.imagegate.readiness.check();
    const before = await fetch(`${server.url}/_ready`);
    assert.equal(before.status, 200, JSON.stringify(await before.json()));
    await server.drain(5000);
    const r = await ready(server.imagegate.app);
    assert.equal(r.status, 503);
    assert.equal(r.body.status, 'draining');
    assert.match(r.body.notReady[0], /^draining/);
  });

  const skip = requireCommand('redis-server');
  test('a Redis usage store that is down: not ready under failClosed, degraded under failOpen', { skip }, async () => {
    const redis = await startRedis();
    const apps = await Promise.all(
      (['failClosed', 'failOpen'] as const).map(async (onUnavailable) => {
        const { cfg } = config({ usage: { store: 'redis', url: redis.url, onUnavailable, commandTimeoutMs: 200 } });
        const ig = await createApp(cfg);
        await ig.readiness.start(0);
        return ig;
      }),
    );
    const [closed, open] = apps;
    try {
      const first = await ready(closed.app);
      assert.equal(first.status, 200, JSON.stringify(first.body));
      await redis.stop();
      await Promise.all(apps.map((a) => a.readiness.check()));
      const c = await ready(closed.app);
      assert.equal(c.status, 503);
      assert.match(c.body.notReady.join('\n'), /usage store \(Redis\) unreachable \(failClosed/);
      const o = await ready(open.app);
      assert.equal(o.status, 200);
      assert.match(o.body.degraded.join('\n'), /usage store \(Redis\) unreachable \(failOpen/);

      // Redis comes back on the same port: ready again, no restart.
      const again = await startRedis(redis.port);
      try {
        await closed.usage.ready(10_000);
        await closed.readiness.check();
        assert.equal((await ready(closed.app)).status, 200);
      } finally {
        await again.stop();
      }
    } finally {
      await Promise.all(apps.map((a) => a.close()));
    }
  });
});
