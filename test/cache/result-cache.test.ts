import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readdir, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { createResultCache, etagFor, cacheKey, matchesIfNoneMatch, type CachedResult } from '../../src/cache/index.ts';
import { cacheConfigSchema, type CacheConfig } from '../../src/config/cache.ts';
import { entryName } from '../../src/cache/codec.ts';

const PHOTO = '/usr/share/backgrounds/mate/nature/Garden.jpg';

let rendered: Buffer;
before(async () => {
  // A real derivative of a real photo, so the tiers carry real image bytes.
  rendered = await sharp(PHOTO).resize(200).webp({ quality: 75 }).toBuffer();
});

function entry(body: Buffer = rendered, createdAt = Date.now()): CachedResult {
  return { body, contentType: 'image/webp', headers: { 'Content-Disposition': 'attachment; filename="x.webp"' }, createdAt };
}

function recorder() {
  const lookups: string[] = [];
  const errors: string[] = [];
  const logs: object[] = [];
  return {
    lookups,
    errors,
    logs,
    observer: { lookup: (t: string, r: string) => lookups.push(`${t}:${r}`), error: (t: string, op: string) => errors.push(`${t}:${op}`) },
    logger: { warn: (o: object) => logs.push(o) },
  };
}

const cfg = (input: unknown): CacheConfig => cacheConfigSchema.parse(input);

describe('memory tier', () => {
  test('is on by default and answers a repeated key', async () => {
    const rec = recorder();
    const cache = createResultCache(cfg(undefined), { observer: rec.observer });
    assert.equal(await cache.get('k'), undefined);
    await cache.set('k', entry());
    const hit = await cache.get('k');
    assert.equal(hit?.tier, 'memory');
    assert.equal((await sharp(hit!.value.body).metadata()).format, 'webp');
    assert.deepEqual(rec.lookups, ['memory:miss', 'memory:hit']);
    assert.ok(cache.stats().memoryBytes >= rendered.length);
  });

  test('keeps to its byte budget, evicting the least recently used', async () => {
    const size = rendered.length;
    const cache = createResultCache(cfg({ memory: { maxBytes: size * 3 + 2000, maxEntryBytes: size * 2 } }));
    for (const k of ['a', 'b', 'c']) await cache.set(k, entry());
    await cache.get('a'); // a is now the most recent
    await cache.set('d', entry());
    assert.ok(cache.stats().memoryBytes <= size * 3 + 2000);
    assert.ok(await cache.get('a'));
    assert.equal(await cache.get('b'), undefined, 'the least recently used entry was evicted');
    assert.ok(await cache.get('d'));
  });

  test('skips entries larger than maxEntryBytes', async () => {
    const cache = createResultCache(cfg({ memory: { maxEntryBytes: 100 } }));
    await cache.set('big', entry());
    assert.equal(await cache.get('big'), undefined);
  });

  test('expires entries after ttlSeconds', async () => {
    let clock = 1_000_000;
    const cache = createResultCache(cfg({ ttlSeconds: 60 }), { now: () => clock });
    await cache.set('k', entry(rendered, clock));
    clock += 59_000;
    assert.ok(await cache.get('k'));
    clock += 2_000;
    assert.equal(await cache.get('k'), undefined);
  });

  test('enabled: false turns every tier off', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'ig-cache-off-'));
    const cache = createResultCache(cfg({ enabled: false, persistent: { type: 'fs', dir } }));
    await cache.set('k', entry());
    assert.equal(await cache.get('k'), undefined);
    assert.deepEqual(await readdir(dir), []);
    await rm(dir, { recursive: true, force: true });
  });
});

describe('fs tier', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ig-cache-fs-'));
  });
  after(async () => {
    await chmod(dir, 0o755).catch(() => {});
    await rm(dir, { recursive: true, force: true });
  });

  test('survives a restart: a new cache on the same folder finds the entry', async () => {
    const first = createResultCache(cfg({ persistent: { type: 'fs', dir } }));
    await first.set('photo|w=200|webp', entry());
    await first.close();

    const rec = recorder();
    const second = createResultCache(cfg({ persistent: { type: 'fs', dir } }), { observer: rec.observer });
    const hit = await second.get('photo|w=200|webp');
    assert.equal(hit?.tier, 'persistent');
    assert.ok(hit!.value.body.equals(rendered));
    assert.equal(hit!.value.contentType, 'image/webp');
    assert.equal(hit!.value.headers['Content-Disposition'], 'attachment; filename="x.webp"');
    assert.deepEqual(rec.lookups, ['memory:miss', 'persistent:hit']);
    // promoted into memory
    assert.equal((await second.get('photo|w=200|webp'))?.tier, 'memory');
  });

  test('an entry past its TTL is a miss in the persistent tier', async () => {
    const cache = createResultCache(cfg({ ttlSeconds: 60, memory: { enabled: false }, persistent: { type: 'fs', dir } }));
    await cache.set('old', entry(rendered, Date.now() - 120_000));
    assert.equal(await cache.get('old'), undefined);
  });

  test('a corrupt or truncated file is a miss, not an error', async () => {
    const cache = createResultCache(cfg({ memory: { enabled: false }, persistent: { type: 'fs', dir } }));
    await cache.set('k2', entry());
    const file = path.join(dir, `${entryName('k2')}.bin`);
    await writeFile(file, rendered.subarray(0, 100));
    assert.equal(await cache.get('k2'), undefined);
  });

  test('a folder that cannot be written degrades to "not stored" with a log and a metric', { skip: process.getuid?.() === 0 && 'root ignores file modes' }, async () => {
    const ro = path.join(dir, 'readonly');
    await mkdir(ro);
    await chmod(ro, 0o555);
    const rec = recorder();
    const cache = createResultCache(cfg({ memory: { enabled: false }, persistent: { type: 'fs', dir: ro } }), rec);
    await cache.set('k', entry());
    assert.deepEqual(rec.errors, ['persistent:set']);
    assert.equal(rec.logs.length, 1);
  });

  test('a path that is a file, not a folder, degrades to miss / not stored with a log and a metric', async () => {
    const notDir = path.join(dir, 'plain-file');
    await writeFile(notDir, 'x');
    const rec = recorder();
    const cache = createResultCache(cfg({ memory: { enabled: false }, persistent: { type: 'fs', dir: notDir }, persistentBackoffMs: 0 }), rec);
    await cache.set('k', entry()); // must not throw
    assert.equal(await cache.get('k'), undefined); // must not throw
    assert.deepEqual(rec.errors, ['persistent:set', 'persistent:get']);
    assert.equal(rec.logs.length, 2);
    assert.match(JSON.stringify(rec.logs[0]), /cache_persistent_error/);
  });

  test('after a failure the tier is skipped for persistentBackoffMs', async () => {
    const notDir = path.join(dir, 'plain-file-2');
    await writeFile(notDir, 'x');
    let clock = 5_000_000;
    const rec = recorder();
    const cache = createResultCache(cfg({ memory: { enabled: false }, persistent: { type: 'fs', dir: notDir }, persistentBackoffMs: 1000 }), {
      ...rec,
      now: () => clock,
    });
    await cache.set('k', entry(rendered, clock));
    await cache.get('k');
    await cache.get('k');
    assert.deepEqual(rec.errors, ['persistent:set'], 'no further attempts during the back-off');
    clock += 1001;
    await cache.get('k');
    assert.deepEqual(rec.errors, ['persistent:set', 'persistent:get']);
  });
});

describe('keys and ETags', () => {
  test('cacheKey separates its parts and etagFor is stable and distinct', () => {
    const a = cacheKey({ source: 's', key: 'a|b', etag: 'e', options: 'w=1', format: 'webp' });
    const b = cacheKey({ source: 's', key: 'a', etag: 'b|e', options: 'w=1', format: 'webp' });
    assert.notEqual(a, b);
    assert.equal(etagFor(a), etagFor(a));
    assert.notEqual(etagFor(a), etagFor(b));
    assert.match(etagFor(a), /^"[A-Za-z0-9_-]+"$/);
  });

  test('matchesIfNoneMatch handles lists, weak tags and *', () => {
    const tag = etagFor('x');
    assert.ok(matchesIfNoneMatch(tag, tag));
    assert.ok(matchesIfNoneMatch(`"other", W/${tag}`, tag));
    assert.ok(matchesIfNoneMatch('*', tag));
    assert.ok(!matchesIfNoneMatch('"other"', tag));
    assert.ok(!matchesIfNoneMatch(undefined, tag));
  });
});
