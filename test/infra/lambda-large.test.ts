import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { CreateBucketCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import sharp from 'sharp';
import {
  DEFAULT_MAX_PAYLOAD_BYTES,
  handleLargeResponse,
  payloadBytes,
  wrapLargeResponses,
  type ProxyResult,
} from '../../src/lambda-large.ts';
import { fakeAwsEnv, requireCommand, startMoto, type RunningService } from '../helpers/services.ts';

const skip = requireCommand('moto_server');
const cfg = { largeResponseBucket: 'large-responses-test', largeResponsePrefix: 'big/', largeResponseUrlTtlSeconds: 120 };

/** An incompressible PNG over 4.3 MB: its base64 body alone is over Lambda's 6 MB limit's headroom. */
async function bigPng(): Promise<Buffer> {
  const width = 1300;
  const height = 1200;
  const png = await sharp(randomBytes(width * height * 3), { raw: { width, height, channels: 3 } })
    .png({ compressionLevel: 0 })
    .toBuffer();
  assert.ok(png.length > 4.3 * 1024 * 1024, `fixture is ${png.length} bytes`);
  return png;
}

function imageResult(bytes: Buffer, type = 'image/png'): ProxyResult {
  return {
    statusCode: 200,
    headers: {
      'content-type': type,
      etag: '"abc"',
      'cache-control': 'public, max-age=86400',
      vary: 'Accept',
      'x-request-id': 'req-1',
    },
    body: bytes.toString('base64'),
    isBase64Encoded: true,
  };
}

describe('large Lambda responses (over the 6 MB payload limit)', { skip }, () => {
  let moto: RunningService;
  let s3: S3Client;
  let png: Buffer;

  before(async () => {
    fakeAwsEnv();
    moto = await startMoto();
    s3 = new S3Client({ endpoint: moto.url, forcePathStyle: true, region: 'us-east-1' });
    await s3.send(new CreateBucketCommand({ Bucket: cfg.largeResponseBucket }));
    png = await bigPng();
  });
  after(async () => {
    s3?.destroy();
    await moto?.stop();
  });

  test('a small response is returned unchanged (same object)', async () => {
    const small = imageResult(await sharp({ create: { width: 8, height: 8, channels: 3, background: 'red' } }).png().toBuffer());
    assert.equal(await handleLargeResponse(small, cfg, { s3 }), small);
  });

  test('an oversized image is stored in S3 and answered 307 to a presigned URL that serves the same bytes', async () => {
    const result = imageResult(png);
    assert.ok(payloadBytes(result) > DEFAULT_MAX_PAYLOAD_BYTES);
    const stored: string[] = [];
    const out = await handleLargeResponse(result, cfg, { s3, onStored: (i) => stored.push(i.key) });
    assert.equal(out.statusCode, 307);
    assert.equal(out.body, '');
    assert.equal(out.isBase64Encoded, false);
    assert.equal(out.headers?.['cache-control'], 'no-store');
    assert.equal(out.headers?.etag, undefined, 'the image ETag must not be on the redirect');
    assert.equal(out.headers?.['content-type'], undefined);
    assert.equal(out.headers?.vary, 'Accept');
    assert.equal(out.headers?.['x-request-id'], 'req-1');
    assert.ok(payloadBytes(out) < 8 * 1024);

    const location = String(out.headers?.location);
    const url = new URL(location);
    assert.equal(url.origin, moto.url);
    assert.match(url.pathname, /^\/large-responses-test\/big\/[0-9a-f]{64}\.png$/);
    assert.equal(url.searchParams.get('X-Amz-Expires'), '120');
    assert.ok(url.searchParams.get('X-Amz-Signature'));
    assert.deepEqual(stored, [url.pathname.replace('/large-responses-test/', '')]);

    const res = await fetch(location);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'image/png');
    const fetched = Buffer.from(await res.arrayBuffer());
    assert.ok(fetched.equals(png), 'presigned URL must serve the original bytes');
    const meta = await sharp(fetched).metadata();
    assert.equal(meta.format, 'png');
    assert.equal(meta.width, 1300);
  });

  test('the same bytes are stored under the same content-addressed key', async () => {
    const a = await handleLargeResponse(imageResult(png), cfg, { s3 });
    const b = await handleLargeResponse(imageResult(png), cfg, { s3 });
    assert.equal(new URL(String(a.headers?.location)).pathname, new URL(String(b.headers?.location)).pathname);
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: cfg.largeResponseBucket, Prefix: 'big/' }));
    assert.equal(listed.KeyCount, 1);
  });

  test('multiValueHeaders are rewritten too', async () => {
    const result: ProxyResult = {
      ...imageResult(png),
      headers: undefined,
      multiValueHeaders: { 'content-type': ['image/png'], etag: ['"abc"'], vary: ['Accept'] },
    };
    const out = await handleLargeResponse(result, cfg, { s3 });
    assert.equal(out.statusCode, 307);
    assert.deepEqual(out.multiValueHeaders?.['cache-control'], ['no-store']);
    assert.equal(out.multiValueHeaders?.location?.[0], out.headers?.location);
    assert.equal(out.multiValueHeaders?.etag, undefined);
    assert.deepEqual(out.multiValueHeaders?.vary, ['Accept']);
  });

  test('without a bucket the answer is a 502 response_too_large JSON error, not a Lambda failure', async () => {
    const out = await handleLargeResponse(imageResult(png), { largeResponsePrefix: 'x/', largeResponseUrlTtlSeconds: 60 }, { s3 });
    assert.equal(out.statusCode, 502);
    assert.equal(out.headers?.['content-type'], 'application/json; charset=utf-8');
    assert.equal(out.headers?.['cache-control'], 'no-store');
    const body = JSON.parse(String(out.body));
    assert.equal(body.code, 'response_too_large');
    assert.match(body.message, /6 MB/);
  });

  test('wrapLargeResponses reads a lazily loaded config', async () => {
    let loaded: typeof cfg | undefined;
    const inner = async (event: { path: string }) => {
      loaded = { ...cfg, largeResponsePrefix: 'env/' };
      return event.path === '/big' ? imageResult(png) : imageResult(Buffer.from('tiny'));
    };
    const handler = wrapLargeResponses(inner, () => loaded, { s3 });
    const small = await handler({ path: '/small' });
    assert.equal(small.statusCode, 200);
    assert.equal(small.isBase64Encoded, true);
    const big = await handler({ path: '/big' });
    assert.equal(big.statusCode, 307);
    assert.match(new URL(String(big.headers?.location)).pathname, /^\/large-responses-test\/env\//);
  });

  test('a bucket that cannot be written gives a 502 response_too_large instead of throwing', async () => {
    const handler = wrapLargeResponses(async () => imageResult(png), { ...cfg, largeResponseBucket: 'no-such-bucket-here' }, { s3 });
    const out = await handler({});
    assert.equal(out.statusCode, 502);
    assert.equal(JSON.parse(String(out.body)).code, 'response_too_large');
  });
});
