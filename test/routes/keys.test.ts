/**
 * Paths and object keys through the whole app: the reserved `/_` prefix cannot be reached by
 * doubling the leading slash (Node server and Lambda alike), and a key template that builds a
 * key with a `..`, `.` or empty segment is refused the same way for fs, S3 and HTTP sources.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { ImagegateApp } from '../../src/http/app.ts';
import { createLambdaHandler, type LambdaResult } from '../../src/lambda.ts';
import { makeImageFolder, testApp, get, TEST_KEY } from '../helpers/app.ts';
import { fakeAwsEnv, requireCommand, startMoto, type RunningService } from '../helpers/services.ts';

const codeOf = async (res: Response) => ((await res.json()) as { code?: string }).code;

describe('a doubled leading slash does not reach the reserved /_ prefix', () => {
  let folder: Awaited<ReturnType<typeof makeImageFolder>>;
  let ig: ImagegateApp;
  before(async () => {
    folder = await makeImageFolder();
    copyFileSync(path.join(folder.root, 'photo.jpg'), path.join(folder.root, '_private.jpg'));
    ig = await testApp(folder.root);
  });
  after(async () => {
    await ig.close();
    folder.cleanup();
  });

  test('Node server: //_private.jpg and //photo.jpg are 400 invalid_path, /photo.jpg is served', async () => {
    for (const target of ['//_private.jpg', '///_private.jpg', '//photo.jpg', '//%5Fprivate.jpg']) {
      const res = await get(ig, target);
      assert.equal(res.status, 400, target);
      assert.equal(await codeOf(res), 'invalid_path', target);
    }
    assert.equal((await get(ig, '/_private.jpg')).status, 404);
    assert.equal((await get(ig, '/photo.jpg')).status, 200);
  });

  test('Lambda (REST and HTTP API events): the same answers', async () => {
    const handler = createLambdaHandler(async () => ig);
    const rest = (p: string) =>
      handler({ httpMethod: 'GET', path: p, headers: { 'X-API-Key': TEST_KEY }, requestContext: { stage: 'prod' } }) as Promise<LambdaResult>;
    const httpApi = (p: string) =>
      handler({
        version: '2.0',
        rawPath: p,
        rawQueryString: '',
        headers: { 'x-api-key': TEST_KEY },
        requestContext: { stage: '$default', domainName: 'abc.execute-api.eu-west-1.amazonaws.com', http: { method: 'GET', path: p } },
      }) as Promise<LambdaResult>;
    for (const invoke of [rest, httpApi]) {
      const bad = await invoke('//_private.jpg');
      assert.equal(bad.statusCode, 400);
      assert.equal(JSON.parse(bad.body).code, 'invalid_path');
      assert.equal((await invoke('/photo.jpg')).statusCode, 200);
    }
  });
});

describe('a key template cannot build a key with . or .. segments, for any source kind', { skip: requireCommand('moto_server') }, () => {
  let folder: Awaited<ReturnType<typeof makeImageFolder>>;
  let moto: RunningService;
  let origin: http.Server;
  let ig: ImagegateApp;
  const originPaths: string[] = [];

  before(async () => {
    fakeAwsEnv();
    folder = await makeImageFolder();
    const jpeg = readFileSync(path.join(folder.root, 'photo.jpg'));
    moto = await startMoto();
    const s3 = new S3Client({ endpoint: moto.url, forcePathStyle: true, region: 'us-east-1' });
    await s3.send(new CreateBucketCommand({ Bucket: 'images' }));
    // Outside the source's prefix: what `originals/../main.jpg` would name if a store normalised it.
    await s3.send(new PutObjectCommand({ Bucket: 'images', Key: 'main.jpg', Body: jpeg }));
    await s3.send(new PutObjectCommand({ Bucket: 'images', Key: 'originals/main.jpg', Body: jpeg }));
    s3.destroy();
    origin = http.createServer((req, res) => {
      originPaths.push(req.url ?? '');
      res.writeHead(200, { 'content-type': 'image/jpeg' }).end(jpeg);
    });
    await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
    const port = (origin.address() as AddressInfo).port;
    const s3Source = { type: 's3', bucket: 'images', prefix: 'originals/', endpoint: moto.url, forcePathStyle: true, region: 'us-east-1' };
    ig = await testApp(folder.root, {
      sources: {
        local: { type: 'fs', root: path.join(folder.root, 'sub') },
        bucket: s3Source,
        web: { type: 'http', baseUrl: `http://127.0.0.1:${port}/img/`, allowPrivateNetworks: true },
      },
      // `:dir-:file` can capture `..` (or `.`) inside one ordinary path segment.
      routes: [
        { match: 'fs/:dir-:file', source: 'local', key: '{dir}/{file}' },
        { match: 's3/:dir-:file', source: 'bucket', key: '{dir}/{file}' },
        { match: 'web/:dir-:file', source: 'web', key: '{dir}/{file}' },
        { match: 's3flat/:name', source: 'bucket', key: '{name}' },
      ],
    });
  });
  after(async () => {
    await ig?.close();
    await new Promise<void>((r) => origin?.close(() => r()));
    await moto?.stop();
    folder?.cleanup();
  });

  test('.. and . captures are 400 invalid_path for fs, s3 and http; nothing is asked of a source', async () => {
    for (const kind of ['fs', 's3', 'web']) {
      for (const target of [`/${kind}/..-photo.jpg`, `/${kind}/..-main.jpg`, `/${kind}/.-main.jpg`]) {
        const res = await get(ig, target);
        assert.equal(res.status, 400, target);
        assert.equal(await codeOf(res), 'invalid_path', target);
      }
    }
    assert.deepEqual(originPaths, []);
  });

  test('ordinary keys from the same templates are served', async () => {
    assert.equal((await get(ig, '/s3flat/main.jpg')).status, 200);
    assert.equal((await get(ig, '/web/a-b.jpg')).status, 200);
    assert.ok(originPaths.length > 0 && originPaths.every((p) => p === '/img/a/b.jpg'), originPaths.join(' '));
  });
});
