import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { cacheConfigSchema, limitsConfigSchema } from '../../src/config/cache.ts';

describe('cache: and limits: settings', () => {
  test('defaults: memory LRU on with a byte budget, no persistent tier; limits from the core count', () => {
    const c = cacheConfigSchema.parse(undefined);
    assert.equal(c.enabled, true);
    assert.equal(c.memory.enabled, true);
    assert.equal(c.memory.maxBytes, 128 * 1024 * 1024);
    assert.equal(c.persistent, undefined);
    assert.ok(c.ttlSeconds > 0);
    const l = limitsConfigSchema.parse(undefined);
    assert.equal(l.concurrency, availableParallelism());
    assert.equal(l.queue, 64);
    assert.equal(l.deadlineMs, 30_000);
    assert.equal(l.retryAfterSeconds, 1);
  });

  test('partial objects keep the other defaults', () => {
    const c = cacheConfigSchema.parse({ memory: { maxBytes: 1000 } });
    assert.equal(c.memory.enabled, true);
    assert.equal(c.memory.maxBytes, 1000);
    assert.equal(limitsConfigSchema.parse({ queue: 5 }).concurrency, availableParallelism());
  });

  test('persistent tiers: fs with a dir, s3 with a bucket and defaults', () => {
    const fs = cacheConfigSchema.parse({ persistent: { type: 'fs', dir: '/var/cache/imagegate' } });
    assert.deepEqual(fs.persistent, { type: 'fs', dir: '/var/cache/imagegate' });
    const s3 = cacheConfigSchema.parse({ persistent: { type: 's3', bucket: 'b', endpoint: 'http://127.0.0.1:9000', forcePathStyle: true } });
    assert.equal(s3.persistent?.type, 's3');
    if (s3.persistent?.type === 's3') {
      assert.equal(s3.persistent.prefix, 'imagegate-cache/');
      assert.equal(s3.persistent.timeoutMs, 2000);
    }
  });

  test('bad values name the setting', () => {
    const paths = (r: { success: boolean; error?: { issues: { path: PropertyKey[] }[] } }) =>
      (r.error?.issues ?? []).map((i) => i.path.join('.'));
    assert.deepEqual(paths(cacheConfigSchema.safeParse({ memory: { maxBytes: -1 } })), ['memory.maxBytes']);
    assert.deepEqual(paths(cacheConfigSchema.safeParse({ persistent: { type: 'fs' } })), ['persistent.dir']);
    assert.deepEqual(paths(cacheConfigSchema.safeParse({ persistent: { type: 's3', bucket: 'b', endpoint: 'not a url' } })), ['persistent.endpoint']);
    assert.deepEqual(paths(cacheConfigSchema.safeParse({ memroy: {} })), ['']);
    assert.deepEqual(paths(limitsConfigSchema.safeParse({ concurrency: 0 })), ['concurrency']);
    assert.deepEqual(paths(limitsConfigSchema.safeParse({ queue: 1.5 })), ['queue']);
  });
});
