/**
 * The anonymous plan on Lambda: the client address is API Gateway's `requestContext` source IP
 * (REST `identity.sourceIp`, HTTP API `http.sourceIp`), never a forwarding header the client
 * wrote; and a URL signed with a key's secret is served without X-API-Key, as on the server.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createApp } from '../../src/http/app.ts';
import { createLambdaHandler, type HttpApiEvent, type RestApiEvent } from '../../src/lambda.ts';
import { createLogger } from '../../src/log.ts';
import { buildUrl } from '../../src/client/index.ts';
import { accessFixture, type AccessFixture } from './helpers.ts';

let fx: AccessFixture;
let handler: ReturnType<typeof createLambdaHandler>;

function rest(path: string, query: Record<string, string> | null, sourceIp: string, headers: Record<string, string> = {}): RestApiEvent {
  return {
    resource: '/{proxy+}',
    path,
    httpMethod: 'GET',
    headers: { Host: 'api.example', ...headers },
    multiValueHeaders: Object.fromEntries(Object.entries({ Host: 'api.example', ...headers }).map(([k, v]) => [k, [v]])),
    queryStringParameters: query,
    multiValueQueryStringParameters: query && Object.fromEntries(Object.entries(query).map(([k, v]) => [k, [v]])),
    pathParameters: { proxy: path.slice(1) },
    requestContext: { path, stage: '$default', identity: { sourceIp } },
    body: null,
    isBase64Encoded: false,
  } as unknown as RestApiEvent;
}

function httpApi(rawPath: string, rawQueryString: string, sourceIp: string): HttpApiEvent {
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath,
    rawQueryString,
    headers: { host: 'api.example' },
    queryStringParameters: Object.fromEntries(new URLSearchParams(rawQueryString)),
    requestContext: { http: { method: 'GET', path: rawPath, sourceIp }, stage: '$default' },
    isBase64Encoded: false,
  } as unknown as HttpApiEvent;
}

describe('access on Lambda', () => {
  before(async () => {
    fx = await accessFixture();
    handler = createLambdaHandler(() => createApp(fx.config, { logger: createLogger('silent') }));
  });
  after(async () => {
    await fx?.cleanup();
  });

  test('REST: the anonymous quota counts per requestContext.identity.sourceIp; a forged X-Forwarded-For changes nothing', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await handler(rest('/pub/photo.jpg', { w: '8' }, '198.51.100.20', { 'X-Forwarded-For': `192.0.2.${i}` }));
      assert.equal(r.statusCode, 200);
    }
    const over = await handler(rest('/pub/photo.jpg', { w: '8' }, '198.51.100.20', { 'X-Forwarded-For': '192.0.2.99' }));
    assert.equal(over.statusCode, 429);
    // Another caller has its own quota.
    assert.equal((await handler(rest('/pub/photo.jpg', { w: '8' }, '198.51.100.21'))).statusCode, 200);
  });

  test('HTTP API: the address is requestContext.http.sourceIp', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await handler(httpApi('/pub/photo.jpg', 'w=9', '198.51.100.30'))).statusCode, 200);
    assert.equal((await handler(httpApi('/pub/photo.jpg', 'w=9', '198.51.100.30'))).statusCode, 429);
  });

  test("a URL signed with a key's secret is served without X-API-Key", async () => {
    const target = buildUrl('/signed/photo.jpg', { w: 33 }, { signWith: { token: fx.alice.secret, keyId: 'alice' } });
    const q = target.slice(target.indexOf('?') + 1);
    const ok = await handler(httpApi('/signed/photo.jpg', q, '198.51.100.40'));
    assert.equal(ok.statusCode, 200);
    assert.equal((await handler(httpApi('/signed/photo.jpg', q.replace('w=33', 'w=34'), '198.51.100.40'))).statusCode, 403);
  });
});
