/**
 * The Lambda adapter with realistic API Gateway events: REST API `{proxy+}` (payload 1.0) and
 * HTTP API / function URL (payload 2.0). The answers must match the Node server's for the same
 * request, binary bodies must come back base64 byte for byte, and the caller's key is read
 * from X-API-Key only — never from `requestContext.identity`.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { createApp } from '../../src/http/app.ts';
import { startServer, type RunningServer } from '../../src/server.ts';
import { createLambdaHandler, handler, type HttpApiEvent, type LambdaResult, type RestApiEvent } from '../../src/lambda.ts';
import { ConfigError } from '../../src/config/load.ts';
import { sha256hex } from '../../src/auth/keys.ts';
import { createLogger } from '../../src/log.ts';
import { makeImageFolder, testConfig, TEST_KEY, OTHER_KEY } from '../helpers/app.ts';

const API_HOST = 'a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com';
const BROWSER_UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36';

/**
 * An API Gateway REST API proxy event (payload 1.0) for resource `/{proxy+}`, shaped like the
 * ones API Gateway sends: `path` without the stage, the stage in `requestContext.stage` and
 * `requestContext.path`, both `headers` and `multiValueHeaders`, query maps null when empty.
 */
function restEvent(
  proxyPath: string,
  opts: {
    method?: string;
    headers?: Record<string, string>;
    query?: Record<string, string[]>;
    stage?: string;
    identityApiKey?: string | null;
    singleHeadersOnly?: boolean;
    multiHeadersOnly?: boolean;
  } = {},
): RestApiEvent {
  const method = opts.method ?? 'GET';
  const stage = opts.stage ?? 'dev';
  const headers: Record<string, string> = {
    Accept: 'image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8',
    'Accept-Encoding': 'gzip, deflate, br',
    'Accept-Language': 'en-GB,en;q=0.9',
    'CloudFront-Forwarded-Proto': 'https',
    'CloudFront-Is-Desktop-Viewer': 'true',
    'CloudFront-Is-Mobile-Viewer': 'false',
    'CloudFront-Viewer-Country': 'GB',
    Host: API_HOST,
    'User-Agent': BROWSER_UA,
    Via: '2.0 5f9d3c1c0e4b6a7d8e9f0a1b2c3d4e5f.cloudfront.net (CloudFront)',
    'X-Amz-Cf-Id': 'Qm2x0hZ8b0dYgk3eVQZKj2xZPZ1S0w3KJ8aQhH2m1x1kq0c5l9z0cA==',
    'X-Amzn-Trace-Id': 'Root=1-67452a1b-5b3f8c7e2d1a0f9e8d7c6b5a',
    'X-Forwarded-For': '203.0.113.10, 130.176.212.5',
    'X-Forwarded-Port': '443',
    'X-Forwarded-Proto': 'https',
    ...opts.headers,
  };
  const multiValueHeaders = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]]));
  const q = opts.query;
  return {
    resource: '/{proxy+}',
    path: proxyPath,
    httpMethod: method,
    headers: opts.multiHeadersOnly ? null : headers,
    multiValueHeaders: opts.singleHeadersOnly ? null : multiValueHeaders,
    queryStringParameters: q ? Object.fromEntries(Object.entries(q).map(([k, vs]) => [k, vs[vs.length - 1]])) : null,
    multiValueQueryStringParameters: q ?? null,
    pathParameters: { proxy: proxyPath.replace(/^\//, '') },
    stageVariables: null,
    requestContext: {
      resourceId: 'x9y8z7',
      resourcePath: '/{proxy+}',
      httpMethod: method,
      extendedRequestId: 'Bx3kLF7aDoEFq0Q=',
      requestTime: '26/Nov/2026:01:02:03 +0000',
      path: `/${stage}${proxyPath}`,
      accountId: '123456789012',
      protocol: 'HTTP/1.1',
      stage,
      domainPrefix: 'a1b2c3d4e5',
      requestTimeEpoch: 1795654923000,
      requestId: '5d3c1f0e-8b2a-4c6d-9e7f-0a1b2c3d4e5f',
      identity: {
        cognitoIdentityPoolId: null,
        cognitoIdentityId: null,
        apiKey: opts.identityApiKey ?? null,
        principalOrgId: null,
        cognitoAuthenticationType: null,
        userArn: null,
        apiKeyId: opts.identityApiKey ? 'k2j3h4g5f6' : null,
        userAgent: BROWSER_UA,
        accountId: null,
        caller: null,
        sourceIp: '203.0.113.10',
        accessKey: null,
        cognitoAuthenticationProvider: null,
        user: null,
      },
      domainName: API_HOST,
      apiId: 'a1b2c3d4e5',
    },
    body: null,
    isBase64Encoded: false,
  } as RestApiEvent;
}

/**
 * An HTTP API (payload 2.0) event: `rawPath` keeps a named stage, `$default` has none;
 * headers are lower-case; `queryStringParameters` joins repeated values with commas.
 */
function httpApiEvent(
  rawPath: string,
  opts: { method?: string; headers?: Record<string, string>; rawQueryString?: string; stage?: string } = {},
): HttpApiEvent {
  const method = opts.method ?? 'GET';
  const stage = opts.stage ?? 'dev';
  const rawQueryString = opts.rawQueryString ?? '';
  const query: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(rawQueryString)) query[k] = k in query ? `${query[k]},${v}` : v;
  const routeKey = stage === '$default' ? '$default' : 'ANY /{proxy+}';
  return {
    version: '2.0',
    routeKey,
    rawPath,
    rawQueryString,
    headers: {
      accept: 'image/avif,image/webp,*/*',
      'accept-encoding': 'gzip, deflate, br',
      'content-length': '0',
      host: API_HOST,
      'user-agent': BROWSER_UA,
      'x-amzn-trace-id': 'Root=1-67452a1b-1c2d3e4f5a6b7c8d9e0f1a2b',
      'x-forwarded-for': '203.0.113.10',
      'x-forwarded-port': '443',
      'x-forwarded-proto': 'https',
      ...opts.headers,
    },
    ...(rawQueryString ? { queryStringParameters: query } : {}),
    ...(stage === '$default' ? {} : { pathParameters: { proxy: rawPath.replace(`/${stage}/`, '') } }),
    requestContext: {
      accountId: '123456789012',
      apiId: 'a1b2c3d4e5',
      domainName: API_HOST,
      domainPrefix: 'a1b2c3d4e5',
      http: { method, path: rawPath, protocol: 'HTTP/1.1', sourceIp: '203.0.113.10', userAgent: BROWSER_UA },
      requestId: 'JKJaXmPLvHcESHA=',
      routeKey,
      stage,
      time: '26/Nov/2026:01:02:03 +0000',
      timeEpoch: 1795654923000,
    },
    isBase64Encoded: false,
  } as HttpApiEvent;
}

type Invoke = (event: RestApiEvent | HttpApiEvent) => Promise<LambdaResult>;

/** The handler's answer, checked to be a complete proxy result with string headers. */
function asResult(r: Awaited<ReturnType<ReturnType<typeof createLambdaHandler>>>): LambdaResult {
  assert.equal(typeof r.body, 'string', 'body is always a string');
  assert.equal(typeof r.isBase64Encoded, 'boolean', 'isBase64Encoded is always set');
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(r.headers ?? {})) headers[k] = String(v);
  return { statusCode: r.statusCode, headers, body: r.body!, isBase64Encoded: r.isBase64Encoded! };
}
const invoker = (h: ReturnType<typeof createLambdaHandler>): Invoke => async (event) => asResult(await h(event));
const deployed = invoker(handler);

function decoded(r: LambdaResult): Buffer {
  assert.equal(r.isBase64Encoded, true, 'a binary body is base64');
  return Buffer.from(r.body, 'base64');
}

/** Headers that legitimately differ between two answers to the same request. */
const PER_RESPONSE = new Set(['date', 'connection', 'keep-alive', 'x-request-id', 'transfer-encoding']);
function stable(h: Record<string, string> | Headers): Record<string, string> {
  const out: Record<string, string> = {};
  const entries = h instanceof Headers ? [...h.entries()] : Object.entries(h);
  for (const [k, v] of entries) if (!PER_RESPONSE.has(k.toLowerCase())) out[k.toLowerCase()] = v;
  return out;
}

describe('Lambda adapter: createLambdaHandler', () => {
  let folder: Awaited<ReturnType<typeof makeImageFolder>>;
  let lambda: Invoke;
  let server: RunningServer;
  let photo: Buffer;
  let created = 0;

  before(async () => {
    folder = await makeImageFolder();
    photo = readFileSync(path.join(folder.root, 'photo.jpg'));
    // Names that need percent-encoding in a URL.
    writeFileSync(path.join(folder.root, 'my photo.jpg'), photo);
    writeFileSync(path.join(folder.root, '100%.png'), readFileSync(path.join(folder.root, 'alpha.png')));
    writeFileSync(path.join(folder.root, 'café.png'), readFileSync(path.join(folder.root, 'alpha.png')));
    const config = testConfig(folder.root, { server: { basePath: '/dev', cacheControl: 'public, max-age=600' } });
    lambda = invoker(
      createLambdaHandler(() => {
        created++;
        return createApp(config, { logger: createLogger('silent') });
      }),
    );
    server = await startServer(config, { port: 0, host: '127.0.0.1' }, { logger: createLogger('silent') });
  });
  after(async () => {
    await server?.close();
    folder?.cleanup();
  });

  describe('REST API {proxy+} (payload 1.0)', () => {
    test('200: base64 body is the original byte for byte, headers as the Node server sends them', async () => {
      const r = await lambda(restEvent('/photo.jpg', { headers: { 'X-API-Key': TEST_KEY } }));
      assert.equal(r.statusCode, 200);
      assert.ok(decoded(r).equals(photo));
      assert.equal(r.headers['content-type'], 'image/jpeg');
      assert.equal(r.headers['content-length'], String(photo.length));
      assert.equal(r.headers['cache-control'], 'public, max-age=600');
      assert.equal(r.headers['x-content-type-options'], 'nosniff');
      assert.match(r.headers.etag, /^".+"$/);
      assert.ok(Date.parse(r.headers['last-modified']) > 0);

      const res = await fetch(`${server.url}/dev/photo.jpg`, { headers: { 'X-API-Key': TEST_KEY } });
      assert.equal(res.status, 200);
      assert.ok(Buffer.from(await res.arrayBuffer()).equals(photo));
      assert.deepEqual(stable(r.headers), stable(res.headers));
    });

    test('every image type comes back base64 and byte-identical', async () => {
      for (const name of ['alpha.png', 'anim.gif', 'sub/inner.webp', 'liar.jpeg', 'notes.txt']) {
        const r = await lambda(restEvent(`/${name}`, { headers: { 'X-API-Key': TEST_KEY } }));
        assert.equal(r.statusCode, 200, name);
        assert.ok(decoded(r).equals(readFileSync(path.join(folder.root, name))), name);
        const res = await fetch(`${server.url}/dev/${name}`, { headers: { 'X-API-Key': TEST_KEY } });
        await res.arrayBuffer();
        assert.deepEqual(stable(r.headers), stable(res.headers), name);
      }
      const liar = await lambda(restEvent('/liar.jpeg', { headers: { 'X-API-Key': TEST_KEY } }));
      assert.equal(liar.headers['content-type'], 'image/png');
    });

    test('the key is read from headers or multiValueHeaders, any case', async () => {
      for (const ev of [
        restEvent('/photo.jpg', { headers: { 'x-api-key': TEST_KEY } }),
        restEvent('/photo.jpg', { headers: { 'X-Api-Key': OTHER_KEY }, multiHeadersOnly: true }),
        restEvent('/photo.jpg', { headers: { 'X-API-Key': TEST_KEY }, singleHeadersOnly: true }),
      ]) {
        const r = await lambda(ev);
        assert.equal(r.statusCode, 200);
        assert.ok(decoded(r).equals(photo));
      }
    });

    test('no key, a wrong key → 403 {"message":"Forbidden"}, as plain JSON', async () => {
      for (const headers of [{} as Record<string, string>, { 'X-API-Key': 'wrong' }, { 'X-API-Key': `${TEST_KEY}x` }, { 'X-API-Key': TEST_KEY.slice(1) }, { 'X-API-Key': sha256hex(TEST_KEY) }]) {
        const r = await lambda(restEvent('/photo.jpg', { headers }));
        assert.equal(r.statusCode, 403);
        assert.equal(r.isBase64Encoded, false);
        assert.deepEqual(JSON.parse(r.body), { message: 'Forbidden' });
        assert.match(r.headers['content-type'], /^application\/json/);
      }
    });

    test('requestContext.identity.apiKey is never trusted', async () => {
      const r = await lambda(restEvent('/photo.jpg', { identityApiKey: TEST_KEY }));
      assert.equal(r.statusCode, 403);
      assert.deepEqual(JSON.parse(r.body), { message: 'Forbidden' });
      const wrongHeader = await lambda(restEvent('/photo.jpg', { identityApiKey: TEST_KEY, headers: { 'X-API-Key': 'wrong' } }));
      assert.equal(wrongHeader.statusCode, 403);
      // With the header present, identity.apiKey changes nothing.
      const ok = await lambda(restEvent('/photo.jpg', { identityApiKey: 'something-else', headers: { 'X-API-Key': TEST_KEY } }));
      assert.equal(ok.statusCode, 200);
    });

    test('the key in the query string is not accepted', async () => {
      for (const name of ['api_key', 'x-api-key', 'apiKey', 'key']) {
        const r = await lambda(restEvent('/photo.jpg', { query: { [name]: [TEST_KEY] } }));
        assert.equal(r.statusCode, 403, name);
      }
    });

    test('missing object → 404 JSON, not base64, with the path named', async () => {
      const r = await lambda(restEvent('/nope/missing.jpg', { headers: { 'X-API-Key': TEST_KEY } }));
      assert.equal(r.statusCode, 404);
      assert.equal(r.isBase64Encoded, false);
      assert.equal(JSON.parse(r.body).message, 'Invalid image path: nope/missing.jpg');
      const res = await fetch(`${server.url}/dev/nope/missing.jpg`, { headers: { 'X-API-Key': TEST_KEY } });
      assert.equal(res.status, 404);
      assert.deepEqual(JSON.parse(r.body), await res.json());
    });

    test('HEAD → headers, empty body, not base64', async () => {
      const r = await lambda(restEvent('/photo.jpg', { method: 'HEAD', headers: { 'X-API-Key': TEST_KEY } }));
      assert.equal(r.statusCode, 200);
      assert.equal(r.body, '');
      assert.equal(r.isBase64Encoded, false);
      assert.equal(r.headers['content-type'], 'image/jpeg');
      assert.equal(r.headers['content-length'], String(photo.length));
      const get = await lambda(restEvent('/photo.jpg', { headers: { 'X-API-Key': TEST_KEY } }));
      assert.equal(r.headers.etag, get.headers.etag);
    });

    test('If-None-Match → 304 with an empty body', async () => {
      const first = await lambda(restEvent('/photo.jpg', { headers: { 'X-API-Key': TEST_KEY } }));
      const r = await lambda(restEvent('/photo.jpg', { headers: { 'X-API-Key': TEST_KEY, 'If-None-Match': first.headers.etag } }));
      assert.equal(r.statusCode, 304);
      assert.equal(r.body, '');
      assert.equal(r.isBase64Encoded, false);
      assert.equal(r.headers.etag, first.headers.etag);
    });

    test('query parameters reach the app (multiValueQueryStringParameters)', async () => {
      const r = await lambda(restEvent('/photo.jpg', { headers: { 'X-API-Key': TEST_KEY }, query: { w: ['64'], fm: ['png'] } }));
      assert.equal(r.statusCode, 200);
      const meta = await sharp(decoded(r)).metadata();
      assert.equal(meta.format, 'png');
      assert.equal(meta.width, 64);
      assert.equal(r.headers['content-type'], 'image/png');
    });

    test('hostile paths → 400, never a file', async () => {
      for (const p of ['/../photo.jpg', '/sub/../../etc/passwd', '/%2e%2e/photo.jpg', '/sub%2finner.webp', '/sub\\inner.webp', '/photo.jpg%00.png']) {
        const r = await lambda(restEvent(p, { headers: { 'X-API-Key': TEST_KEY } }));
        assert.equal(r.statusCode, 400, p);
        assert.equal(r.isBase64Encoded, false, p);
      }
    });

    test('other methods → 405; /_health answers without a key', async () => {
      const post = await lambda(restEvent('/photo.jpg', { method: 'POST', headers: { 'X-API-Key': TEST_KEY } }));
      assert.equal(post.statusCode, 405);
      assert.match(post.headers.allow, /GET/);
      const health = await lambda(restEvent('/_health'));
      assert.equal(health.statusCode, 200);
      assert.equal(health.isBase64Encoded, false);
      assert.equal(JSON.parse(health.body).status, 'ok');
    });
  });

  describe('HTTP API / function URL (payload 2.0)', () => {
    test('named stage in rawPath → 200, base64 body byte for byte, same headers as the server', async () => {
      const r = await lambda(httpApiEvent('/dev/photo.jpg', { headers: { 'x-api-key': TEST_KEY } }));
      assert.equal(r.statusCode, 200);
      assert.ok(decoded(r).equals(photo));
      const res = await fetch(`${server.url}/dev/photo.jpg`, { headers: { 'X-API-Key': TEST_KEY } });
      await res.arrayBuffer();
      assert.deepEqual(stable(r.headers), stable(res.headers));
      assert.equal(r.headers['x-content-type-options'], 'nosniff');
      assert.equal(r.headers['cache-control'], 'public, max-age=600');
    });

    test('$default stage (and function URLs): rawPath has no stage', async () => {
      const r = await lambda(httpApiEvent('/sub/inner.webp', { stage: '$default', headers: { 'x-api-key': TEST_KEY } }));
      assert.equal(r.statusCode, 200);
      assert.equal(r.headers['content-type'], 'image/webp');
      assert.ok(decoded(r).equals(readFileSync(path.join(folder.root, 'sub/inner.webp'))));
    });

    test('rawQueryString reaches the app as sent', async () => {
      const r = await lambda(httpApiEvent('/dev/alpha.png', { rawQueryString: 'w=50&fm=webp', headers: { 'x-api-key': TEST_KEY } }));
      assert.equal(r.statusCode, 200);
      const meta = await sharp(decoded(r)).metadata();
      assert.equal(meta.format, 'webp');
      assert.equal(meta.width, 50);
    });

    test('403 without the header, 404 as JSON, HEAD without a body', async () => {
      const none = await lambda(httpApiEvent('/dev/photo.jpg'));
      assert.equal(none.statusCode, 403);
      assert.deepEqual(JSON.parse(none.body), { message: 'Forbidden' });
      const missing = await lambda(httpApiEvent('/dev/missing.png', { headers: { 'x-api-key': TEST_KEY } }));
      assert.equal(missing.statusCode, 404);
      assert.equal(missing.isBase64Encoded, false);
      assert.equal(JSON.parse(missing.body).message, 'Invalid image path: missing.png');
      const head = await lambda(httpApiEvent('/dev/anim.gif', { method: 'HEAD', headers: { 'x-api-key': TEST_KEY } }));
      assert.equal(head.statusCode, 200);
      assert.equal(head.body, '');
      assert.equal(head.headers['content-type'], 'image/gif');
    });

    test('hostile raw paths → 400, double-encoded ones never reach a file outside the root', async () => {
      // HTTP API decodes the path before the function sees it: these are what `..`, `\\` and NUL arrive as.
      for (const p of ['/dev/../photo.jpg', '/dev/sub/../../photo.jpg', '/dev/sub\\inner.webp', '/dev/photo.jpg\u0000.png']) {
        const r = await lambda(httpApiEvent(p, { headers: { 'x-api-key': TEST_KEY } }));
        assert.equal(r.statusCode, 400, JSON.stringify(p));
      }
      // A client that double-encodes (`%252e%252e`) gets `%2e%2e` in rawPath: never a traversal.
      for (const p of ['/dev/sub/%2e%2e/%2e%2e/photo.jpg', '/dev/sub%2Finner.webp', '/dev/%2e%2e%5cphoto.jpg']) {
        const r = await lambda(httpApiEvent(p, { headers: { 'x-api-key': TEST_KEY } }));
        assert.ok(r.statusCode === 400 || r.statusCode === 404, `${p}: ${r.statusCode}`);
      }
    });
  });

  describe('names that need percent-encoding', () => {
    const cases = [
      { file: 'my photo.jpg', encoded: 'my%20photo.jpg' },
      { file: 'café.png', encoded: 'caf%C3%A9.png' },
      { file: '100%.png', encoded: '100%25.png' },
    ];

    test('REST API: `path` arrives percent-encoded, as the client sent it', async () => {
      for (const { file, encoded } of cases) {
        const r = await lambda(restEvent(`/${encoded}`, { headers: { 'X-API-Key': TEST_KEY } }));
        assert.equal(r.statusCode, 200, file);
        assert.ok(decoded(r).equals(readFileSync(path.join(folder.root, file))), file);
        const res = await fetch(`${server.url}/dev/${encoded}`, { headers: { 'X-API-Key': TEST_KEY } });
        assert.equal(res.status, 200, `node server: ${file}`);
        await res.arrayBuffer();
        assert.deepEqual(stable(r.headers), stable(res.headers), file);
      }
    });

    test('function URL: `rawPath` arrives percent-encoded', async () => {
      for (const { file, encoded } of cases) {
        const ev = httpApiEvent(`/dev/${encoded}`, { stage: '$default', headers: { 'x-api-key': TEST_KEY, host: 'abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-west-1.on.aws' } });
        ev.requestContext.domainName = 'abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-west-1.on.aws';
        ev.requestContext.apiId = 'abcdefghijklmnopqrstuvwxyz012345';
        const r = await lambda(ev);
        assert.equal(r.statusCode, 200, file);
        assert.ok(decoded(r).equals(readFileSync(path.join(folder.root, file))), file);
      }
    });

    // API Gateway HTTP APIs hand `rawPath` over already percent-decoded (a client's
    // `/dev/100%25.png` arrives as `/dev/100%.png`); the app must still decode exactly once.
    test('HTTP API: `rawPath` arrives percent-decoded and still names the same file', async () => {
      for (const { file } of cases) {
        const r = await lambda(httpApiEvent(`/dev/${file}`, { headers: { 'x-api-key': TEST_KEY } }));
        assert.equal(r.statusCode, 200, `${file}: ${r.body.slice(0, 200)}`);
        assert.ok(decoded(r).equals(readFileSync(path.join(folder.root, file))), file);
      }
    });
  });

  test('the app is created once and reused across invocations', () => {
    assert.equal(created, 1);
  });
});

describe('Lambda adapter: stage handling without a configured base path', () => {
  let folder: Awaited<ReturnType<typeof makeImageFolder>>;
  let lambda: Invoke;
  before(async () => {
    folder = await makeImageFolder();
    const config = testConfig(folder.root);
    lambda = invoker(createLambdaHandler(() => createApp(config, { logger: createLogger('silent') })));
  });
  after(() => folder?.cleanup());

  test('a named HTTP API stage is stripped from rawPath; under $default the same path is an image path', async () => {
    const named = await lambda(httpApiEvent('/v1/photo.jpg', { stage: 'v1', headers: { 'x-api-key': TEST_KEY } }));
    assert.equal(named.statusCode, 200);
    const dflt = await lambda(httpApiEvent('/v1/photo.jpg', { stage: '$default', headers: { 'x-api-key': TEST_KEY } }));
    assert.equal(dflt.statusCode, 404);
    assert.equal(JSON.parse(dflt.body).message, 'Invalid image path: v1/photo.jpg');
  });

  test('a stage name that is only a prefix of the first segment is not stripped', async () => {
    const r = await lambda(httpApiEvent('/devices/photo.jpg', { stage: 'dev', headers: { 'x-api-key': TEST_KEY } }));
    assert.equal(r.statusCode, 404);
    assert.equal(JSON.parse(r.body).message, 'Invalid image path: devices/photo.jpg');
  });

  test('REST: the stage is never part of path, so any stage serves the same object', async () => {
    for (const stage of ['dev', 'prod', 'alice']) {
      const r = await lambda(restEvent('/photo.jpg', { stage, headers: { 'X-API-Key': TEST_KEY } }));
      assert.equal(r.statusCode, 200, stage);
    }
  });
});

describe('Lambda adapter: the exported handler reads IMAGEGATE_CONFIG', () => {
  const VAR = 'IMAGEGATE_TEST_LAMBDA_KEY';
  const LAMBDA_KEY = 'lambda-key-Hq2Wn8Rt5Yv1Zx4Cb7Mk0Pd';
  let folder: Awaited<ReturnType<typeof makeImageFolder>>;
  let dir: string;
  let file: string;
  const saved = { config: process.env.IMAGEGATE_CONFIG, key: process.env[VAR] };

  before(async () => {
    folder = await makeImageFolder();
    dir = mkdtempSync(path.join(tmpdir(), 'imagegate-lambda-'));
    file = path.join(dir, 'imagegate.yaml');
    process.env[VAR] = LAMBDA_KEY;
  });
  after(() => {
    for (const [k, v] of [['IMAGEGATE_CONFIG', saved.config], [VAR, saved.key]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    rmSync(dir, { recursive: true, force: true });
    folder?.cleanup();
  });

  test('a missing config file fails the invocation with a ConfigError; a later invocation retries', async () => {
    process.env.IMAGEGATE_CONFIG = file;
    await assert.rejects(deployed(restEvent('/photo.jpg', { headers: { 'X-API-Key': TEST_KEY } })), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.ok(err.message.includes(file));
      return true;
    });

    // The fs root is relative to the config file's folder, not to the working directory.
    writeFileSync(
      file,
      [
        'server:',
        '  logLevel: silent',
        '  cacheControl: "public, max-age=300"',
        'sources:',
        `  local: { type: fs, root: ${JSON.stringify(path.relative(dir, folder.root))} }`,
        'routes:',
        '  - { match: "originals/*", source: local, key: "{*}" }',
        'keys:',
        `  - { id: test, sha256: "${sha256hex(TEST_KEY)}" }`,
        `  - { id: ci, valueFromEnv: ${VAR} }`,
        '',
      ].join('\n'),
    );
    const r = await deployed(restEvent('/originals/photo.jpg', { headers: { 'X-API-Key': TEST_KEY } }));
    assert.equal(r.statusCode, 200);
    assert.ok(decoded(r).equals(readFileSync(path.join(folder.root, 'photo.jpg'))));
    assert.equal(r.headers['content-type'], 'image/jpeg');
    assert.equal(r.headers['cache-control'], 'public, max-age=300');
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
  });

  test('REST and HTTP API events through the deployed handler', async () => {
    const png = readFileSync(path.join(folder.root, 'alpha.png'));
    const rest = await deployed(restEvent('/originals/alpha.png', { stage: 'prod', headers: { 'X-API-Key': LAMBDA_KEY } }));
    assert.equal(rest.statusCode, 200);
    assert.ok(decoded(rest).equals(png));
    assert.equal(rest.headers['content-type'], 'image/png');
    assert.equal(rest.headers['content-length'], String(png.length));

    const v2 = await deployed(httpApiEvent('/prod/originals/alpha.png', { stage: 'prod', headers: { 'x-api-key': LAMBDA_KEY } }));
    assert.equal(v2.statusCode, 200);
    assert.ok(decoded(v2).equals(png));
    assert.deepEqual(stable(v2.headers), stable(rest.headers));

    const dflt = await deployed(httpApiEvent('/originals/sub/inner.webp', { stage: '$default', headers: { 'x-api-key': TEST_KEY } }));
    assert.equal(dflt.statusCode, 200);
    assert.ok(decoded(dflt).equals(readFileSync(path.join(folder.root, 'sub/inner.webp'))));
  });

  test('the deployed handler refuses identity.apiKey and wrong keys, and answers 404 as JSON', async () => {
    const identity = await deployed(restEvent('/originals/photo.jpg', { identityApiKey: LAMBDA_KEY }));
    assert.equal(identity.statusCode, 403);
    assert.deepEqual(JSON.parse(identity.body), { message: 'Forbidden' });
    const wrong = await deployed(httpApiEvent('/dev/originals/photo.jpg', { headers: { 'x-api-key': `${LAMBDA_KEY}0` } }));
    assert.equal(wrong.statusCode, 403);
    const unrouted = await deployed(restEvent('/elsewhere/photo.jpg', { headers: { 'X-API-Key': LAMBDA_KEY } }));
    assert.equal(unrouted.statusCode, 404);
    assert.equal(unrouted.isBase64Encoded, false);
    assert.equal(JSON.parse(unrouted.body).message, 'Invalid image path: elsewhere/photo.jpg');
    const head = await deployed(restEvent('/originals/photo.jpg', { method: 'HEAD', headers: { 'X-API-Key': LAMBDA_KEY } }));
    assert.equal(head.statusCode, 200);
    assert.equal(head.body, '');
  });
});
