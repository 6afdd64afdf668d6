import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CreateBucketCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import sharp from 'sharp';
import { createResultCache, type CachedResult } from '../../src/cache/index.ts';
import { cacheConfigSchema } from '../../src/config/cache.ts';
import { fakeAwsEnv, freePort, requireCommand, startMoto, type RunningService } from '../helpers/services.ts';

const skip = requireCommand('moto_server');

describe('S3 tier (moto)', { skip }, () => {
  let moto: RunningService;
  let body: Buffer;
  const bucket = 'derivatives';

  before(async () => {
    fakeAwsEnv();
    moto = await startMoto();
    const s3 = new S3Client({ endpoint: moto.url, forcePathStyle: true, region: 'us-east-1' });
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    s3.destroy();
    body = await sharp('/usr/share/backgrounds/mate/nature/Aqua.jpg').resize(160).avif({ quality: 50 }).toBuffer();
  });
  after(async () => {
    await moto?.stop();
  });

  const s3cfg = (endpoint: string, extra: object = {}) =>
    cacheConfigSchema.parse({
      memory: { enabled: false },
      persistent: { type: 's3', bucket, prefix: 'cache/', endpoint, forcePathStyle: true, region: 'us-east-1', timeoutMs: 1500 },
      ...extra,
    });

  test('an entry written by one replica is read by another', async () => {
    const value: CachedResult = { body, contentType: 'image/avif', headers: { Vary: 'Accept' }, createdAt: Date.now() };
    const writer = createResultCache(s3cfg(moto.url));
    await writer.set('src|a.jpg|etag1|w=160|avif', value);
    await writer.close();

    const reader = createResultCache(s3cfg(moto.url));
    const hit = await reader.get('src|a.jpg|etag1|w=160|avif');
    assert.equal(hit?.tier, 'persistent');
    assert.ok(hit!.value.body.equals(body));
    assert.equal(hit!.value.headers.Vary, 'Accept');
    assert.equal((await sharp(hit!.value.body).metadata()).format, 'heif');
    assert.equal(await reader.get('src|a.jpg|etag2|w=160|avif'), undefined, 'a new source ETag is a new key');
    await reader.close();

    const s3 = new S3Client({ endpoint: moto.url, forcePathStyle: true, region: 'us-east-1' });
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'cache/' }));
    s3.destroy();
    assert.equal(listed.KeyCount, 1);
  });

  test('S3 down → miss and not stored, with a log and a metric; the request never fails', async () => {
    const deadPort = await freePort();
    const errors: string[] = [];
    const logs: object[] = [];
    const cache = createResultCache(s3cfg(`http://127.0.0.1:${deadPort}`, { persistentBackoffMs: 0 }), {
      observer: { error: (tier, op) => errors.push(`${tier}:${op}`) },
      logger: { warn: (o) => logs.push(o) },
    });
    await cache.set('k', { body, contentType: 'image/avif', headers: {}, createdAt: Date.now() });
    assert.equal(await cache.get('k'), undefined);
    assert.deepEqual(errors, ['persistent:set', 'persistent:get']);
    assert.equal(logs.length, 2);
    await cache.close();
  });

  test('a bucket that does not exist degrades the same way', async () => {
    const errors: string[] = [];
    const cfg = cacheConfigSchema.parse({
      memory: { enabled: false },
      persistentBackoffMs: 0,
      persistent: { type: 's3', bucket: 'no-such-bucket', endpoint: moto.url, forcePathStyle: true, region: 'us-east-1' },
    });
    const cache = createResultCache(cfg, { observer: { error: (t, op) => errors.push(op) }, logger: { warn() {} } });
    await cache.set('k', { body, contentType: 'image/avif', headers: {}, createdAt: Date.now() });
    assert.equal(await cache.get('k'), undefined);
    assert.deepEqual(errors, ['set', 'get']);
    await cache.close();
  });
});
