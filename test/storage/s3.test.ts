/**
 * The S3 source against a real moto_server: the bytes and headers an S3 original is served
 * with through the whole app, conditional requests answered without GetObject, and the
 * difference between "missing" (404) and "S3 is down or refuses us" (5xx).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateBucketCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import sharp from 'sharp';
import { createApp, type ImagegateApp } from '../../src/http/app.ts';
import { createS3Storage, s3ClientFor } from '../../src/storage/s3.ts';
import { createFsStorage } from '../../src/storage/fs.ts';
import type { Storage } from '../../src/storage/types.ts';
import { ServiceError } from '../../src/errors.ts';
import { createLogger } from '../../src/log.ts';
import { makeImageFolder, testConfig, get, TEST_KEY } from '../helpers/app.ts';
import { createLambdaHandler } from '../../src/lambda.ts';
import { fakeAwsEnv, freePort, requireCommand, startMoto, type RunningService } from '../helpers/services.ts';

const skip = requireCommand('moto_server');

const BUCKET = 'images-bucket';
const PREFIX = 'originals/';
const ROUTE = { match: 'partnerimages/:a/:b/:id.:ext', source: 'partner', key: '{id}.{ext}' };

/** Records the S3 commands a client sends (HeadObject, GetObject, …) and the keys they name, in order. */
function countingClient(endpoint: string): { client: S3Client; calls: string[]; keys: string[] } {
  const client = s3ClientFor({ endpoint, forcePathStyle: true, region: 'us-east-1' });
  const calls: string[] = [];
  const keys: string[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      calls.push(String(context.commandName).replace(/Command$/, ''));
      const key = (args.input as { Key?: string }).Key;
      if (key !== undefined) keys.push(key);
      return next(args);
    },
    { step: 'initialize', name: 'countCommands' },
  );
  return { client, calls, keys };
}

/** A query to moto's IAM API (moto does not check these while auth is off). */
async function iam(endpoint: string, params: Record<string, string>): Promise<string> {
  const res = await fetch(`${endpoint}/`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: 'AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0',
    },
    body: new URLSearchParams({ ...params, Version: '2010-05-08' }).toString(),
  });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  return text;
}

describe('S3 source (moto_server)', { skip }, () => {
  let moto: RunningService;
  let admin: S3Client;
  let folder: Awaited<ReturnType<typeof makeImageFolder>>;
  let jpeg: Buffer;
  let png: Buffer;
  let s3Etag: string;
  let s3LastModified: Date;
  let counted: ReturnType<typeof countingClient>;
  let ig: ImagegateApp;

  const s3Source = () => ({
    type: 's3',
    bucket: BUCKET,
    prefix: PREFIX,
    endpoint: moto.url,
    forcePathStyle: true,
    region: 'us-east-1',
  });
  const config = (extra: Record<string, unknown> = {}) =>
    testConfig(folder.root, {
      server: { cacheControl: 'public, max-age=600' },
      sources: { local: { type: 'fs', root: folder.root }, partner: { ...s3Source(), ...extra } },
      routes: [ROUTE, { match: '*', source: 'local' }],
    });

  before(async () => {
    fakeAwsEnv();
    moto = await startMoto();
    folder = await makeImageFolder();
    admin = new S3Client({ endpoint: moto.url, forcePathStyle: true, region: 'us-east-1' });
    await admin.send(new CreateBucketCommand({ Bucket: BUCKET }));

    const svg = Buffer.from(
      '<svg xmlns="http://www.w3.org/2000/svg" width="320" height="200"><rect width="320" height="200" fill="#2b6cb0"/><circle cx="160" cy="100" r="60" fill="#f6e05e"/></svg>',
    );
    jpeg = await sharp(svg).jpeg({ quality: 80 }).toBuffer();
    png = await sharp({ create: { width: 48, height: 32, channels: 4, background: { r: 200, g: 30, b: 30, alpha: 0.5 } } })
      .png()
      .toBuffer();

    const put = (Key: string, Body: Buffer, extra: Record<string, string> = {}) =>
      admin.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body, ...extra }));
    await put(`${PREFIX}67286576.jpeg`, jpeg);
    // Own metadata: a Cache-Control that must win, and a ContentType that lies about the bytes.
    await put(`${PREFIX}cached.png`, png, { CacheControl: 'public, max-age=31536000, immutable', ContentType: 'text/plain' });
    // A PNG under a .jpeg key: Content-Type comes from the bytes.
    await put(`${PREFIX}liar.jpeg`, png);
    // Outside the prefix: never reachable through the route.
    await put('private/67286576.jpeg', jpeg);
    await put(`${PREFIX}nested/deep.jpeg`, jpeg);
    await put(`${PREFIX}nested/other.jpeg`, png);

    const head = await admin.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `${PREFIX}67286576.jpeg` }));
    s3Etag = head.ETag!;
    s3LastModified = head.LastModified!;

    counted = countingClient(moto.url);
    const cfg = config();
    ig = await createApp(cfg, {
      logger: createLogger('silent'),
      storages: {
        local: createFsStorage(cfg.sources.local as never),
        partner: createS3Storage(cfg.sources.partner as never, counted.client),
      },
    });
  });

  after(async () => {
    admin?.destroy();
    counted?.client.destroy();
    await moto?.stop();
    folder?.cleanup();
  });

  test('200 with the original bytes and headers from S3', async () => {
    const res = await get(ig, 'http://localhost/partnerimages/67/28/67286576.jpeg');
    assert.equal(res.status, 200);
    const body = Buffer.from(await res.arrayBuffer());
    assert.ok(body.equals(jpeg), 'bytes are the original, unchanged');
    assert.equal(res.headers.get('content-type'), 'image/jpeg');
    assert.equal(res.headers.get('content-length'), String(jpeg.length));
    assert.equal(res.headers.get('etag'), s3Etag);
    assert.match(s3Etag, /^"[0-9a-f]{32}"$/);
    assert.equal(res.headers.get('last-modified'), s3LastModified.toUTCString());
    assert.equal(res.headers.get('cache-control'), 'public, max-age=600', 'configured default when the object has none');
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
  });

  test("the object's own Cache-Control wins; its stored ContentType does not beat the bytes", async () => {
    const res = await get(ig, 'http://localhost/partnerimages/x/y/cached.png');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    assert.equal(res.headers.get('content-type'), 'image/png');
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(png));
  });

  test('a source-level cacheControl is used when the object has none, and still loses to the object', async () => {
    const cfg = config({ cacheControl: 'public, max-age=120' });
    const app = await createApp(cfg, { logger: createLogger('silent') });
    const plain = await get(app, 'http://localhost/partnerimages/6/7/67286576.jpeg');
    assert.equal(plain.headers.get('cache-control'), 'public, max-age=120');
    const own = await get(app, 'http://localhost/partnerimages/6/7/cached.png');
    assert.equal(own.headers.get('cache-control'), 'public, max-age=31536000, immutable');
  });

  test('Content-Type is detected from the bytes, not from the key', async () => {
    const res = await get(ig, 'http://localhost/partnerimages/1/2/liar.jpeg');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'image/png');
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(png));
  });

  test('a missing object → 404 with the API Gateway style message', async () => {
    const res = await get(ig, 'http://localhost/partnerimages/1/2/nope.jpeg');
    assert.equal(res.status, 404);
    const body = (await res.json()) as { message: string };
    assert.equal(body.message, 'Invalid image path: partnerimages/1/2/nope.jpeg');
  });

  test('HEAD answers the headers and no body', async () => {
    const res = await get(ig, 'http://localhost/partnerimages/67/28/67286576.jpeg', {}, 'HEAD');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('etag'), s3Etag);
    assert.equal(res.headers.get('content-type'), 'image/jpeg');
    assert.equal(res.headers.get('content-length'), String(jpeg.length));
    assert.equal((await res.arrayBuffer()).byteLength, 0);
  });

  test('If-None-Match with the S3 ETag → 304 with no GetObject', async () => {
    counted.calls.length = 0;
    const res = await get(ig, 'http://localhost/partnerimages/67/28/67286576.jpeg', { 'If-None-Match': s3Etag });
    assert.equal(res.status, 304);
    assert.equal(res.headers.get('etag'), s3Etag);
    assert.equal((await res.arrayBuffer()).byteLength, 0);
    // At most a HeadObject (none if the object's metadata is remembered); never a GetObject.
    assert.deepEqual(counted.calls.filter((c) => c !== 'HeadObject'), [], `calls: ${counted.calls.join(',')}`);

    counted.calls.length = 0;
    const changed = await get(ig, 'http://localhost/partnerimages/67/28/67286576.jpeg', { 'If-None-Match': '"0123"' });
    assert.equal(changed.status, 200, 'another ETag is not a match');
    assert.ok(counted.calls.includes('GetObject'), 'a 200 reads the object (the counter does see GetObject)');
  });

  test('If-Modified-Since at or after Last-Modified → 304 with no GetObject; before it → 200', async () => {
    counted.calls.length = 0;
    const res = await get(ig, 'http://localhost/partnerimages/67/28/67286576.jpeg', {
      'If-Modified-Since': s3LastModified.toUTCString(),
    });
    assert.equal(res.status, 304);
    assert.deepEqual(counted.calls.filter((c) => c !== 'HeadObject'), [], `calls: ${counted.calls.join(',')}`);

    const older = new Date(s3LastModified.getTime() - 3600_000).toUTCString();
    const stale = await get(ig, 'http://localhost/partnerimages/67/28/67286576.jpeg', { 'If-Modified-Since': older });
    assert.equal(stale.status, 200);
  });

  test('S3 keys come only from the route template: hostile paths never reach S3', async () => {
    counted.calls.length = 0;
    // Encoded slashes and backslashes survive URL parsing and are refused outright.
    for (const p of ['partnerimages/a/b/..%2f..%2fprivate%2f67286576.jpeg', 'partnerimages/a/b/%2e%2e%5c67286576.jpeg', 'partnerimages/a/b/x%00.jpeg']) {
      const res = await get(ig, `http://localhost/${p}`);
      assert.equal(res.status, 400, p);
    }
    // Dot segments are resolved by URL parsing before the app sees them; what is left names no S3 key.
    for (const p of ['partnerimages/../private/67286576.jpeg', 'partnerimages/%2e%2e/%2e%2e/private/1/67286576.jpeg']) {
      const res = await get(ig, `http://localhost/${p}`);
      assert.ok(res.status === 400 || res.status === 404, `${p}: ${res.status}`);
    }
    assert.deepEqual(counted.calls, [], 'no S3 request for a hostile path');

    // Through the Lambda adapter the raw path reaches the app unparsed: `..` is a 400 there.
    const lambda = createLambdaHandler(async () => ig);
    for (const p of ['/partnerimages/../private/67286576.jpeg', '/partnerimages/a/../../private/67286576.jpeg', '/partnerimages/%2e%2e/b/c/67286576.jpeg']) {
      const out = await lambda({
        httpMethod: 'GET',
        path: p,
        resource: '/{proxy+}',
        headers: { 'X-API-Key': TEST_KEY },
        pathParameters: { proxy: p.slice(1) },
        requestContext: { stage: 'dev', path: `/dev${p}` },
      });
      assert.equal(out.statusCode, 400, p);
    }
    assert.deepEqual(counted.calls, [], 'no S3 request for a hostile path through Lambda');

    // Captures never cross a `/`: a nested key cannot be named, and extra segments fall to the fs route.
    const extra = await get(ig, 'http://localhost/partnerimages/a/b/nested/deep.jpeg');
    assert.equal(extra.status, 404);
    assert.deepEqual(counted.calls, [], 'the extra-segment path went to the fs route, not to S3');
    counted.keys.length = 0;
    const dotted = await get(ig, 'http://localhost/partnerimages/a/b/nested.deep.jpeg');
    assert.equal(dotted.status, 404);
    assert.ok(counted.keys.length > 0);
    assert.deepEqual(new Set(counted.keys), new Set([`${PREFIX}nested.deep.jpeg`]), 'only the templated key was asked for');
  });

  test('the fs route next to the S3 one still serves local files', async () => {
    const res = await get(ig, 'http://localhost/photo.jpg');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'image/jpeg');
  });

  test('list(prefix) yields keys without the source prefix', async () => {
    const storage = ig.storages.partner;
    const all: string[] = [];
    for await (const k of storage.list!('')) all.push(k);
    assert.deepEqual(all.sort(), ['67286576.jpeg', 'cached.png', 'liar.jpeg', 'nested/deep.jpeg', 'nested/other.jpeg']);
    assert.ok(!all.some((k) => k.startsWith(PREFIX) || k.includes('private')), 'no prefix, nothing outside it');
    const nested: string[] = [];
    for await (const k of storage.list!('nested/')) nested.push(k);
    assert.deepEqual(nested.sort(), ['nested/deep.jpeg', 'nested/other.jpeg']);
  });

  test('list pages through ListObjectsV2 continuation tokens', async () => {
    // Small pages (MaxKeys 2) so that five keys take three pages.
    const client = s3ClientFor({ endpoint: moto.url, forcePathStyle: true, region: 'us-east-1' });
    let pages = 0;
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'ListObjectsV2Command') {
          pages++;
          (args.input as { MaxKeys?: number }).MaxKeys = 2;
        }
        return next(args);
      },
      { step: 'initialize', name: 'smallPages' },
    );
    const storage = createS3Storage({ bucket: BUCKET, prefix: PREFIX, endpoint: moto.url, forcePathStyle: true, region: 'us-east-1', timeoutMs: 10_000 }, client);
    const seen: string[] = [];
    for await (const k of storage.list!('')) seen.push(k);
    client.destroy();
    assert.deepEqual(seen.sort(), ['67286576.jpeg', 'cached.png', 'liar.jpeg', 'nested/deep.jpeg', 'nested/other.jpeg']);
    assert.equal(pages, 3);
  });

  test('storage head/get resolve undefined for a missing key and return meta for a present one', async () => {
    const storage = ig.storages.partner;
    assert.equal(await storage.head('absent.jpeg'), undefined);
    assert.equal(await storage.get('absent.jpeg'), undefined);
    const meta = await storage.head('cached.png');
    assert.equal(meta?.etag, (await admin.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `${PREFIX}cached.png` }))).ETag);
    assert.equal(meta?.size, png.length);
    assert.equal(meta?.cacheControl, 'public, max-age=31536000, immutable');
    assert.equal(meta?.contentType, 'text/plain');
  });

  // HeadObject on a missing bucket is a bodiless 404, indistinguishable from a missing key;
  // GetObject's NoSuchBucket is a 404 too. Neither may turn into "Invalid image path".
  test('a bucket that does not exist is a 5xx, not a 404 (misconfiguration is not a missing image)', async () => {
    const cfg = testConfig(folder.root, {
      sources: { local: { type: 'fs', root: folder.root }, partner: { ...s3Source(), bucket: 'no-such-bucket' } },
      routes: [ROUTE, { match: '*', source: 'local' }],
    });
    const app = await createApp(cfg, { logger: createLogger('silent') });
    const res = await get(app, 'http://localhost/partnerimages/67/28/67286576.jpeg');
    assert.equal(res.status, 502, 'a missing bucket must not look like a missing image');
    assert.equal(((await res.json()) as { code: string }).code, 'source_misconfigured');
    const storage = app.storages.partner;
    for (const op of [() => storage.head('67286576.jpeg'), () => storage.get('67286576.jpeg')]) {
      await assert.rejects(op(), (err: unknown) => err instanceof ServiceError && err.status === 502 && err.code === 'source_misconfigured');
    }
    await assert.rejects(
      (async () => {
        for await (const _ of storage.list!('')) void _;
      })(),
      (err: unknown) => err instanceof ServiceError && err.code === 'source_misconfigured',
    );
  });

  test('S3 unreachable → 503 source_unavailable, never 404', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const cfg = testConfig(folder.root, {
      sources: { local: { type: 'fs', root: folder.root }, partner: { ...s3Source(), endpoint: dead } },
      routes: [ROUTE, { match: '*', source: 'local' }],
    });
    const app = await createApp(cfg, { logger: createLogger('silent') });
    for (const method of ['GET', 'HEAD']) {
      const res = await get(app, 'http://localhost/partnerimages/67/28/67286576.jpeg', {}, method);
      assert.equal(res.status, 503, method);
      if (method === 'GET') {
        const body = (await res.json()) as { code: string; message: string };
        assert.equal(body.code, 'source_unavailable');
        assert.doesNotMatch(body.message, /Invalid image path/);
      }
    }
    // The storage itself rejects with the ServiceError; it does not resolve undefined.
    const storage = createS3Storage({ bucket: BUCKET, prefix: PREFIX, endpoint: dead, forcePathStyle: true, region: 'us-east-1', timeoutMs: 5000 });
    await assert.rejects(storage.get('67286576.jpeg'), (err: unknown) => err instanceof ServiceError && err.status === 503 && err.code === 'source_unavailable');
  });

  test('a slow S3 beyond timeoutMs → 504 source_timeout', async () => {
    // A TCP listener that accepts and never answers.
    const { createServer } = await import('node:net');
    const sockets: import('node:net').Socket[] = [];
    const silent = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as { port: number }).port;
    try {
      const storage = createS3Storage({
        bucket: BUCKET,
        prefix: PREFIX,
        endpoint: `http://127.0.0.1:${port}`,
        forcePathStyle: true,
        region: 'us-east-1',
        timeoutMs: 300,
      });
      await assert.rejects(storage.head('67286576.jpeg'), (err: unknown) => err instanceof ServiceError && err.status === 504 && err.code === 'source_timeout');
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  });

  // Runs last in this suite: it switches moto's IAM enforcement on, then off again.
  test('access denied by IAM → 502 source_denied, never 404', async () => {
    await iam(moto.url, { Action: 'CreateUser', UserName: 'imagegate-denied' });
    const created = await iam(moto.url, { Action: 'CreateAccessKey', UserName: 'imagegate-denied' });
    const accessKeyId = /<AccessKeyId>([^<]+)</.exec(created)![1];
    const secretAccessKey = /<SecretAccessKey>([^<]+)</.exec(created)![1];
    await iam(moto.url, {
      Action: 'PutUserPolicy',
      UserName: 'imagegate-denied',
      PolicyName: 'list-only',
      PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:ListBucket', Resource: '*' }] }),
    });
    const denied = new S3Client({
      endpoint: moto.url,
      forcePathStyle: true,
      region: 'us-east-1',
      credentials: { accessKeyId, secretAccessKey },
      maxAttempts: 1,
    });
    const cfg = config();
    const storage = createS3Storage(cfg.sources.partner as never, denied);
    const app = await createApp(cfg, {
      logger: createLogger('silent'),
      storages: { local: createFsStorage(cfg.sources.local as never), partner: storage },
    });
    const enforce = (count: string) => fetch(`${moto.url}/moto-api/reset-auth`, { method: 'POST', body: count }).then((r) => r.text());
    await enforce('0');
    try {
      const res = await get(app, 'http://localhost/partnerimages/67/28/67286576.jpeg');
      assert.equal(res.status, 502);
      assert.equal(((await res.json()) as { code: string }).code, 'source_denied');
      await assert.rejects(storage.get('67286576.jpeg'), (err: unknown) => err instanceof ServiceError && err.status === 502 && err.code === 'source_denied');
      // Credentials moto does not know at all are refused the same way.
      // (a storage of its own: the app's storages reuse recent metadata for a second)
      const unknownCreds = createS3Storage(cfg.sources.partner as never);
      await assert.rejects(unknownCreds.head('67286576.jpeg'), (err: unknown) => err instanceof ServiceError && err.code === 'source_denied');
    } finally {
      await enforce('inf');
      denied.destroy();
    }
    // Enforcement off again: the normal client is served.
    assert.ok(await ig.storages.partner.head('67286576.jpeg'));
  });
});
