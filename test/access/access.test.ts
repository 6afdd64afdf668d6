/**
 * Access per source over a real server and a real file key store: signed URLs as the
 * credential, owned by keys and counted as theirs; the imgix form with a source token; public
 * sources under the anonymous plan per client address; CORS; Cache-Control for CDNs.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { buildUrl } from '../../src/client/index.ts';
import type { RunningServer } from '../../src/server.ts';
import { accessFixture, IX_TOKEN, startOn, usageOf, type AccessFixture } from './helpers.ts';

let fx: AccessFixture;
let server: RunningServer;

const signed = (path: string, params: Record<string, unknown>, token: string, keyId?: string, expires?: number) =>
  `${server.url}${buildUrl(path, params as never, { signWith: { token, ...(keyId ? { keyId } : {}), ...(expires ? { expires } : {}) } })}`;

/** A fresh fixture and server for the tests of one describe block (quotas and usage start from nothing). */
function serveFixture(overrides?: Record<string, unknown>): void {
  before(async () => {
    fx = await accessFixture(overrides);
    server = await startOn(fx.config);
  });
  after(async () => {
    await server?.close();
    await fx?.cleanup();
  });
}

describe('access per source', () => {
  serveFixture();

  test('a key source still needs X-API-Key, even for a URL signed with a key secret', async () => {
    assert.equal((await fetch(`${server.url}/keyed/photo.jpg?w=10`)).status, 403);
    assert.equal((await fetch(signed('/keyed/photo.jpg', { w: 10 }, fx.alice.secret, 'alice'))).status, 403);
    const ok = await fetch(`${server.url}/keyed/photo.jpg?w=10`, { headers: { 'X-API-Key': fx.alice.key } });
    assert.equal(ok.status, 200);
    await ok.arrayBuffer();
  });

  test("a URL signed with a key's secret is the credential, renders what was signed, and counts as that key's", async () => {
    const before = (await usageOf(server, 'alice'))?.signed ?? 0;
    const res = await fetch(signed('/signed/photo.jpg', { w: 123 }, fx.alice.secret, 'alice'));
    assert.equal(res.status, 200);
    assert.equal((await sharp(Buffer.from(await res.arrayBuffer())).metadata()).width, 123);
    assert.match(res.headers.get('ratelimit-policy') ?? '', /"burst";q=1000/, "the key's plan applies");
    assert.match(res.headers.get('cache-control') ?? '', /public, max-age=31536000/);
    const rec = await usageOf(server, 'alice');
    assert.equal(rec!.signed, before + 1);
  });

  test('no signature, a tampered query, an unknown key id: 403; an expired one: 404 expired, as imgix answers', async () => {
    assert.equal((await fetch(`${server.url}/signed/photo.jpg?w=10`)).status, 403);
    const good = signed('/signed/photo.jpg', { w: 10 }, fx.alice.secret, 'alice');
    const tampered = await fetch(good.replace('w=10', 'w=11'));
    assert.equal(tampered.status, 403);
    assert.equal(((await tampered.json()) as { code: string }).code, 'invalid_signature');
    assert.equal((await fetch(signed('/signed/photo.jpg', { w: 10 }, fx.alice.secret, 'nobody'))).status, 403);
    const expired = await fetch(signed('/signed/photo.jpg', { w: 10 }, fx.alice.secret, 'alice', Math.floor(Date.now() / 1000) - 5));
    assert.equal(expired.status, 404);
    assert.equal(((await expired.json()) as { code: string }).code, 'expired');
  });

  test("hostile: one key's secret with another key's id is refused, and nothing is counted for either", async () => {
    const a0 = (await usageOf(server, 'alice'))?.requests ?? 0;
    const b0 = (await usageOf(server, 'bob'))?.requests ?? 0;
    const res = await fetch(signed('/signed/photo.jpg', { w: 10 }, fx.alice.secret, 'bob'));
    assert.equal(res.status, 403);
    assert.equal(((await res.json()) as { code: string }).code, 'invalid_signature');
    assert.equal((await usageOf(server, 'alice'))?.requests ?? 0, a0);
    assert.equal((await usageOf(server, 'bob'))?.requests ?? 0, b0);
  });

  test('a revoked secret stops working within the revocation window', async () => {
    const s = await fx.store.createSecret('bob');
    const url = signed('/signed/photo.jpg', { w: 12 }, s.secret, 'bob');
    // A new secret, like a revocation, reaches the server within the look-up window.
    const until = async (want: number) => {
      const deadline = Date.now() + 5000;
      let status = 0;
      while (Date.now() < deadline && (status = (await fetch(url)).status) !== want) await new Promise((r) => setTimeout(r, 100));
      return status;
    };
    assert.equal(await until(200), 200);
    await fx.store.revokeSecret('bob', s.secretId);
    assert.equal(await until(403), 403);
    // The other secret of the key still works.
    assert.equal((await fetch(signed('/signed/photo.jpg', { w: 12 }, fx.bob.secret, 'bob'))).status, 200);
  });

  test("the imgix form (source token, no ixkey) still verifies on a signed source; a key secret does not stand in for it", async () => {
    const res = await fetch(signed('/ix/photo.jpg', { w: 20 }, IX_TOKEN));
    assert.equal(res.status, 200);
    assert.equal((await sharp(Buffer.from(await res.arrayBuffer())).metadata()).width, 20);
    assert.equal((await fetch(signed('/ix/photo.jpg', { w: 20 }, 'not-the-token'))).status, 403);
  });

  test('Cache-Control is bounded by expires and says immutable only when the URL names a version', async () => {
    const exp = Math.floor(Date.now() / 1000) + 600;
    const res = await fetch(signed('/signed/photo.jpg', { w: 30 }, fx.alice.secret, 'alice', exp));
    assert.equal(res.status, 200);
    const cc = res.headers.get('cache-control') ?? '';
    const age = Number(/max-age=(\d+)/.exec(cc)?.[1]);
    assert.ok(age > 500 && age <= 600, cc);
    assert.doesNotMatch(cc, /immutable/);
    const v = await fetch(signed('/signed/photo.jpg', { w: 30, v: 3 }, fx.alice.secret, 'alice'));
    assert.match(v.headers.get('cache-control') ?? '', /immutable/);
    // Keyed answers keep the server's default.
    const keyed = await fetch(`${server.url}/keyed/photo.jpg?w=30`, { headers: { 'X-API-Key': fx.alice.key } });
    assert.equal(keyed.headers.get('cache-control'), 'public, max-age=86400');
  });

  test('CORS: the allowed origin, exposed RateLimit fields, CORP; a preflight is answered and counted nowhere', async () => {
    const res = await fetch(signed('/signed/photo.jpg', { w: 10 }, fx.alice.secret, 'alice'), { headers: { Origin: 'http://page.example' } });
    assert.equal(res.headers.get('access-control-allow-origin'), '*');
    assert.match(res.headers.get('access-control-expose-headers') ?? '', /RateLimit-Policy/);
    assert.equal(res.headers.get('cross-origin-resource-policy'), 'cross-origin');
    assert.equal(res.headers.get('timing-allow-origin'), '*');
    // Refusals carry them too, so a page can read why.
    const refused = await fetch(`${server.url}/signed/photo.jpg?w=10`, { headers: { Origin: 'http://page.example' } });
    assert.equal(refused.status, 403);
    assert.equal(refused.headers.get('access-control-allow-origin'), '*');
    const before = await usageOf(server, 'alice');
    const anonBefore = await usageOf(server, '~anonymous');
    const pre = await fetch(`${server.url}/signed/photo.jpg?w=10`, {
      method: 'OPTIONS',
      headers: { Origin: 'http://page.example', 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'x-api-key' },
    });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get('access-control-allow-origin'), '*');
    assert.equal(pre.headers.get('access-control-allow-headers'), 'x-api-key');
    const none = await fetch(`${server.url}/keyed/photo.jpg`, { method: 'OPTIONS', headers: { Origin: 'http://page.example', 'Access-Control-Request-Method': 'GET' } });
    assert.equal(none.status, 204);
    assert.equal(none.headers.get('access-control-allow-origin'), null, 'a source without cors: grants nothing');
    assert.deepEqual(await usageOf(server, 'alice'), before);
    assert.deepEqual(await usageOf(server, '~anonymous'), anonBefore);
  });
});

describe('public sources: the anonymous plan per client address', () => {
  serveFixture();

  test('over the anonymous quota: 429 with the rate-limit fields; forged forwarding headers from an untrusted peer change nothing', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await fetch(`${server.url}/pub/photo.jpg?w=8`, { headers: { 'X-Forwarded-For': `203.0.113.${i}` } });
      assert.equal(r.status, 200);
      assert.match(r.headers.get('ratelimit') ?? '', /"day";r=\d/);
      await r.arrayBuffer();
    }
    const over = await fetch(`${server.url}/pub/photo.jpg?w=8`, { headers: { 'X-Forwarded-For': '198.51.100.7' } });
    assert.equal(over.status, 429);
    assert.equal(((await over.json()) as { code: string }).code, 'quota_exceeded');
    assert.ok(over.headers.get('retry-after'));
    const rec = await usageOf(server, '~anonymous');
    assert.equal(rec!.requests, 4);
    assert.equal(rec!.quotaExceeded, 1);
    // A key still works on a public source, on its own plan.
    assert.equal((await fetch(`${server.url}/pub/photo.jpg?w=8`, { headers: { 'X-API-Key': fx.alice.key } })).status, 200);
  });
});

describe('public sources behind a trusted proxy', () => {
  serveFixture({ anonymous: { plan: 'anon', trustedProxies: ['127.0.0.0/8', '::1'] } });

  test("the trusted proxy's forwarding header names the client: each client has its own quota", async () => {
    for (let i = 0; i < 3; i++) assert.equal((await fetch(`${server.url}/pub/photo.jpg?w=8`, { headers: { 'X-Forwarded-For': '198.51.100.1' } })).status, 200);
    assert.equal((await fetch(`${server.url}/pub/photo.jpg?w=8`, { headers: { 'X-Forwarded-For': '198.51.100.1' } })).status, 429);
    // The right-most untrusted hop counts: a client prepending addresses gains nothing.
    assert.equal((await fetch(`${server.url}/pub/photo.jpg?w=8`, { headers: { 'X-Forwarded-For': '10.9.9.9, 198.51.100.1' } })).status, 429);
    assert.equal((await fetch(`${server.url}/pub/photo.jpg?w=8`, { headers: { 'X-Forwarded-For': '198.51.100.2' } })).status, 200);
  });

  test('IPv6 clients count per /64: another address in the same network shares the quota', async () => {
    const from = (a: string) => fetch(`${server.url}/pub/photo.jpg?w=8`, { headers: { 'X-Forwarded-For': a } }).then((r) => r.status);
    for (let i = 1; i <= 3; i++) assert.equal(await from(`2001:db8:1:2::${i}`), 200);
    assert.equal(await from('2001:db8:1:2:ffff::9'), 429);
    assert.equal(await from('2001:db8:1:3::1'), 200);
  });
});

describe('hostile: a parameter never opens a source the credential does not', () => {
  serveFixture({ anonymous: {} });

  test('an anonymous request reads marks from its own or a public source only', async () => {
    const own = await fetch(signed('/ix/photo.jpg', { w: 64, mark: 'ix/alpha.png' }, IX_TOKEN));
    assert.equal(own.status, 200);
    const keyed = await fetch(signed('/ix/photo.jpg', { w: 64, mark: 'keyed/alpha.png' }, IX_TOKEN));
    assert.equal(keyed.status, 403, 'a key-only source is not readable through mark=');
    assert.equal((await fetch(`${server.url}/pub/photo.jpg?w=64&mark=signed/alpha.png`)).status, 403, 'nor a signed one from a public request');
    assert.equal((await fetch(`${server.url}/pub/photo.jpg?w=64&mark=pub/alpha.png`)).status, 200);
    // A key may: it could read the mark directly.
    assert.equal((await fetch(`${server.url}/pub/photo.jpg?w=64&mark=keyed/alpha.png`, { headers: { 'X-API-Key': fx.alice.key } })).status, 200);
  });
});

test('the OpenAPI document says which sources need no X-API-Key', async () => {
  const { openApiDocument } = await import('../../src/http/openapi.ts');
  const f = await accessFixture();
  try {
    const doc = openApiDocument(f.config) as { paths: Record<string, { get: { description: string; security: unknown[] } }> };
    const op = Object.values(doc.paths).find((p) => p.get?.description?.includes('Renders'))!.get;
    assert.match(op.description, /`signed` \(signed\).*`pub` \(public\)/);
    assert.deepEqual(op.security, [{ apiKey: [] }, {}]);
  } finally {
    await f.cleanup();
  }
});

test('config: an unknown anonymous plan and a bad trusted proxy are named', async () => {
  const { parseConfig, ConfigError } = await import('../../src/config/load.ts');
  const base = { sources: { s: { type: 'fs', root: '/tmp', access: 'public' } }, routes: [{ match: '*', source: 's' }] };
  assert.throws(
    () => parseConfig({ ...base, anonymous: { plan: 'nope', trustedProxies: ['10.0.0.0/99', 'proxy.example'] } }),
    (err: unknown) =>
      err instanceof ConfigError &&
      err.problems.some((p) => p.startsWith('anonymous.plan') && p.includes('nope')) &&
      err.problems.filter((p) => p.startsWith('anonymous.trustedProxies')).length === 2,
  );
  assert.throws(() => parseConfig({ ...base, sources: { s: { type: 'fs', root: '/tmp', access: 'open' } } }), /sources\.s\.access/);
});
