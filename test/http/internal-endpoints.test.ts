/**
 * `/_metrics` and `/_openapi.json` are not public by default: on the image listener they need
 * the admin token (`server.internalEndpoints: admin`), can be opened (`public`) or removed
 * (`off`), and a metrics listener of its own (`server.metrics`) serves them without a token
 * while the image listener stops serving `/_metrics` at all.
 */
import { after, before, describe, test } from 'node:test';
import net from 'node:net';
import assert from 'node:assert/strict';
import { startServer, type RunningServer } from '../../src/server.ts';
import { createLambdaHandler, type LambdaResult } from '../../src/lambda.ts';
import { createLogger } from '../../src/log.ts';
import { makeImageFolder, testApp, testConfig, get, ADMIN_TOKEN, TEST_KEY } from '../helpers/app.ts';
import { freePort } from '../helpers/services.ts';

const ADMIN = { Authorization: `Bearer ${ADMIN_TOKEN}` };
const ENDPOINTS = ['/_metrics', '/_openapi.json'];

describe('/_metrics and /_openapi.json on the image listener', () => {
  let folder: Awaited<ReturnType<typeof makeImageFolder>>;
  before(async () => {
    folder = await makeImageFolder();
  });
  after(() => folder.cleanup());

  test('default: the admin token opens them; nothing else does', async () => {
    const ig = await testApp(folder.root);
    try {
      for (const p of ENDPOINTS) {
        for (const headers of [{}, { 'X-API-Key': TEST_KEY }, { Authorization: `Bearer ${TEST_KEY}` }] as Record<string, string>[]) {
          const res = await ig.app.request(p, { headers });
          assert.equal(res.status, 401, `${p} ${JSON.stringify(headers)}`);
          assert.equal(((await res.json()) as { code: string }).code, 'admin_unauthorized');
        }
        assert.equal((await ig.app.request(p, { headers: ADMIN })).status, 200, p);
      }
      assert.match(await (await ig.app.request('/_metrics', { headers: ADMIN })).text(), /imagegate_http_requests_total/);
    } finally {
      await ig.close();
    }
  });

  test('default without an admin token: closed to everyone (403 admin_disabled)', async () => {
    const ig = await testApp(folder.root, { admin: undefined });
    try {
      for (const p of ENDPOINTS) assert.equal((await get(ig, p)).status, 403, p);
    } finally {
      await ig.close();
    }
  });

  test('internalEndpoints: public serves them to anyone; off serves them to no one', async () => {
    const open = await testApp(folder.root, { server: { internalEndpoints: 'public' } });
    const off = await testApp(folder.root, { server: { internalEndpoints: 'off' } });
    try {
      for (const p of ENDPOINTS) {
        assert.equal((await open.app.request(p)).status, 200, p);
        assert.equal((await off.app.request(p, { headers: ADMIN })).status, 404, p);
      }
    } finally {
      await open.close();
      await off.close();
    }
  });

  test('on Lambda the same guard applies', async () => {
    const ig = await testApp(folder.root);
    const handler = createLambdaHandler(async () => ig);
    try {
      const event = (headers: Record<string, string>) => ({ httpMethod: 'GET', path: '/_metrics', headers, requestContext: { stage: 'prod' } });
      assert.equal(((await handler(event({}))) as LambdaResult).statusCode, 401);
      assert.equal(((await handler(event(ADMIN))) as LambdaResult).statusCode, 200);
    } finally {
      await ig.close();
    }
  });
});

describe('a metrics listener of its own (server.metrics)', () => {
  let folder: Awaited<ReturnType<typeof makeImageFolder>>;
  let server: RunningServer;
  let metricsPort: number;
  before(async () => {
    folder = await makeImageFolder();
    metricsPort = await freePort();
    const config = testConfig(folder.root, { server: { internalEndpoints: 'public', metrics: { host: '127.0.0.1', port: metricsPort } } });
    server = await startServer(config, { port: await freePort(), host: '127.0.0.1' }, { logger: createLogger('silent') });
  });
  after(async () => {
    await server?.close();
    folder.cleanup();
  });

  test('serves /_metrics and /_openapi.json without a token, and nothing else', async () => {
    assert.equal(server.metricsUrl, `http://127.0.0.1:${metricsPort}`);
    assert.equal((await fetch(`${server.url}/photo.jpg?w=10`, { headers: { 'X-API-Key': TEST_KEY } })).status, 200);
    const metrics = await fetch(`${server.metricsUrl}/_metrics`);
    assert.equal(metrics.status, 200);
    assert.match(await metrics.text(), /imagegate_http_requests_total\{route="image",status="200"/);
    assert.equal((await fetch(`${server.metricsUrl}/_openapi.json`)).status, 200);
    for (const p of ['/photo.jpg', '/_admin/stats', '/_health']) {
      assert.equal((await fetch(`${server.metricsUrl}${p}`, { headers: { 'X-API-Key': TEST_KEY, ...ADMIN } })).status, 404, p);
    }
  });

  test('the image listener no longer serves /_metrics, whatever internalEndpoints says', async () => {
    for (const headers of [{}, ADMIN] as Record<string, string>[]) assert.equal((await fetch(`${server.url}/_metrics`, { headers })).status, 404);
    assert.equal((await fetch(`${server.url}/_openapi.json`)).status, 200, 'internalEndpoints: public still applies to the OpenAPI document');
  });
});

test('an image port that is taken fails start-up and frees the metrics port again', async () => {
  const folder = await makeImageFolder();
  try {
    const port = await freePort();
    const config = testConfig(folder.root, { server: { metrics: { host: '127.0.0.1', port } } });
    await assert.rejects(startServer(config, { port, host: '127.0.0.1' }, { logger: createLogger('silent') }), /EADDRINUSE/);
    await new Promise<void>((resolve, reject) => {
      const probe = net.createServer().on('error', reject).listen(port, '127.0.0.1', () => probe.close(() => resolve()));
    });
  } finally {
    folder.cleanup();
  }
});
