import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import sharp from 'sharp';
import { withMetaCache } from '../../src/cache/index.ts';
import { createFsStorage } from '../../src/storage/fs.ts';
import type { ObjectMeta, Storage, StoredObject } from '../../src/storage/types.ts';

function counting(inner: Storage) {
  const calls = { head: 0, get: 0 };
  const s: Storage = {
    head: (k, sig) => (calls.head++, inner.head(k, sig)),
    get: (k, sig) => (calls.get++, inner.get(k, sig)),
  };
  return { s, calls };
}

describe('withMetaCache (source metadata reuse)', () => {
  let root: string;
  before(async () => {
    root = mkdtempSync(path.join(tmpdir(), 'ig-meta-'));
    await sharp({ create: { width: 40, height: 30, channels: 3, background: '#884422' } }).jpeg().toFile(path.join(root, 'a.jpg'));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  test('one source head per key per TTL, concurrent heads coalesced, misses remembered too', async () => {
    const { s, calls } = counting(createFsStorage({ root }));
    const cached = withMetaCache(s, { ttlMs: 60_000 });
    const metas = await Promise.all(Array.from({ length: 20 }, () => cached.head('a.jpg')));
    assert.equal(calls.head, 1);
    assert.ok(metas.every((m) => m?.etag === metas[0]?.etag && m?.size === metas[0]?.size));
    assert.equal(await cached.head('a.jpg').then((m) => m?.etag), metas[0]?.etag);
    assert.equal(calls.head, 1);
    assert.equal(await cached.head('missing.jpg'), undefined);
    assert.equal(await cached.head('missing.jpg'), undefined);
    assert.equal(calls.head, 2);
  });

  test('a change is seen after the TTL; get() always reads the source and refreshes the entry', async () => {
    const { s, calls } = counting(createFsStorage({ root }));
    const cached = withMetaCache(s, { ttlMs: 50 });
    const before = await cached.head('a.jpg');
    await sleep(20);
    await sharp({ create: { width: 80, height: 30, channels: 3, background: '#224488' } }).jpeg().toFile(path.join(root, 'a.jpg'));
    const obj = await cached.get('a.jpg');
    assert.equal(calls.get, 1);
    assert.notEqual(obj!.meta.etag, before!.etag);
    assert.equal((await cached.head('a.jpg'))!.etag, obj!.meta.etag, 'refreshed by get()');
    writeFileSync(path.join(root, 'b.jpg'), obj!.body);
    await sleep(60);
    const headsBefore = calls.head;
    await cached.head('a.jpg');
    assert.equal(calls.head, headsBefore + 1, 'asked again once the TTL passed');
  });

  test('ttlMs 0 returns the source itself', () => {
    const inner: Storage = { head: async () => undefined as ObjectMeta | undefined, get: async () => undefined as StoredObject | undefined };
    assert.equal(withMetaCache(inner, { ttlMs: 0 }), inner);
  });
});
