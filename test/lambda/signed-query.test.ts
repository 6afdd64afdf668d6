/**
 * API Gateway REST (payload 1.0) hands over parsed parameters only, so the adapter offers the
 * usual spellings of the query and a signature may match any one. The query that is rendered
 * must be the one that was verified: an attacker who folds `w=100&mark` into one parameter name
 * (`?w%3D100%26mark=%2Fopen%2Falpha.png&s=S`) must not get the original stripped of them.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { createApp } from '../../src/http/app.ts';
import { createLambdaHandler, type RestApiEvent } from '../../src/lambda.ts';
import { createLogger } from '../../src/log.ts';
import { signTarget } from '../../src/request/signature.ts';
import { makeImageFolder, testConfig, TEST_KEY } from '../helpers/app.ts';

const TOKEN = 'lambda-sign-token-93b1c0d2e4f5';

function restEvent(proxyPath: string, multi: Record<string, string[]>): RestApiEvent {
  return {
    httpMethod: 'GET',
    path: proxyPath,
    resource: '/{proxy+}',
    headers: { 'X-API-Key': TEST_KEY, Host: 'example.execute-api.eu-west-1.amazonaws.com' },
    multiValueHeaders: { 'X-API-Key': [TEST_KEY] },
    queryStringParameters: Object.fromEntries(Object.entries(multi).map(([k, v]) => [k, v.at(-1)])),
    multiValueQueryStringParameters: multi,
    pathParameters: { proxy: proxyPath.slice(1) },
    requestContext: { stage: 'dev', path: `/dev${proxyPath}` },
    body: null,
    isBase64Encoded: false,
  };
}

describe('Lambda REST: the verified query is the rendered query', () => {
  let folder: Awaited<ReturnType<typeof makeImageFolder>>;
  let handler: ReturnType<typeof createLambdaHandler>;
  before(async () => {
    folder = await makeImageFolder();
    const config = testConfig(folder.root, {
      sources: { signed: { type: 'fs', root: folder.root, signing: { token: TOKEN } }, open: { type: 'fs', root: folder.root } },
      routes: [
        { match: 'signed/*', source: 'signed', key: '{*}' },
        { match: 'open/*', source: 'open', key: '{*}' },
      ],
    });
    handler = createLambdaHandler(() => createApp(config, { logger: createLogger('silent') }));
  });
  after(() => folder.cleanup());

  const width = async (r: { body?: string }) => (await sharp(Buffer.from(r.body ?? '', 'base64')).metadata()).width;

  test('folding signed parameters into one name does not strip them', async () => {
    // Signed as written: ?w=100&mark=/open/alpha.png&s=S (the client sends `/` unencoded).
    const signed = signTarget('/dev/signed/photo.jpg?w=100&mark=/open/alpha.png', TOKEN);
    const s = /s=([0-9a-f]{32})$/.exec(signed)![1]!;
    const honest = await handler(restEvent('/signed/photo.jpg', { w: ['100'], mark: ['/open/alpha.png'], s: [s] }));
    assert.equal(honest.statusCode, 200);
    assert.equal(await width(honest), 100);
    // The attack: ?w%3D100%26mark=%2Fopen%2Falpha.png&s=S → one parameter named `w=100&mark`.
    const folded = await handler(restEvent('/signed/photo.jpg', { 'w=100&mark': ['/open/alpha.png'], s: [s] }));
    if (folded.statusCode === 200) {
      assert.equal(await width(folded), 100, 'the render is the signed one, not the original');
      assert.equal(folded.body, honest.body, 'byte for byte what was signed');
    } else {
      assert.equal(folded.statusCode, 403);
    }
  });

  test('a signature over the encoded spelling still verifies, and renders what it covers', async () => {
    const signed = signTarget(`/dev/signed/photo.jpg?w=80&txt=${encodeURIComponent('a, b')}`, TOKEN);
    const s = /s=([0-9a-f]{32})$/.exec(signed)![1]!;
    const res = await handler(restEvent('/signed/photo.jpg', { w: ['80'], txt: ['a, b'], s: [s] }));
    assert.equal(res.statusCode, 200);
    assert.equal(await width(res), 80);
    const tampered = await handler(restEvent('/signed/photo.jpg', { w: ['81'], txt: ['a, b'], s: [s] }));
    assert.equal(tampered.statusCode, 403);
  });
});
