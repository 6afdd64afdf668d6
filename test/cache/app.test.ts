/**
 * The cache, coalescing and bounded work through the whole app (createApp): counted with the
 * app's own metrics and a Storage wrapper that counts and can hold source reads.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import sharp from 'sharp';
import { makeImageFolder, testApp, get } from '../helpers/app.ts';
import { createStorages } from '../../src/storage/index.ts';
import { testConfig } from '../helpers/app.ts';
import { CountingStorage } from '../helpers/storage.ts';
import type { ImagegateApp } from '../../src/http/app.ts';

const PHOTOS = '/usr/share/backgrounds';
const PHOTO = 'Kleiber_by_Lukas_Baubkus.jpg'; // 6028×3391 real photo (lomiri-wallpapers-20.04)

/** These tests count source reads and render slots per derivative: masters (a second read, a build) are tested in test/masters. */
const noMasters = (overrides: Record<string, unknown>) => ({ ...overrides, cache: { masters: { enabled: false }, ...(overrides.cache as object) } });

async function countingApp(root: string, overrides: Record<string, unknown> = {}): Promise<{ ig: ImagegateApp; storage: CountingStorage }> {
  overrides = noMasters(overrides);
  const storages = await createStorages(testConfig(root, overrides).sources);
  const storage = new CountingStorage(storages.local);
  const ig = await testApp(root, overrides, { storages: { local: storage } });
  return { ig, storage };
}

/** Waits (bounded) until `cond` holds; the test then asserts on state, never on time. */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await sleep(10);
  assert.ok(cond(), `timed out waiting for: ${what}`);
}

async function metricsText(ig: ImagegateApp): Promise<string> {
  return (await ig.internal.request('/_metrics')).text();
}

describe('through the app: coalescing, cache, 304, shedding', () => {
  let folder: Awaited<ReturnType<typeof makeImageFolder>>;
  before(async () => {
    folder = await makeImageFolder();
  });
  after(() => folder.cleanup());

  test('50 concurrent identical uncached requests run exactly 1 transformation', async () => {
    let transforms = 0;
    const storages = await createStorages(testConfig(PHOTOS).sources);
    const storage = new CountingStorage(storages.local);
    const ig = await testApp(PHOTOS, noMasters({ limits: { concurrency: 2, queue: 4 } }), { storages: { local: storage }, onTransform: () => transforms++ });
    const responses = await Promise.all(Array.from({ length: 50 }, () => get(ig, `/${PHOTO}?w=400&fm=webp`)));
    const bodies = await Promise.all(responses.map(async (r) => Buffer.from(await r.arrayBuffer())));
    assert.deepEqual(new Set(responses.map((r) => r.status)), new Set([200]), 'none shed: they share one slot');
    assert.equal(transforms, 1);
    assert.equal(await ig.metrics.transformCount(), 1);
    assert.equal(storage.reads, 1, 'the source was read once');
    assert.ok(bodies.every((b) => b.equals(bodies[0])));
    const meta = await sharp(bodies[0]).metadata();
    assert.equal(meta.format, 'webp');
    assert.equal(meta.width, 400);
    assert.equal(new Set(responses.map((r) => r.headers.get('etag'))).size, 1);
    assert.match(await metricsText(ig), /imagegate_coalesced_requests_total 49/);
    // and the 51st, later, is a memory hit that runs nothing
    const again = await get(ig, `/${PHOTO}?w=400&fm=webp`);
    assert.equal(again.status, 200);
    assert.equal(transforms, 1);
    await ig.close();
  });

  test('If-None-Match is answered 304 before the source is read, even with a cold cache', async () => {
    const first = await countingApp(folder.root);
    const res = await get(first.ig, '/photo.jpg?w=120&fm=png');
    assert.equal(res.status, 200);
    const etag = res.headers.get('etag')!;
    assert.ok(etag);
    assert.equal(first.storage.reads, 1);

    const again = await get(first.ig, '/photo.jpg?w=120&fm=png', { 'If-None-Match': etag });
    assert.equal(again.status, 304);
    assert.equal(first.storage.reads, 1, 'no source read for the 304');

    // A new process (cold cache) still answers the conditional request without reading the source.
    const cold = await countingApp(folder.root);
    const cond = await get(cold.ig, '/photo.jpg?w=120&fm=png', { 'If-None-Match': etag });
    assert.equal(cond.status, 304);
    assert.equal(cond.headers.get('etag'), etag);
    assert.equal(cold.storage.reads, 0);
    assert.equal(await cold.ig.metrics.transformCount(), 0);

    // Parameter order does not change the ETag; a different derivative does.
    const reordered = await get(cold.ig, '/photo.jpg?fm=png&w=120', { 'If-None-Match': etag });
    assert.equal(reordered.status, 304);
    const other = await get(cold.ig, '/photo.jpg?w=121&fm=png', { 'If-None-Match': etag });
    assert.equal(other.status, 200);
    await first.ig.close();
    await cold.ig.close();
  });

  test('past the queue a request is shed at once with 503 and Retry-After', async () => {
    const { ig, storage } = await countingApp(folder.root, { limits: { concurrency: 1, queue: 1, retryAfterSeconds: 2 } });
    storage.hold();
    const running = get(ig, '/photo.jpg?w=101');
    await until(() => storage.reads === 1, 'the first transformation holds the only slot');
    const queued = get(ig, '/photo.jpg?w=102');
    await sleep(20);
    const shed = await get(ig, '/photo.jpg?w=103');
    assert.equal(shed.status, 503);
    assert.equal(shed.headers.get('retry-after'), '2');
    assert.equal((await shed.json()).code, 'overloaded');
    storage.unhold();
    assert.equal((await running).status, 200);
    assert.equal((await queued).status, 200);
    const text = await metricsText(ig);
    assert.match(text, /imagegate_shed_requests_total\{reason="overloaded"\} 1/);
    assert.match(text, /imagegate_http_requests_total\{route="image",status="503",cache="none"\} 1/);
    await ig.close();
  });

  test('cache hits are never queued behind transformations', async () => {
    const { ig, storage } = await countingApp(folder.root, { limits: { concurrency: 1, queue: 1 } });
    const warm = await get(ig, '/photo.jpg?w=64&fm=webp');
    assert.equal(warm.status, 200);
    const warmBytes = Buffer.from(await warm.arrayBuffer());

    storage.hold();
    const busy = get(ig, '/photo.jpg?w=201');
    await until(() => storage.reads === 2, 'a transformation holds the only slot');
    const queued = get(ig, '/photo.jpg?w=202');
    await sleep(20);
    // The slot is taken and the queue is full: a miss would be shed, a hit must be served.
    const miss = await get(ig, '/photo.jpg?w=203');
    assert.equal(miss.status, 503);
    const hit = await get(ig, '/photo.jpg?w=64&fm=webp');
    assert.equal(hit.status, 200);
    assert.ok(Buffer.from(await hit.arrayBuffer()).equals(warmBytes));
    assert.equal(storage.reads, 2, 'the hit read nothing from the source');
    storage.unhold();
    assert.equal((await busy).status, 200);
    assert.equal((await queued).status, 200);
    assert.match(await metricsText(ig), /imagegate_http_requests_total\{route="image",status="200",cache="memory"\} 1/);
    await ig.close();
  });

  test('a changed source is a new cache key: once its metadata is re-read the old derivative is not served', async () => {
    const { writeFileSync } = await import('node:fs');
    const path = await import('node:path');
    const file = path.join(folder.root, 'changing.png');
    await sharp({ create: { width: 50, height: 50, channels: 3, background: '#ff0000' } }).png().toFile(file);
    const { ig } = await countingApp(folder.root, { cache: { sourceMetaTtlMs: 100 } });
    const a = await get(ig, '/changing.png?w=10&fm=png');
    const pixelA = (await sharp(Buffer.from(await a.arrayBuffer())).raw().toBuffer())[0];
    assert.equal(pixelA, 255);
    await sleep(20); // a different mtime
    writeFileSync(file, await sharp({ create: { width: 50, height: 50, channels: 3, background: '#0000ff' } }).png().toBuffer());
    await sleep(150); // past cache.sourceMetaTtlMs: the source's new ETag is seen
    const b = await get(ig, '/changing.png?w=10&fm=png');
    const raw = await sharp(Buffer.from(await b.arrayBuffer())).raw().toBuffer();
    assert.equal(raw[0], 0);
    assert.equal(raw[2], 255);
    assert.notEqual(a.headers.get('etag'), b.headers.get('etag'));
    assert.equal(await ig.metrics.transformCount(), 2);
    await ig.close();
  });

  test('the fs tier serves a restarted process without reading the source; a broken tier never fails a request', async () => {
    const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const path = await import('node:path');
    const dir = mkdtempSync(path.join(tmpdir(), 'imagegate-cache-app-'));
    try {
      const cache = { persistent: { type: 'fs', dir } };
      const first = await countingApp(folder.root, { cache });
      const a = await get(first.ig, '/photo.jpg?w=90&fm=avif');
      assert.equal(a.status, 200);
      const bytes = Buffer.from(await a.arrayBuffer());
      await first.ig.close();

      const second = await countingApp(folder.root, { cache });
      const b = await get(second.ig, '/photo.jpg?w=90&fm=avif');
      assert.equal(b.status, 200);
      assert.ok(Buffer.from(await b.arrayBuffer()).equals(bytes));
      assert.equal(b.headers.get('etag'), a.headers.get('etag'));
      assert.equal(second.storage.reads, 0);
      assert.equal(await second.ig.metrics.transformCount(), 0);
      assert.match(await metricsText(second.ig), /imagegate_cache_lookups_total\{tier="persistent",result="hit"\} 1/);
      await second.ig.close();

      const notADir = path.join(dir, 'file');
      writeFileSync(notADir, 'x');
      const broken = await countingApp(folder.root, { cache: { persistent: { type: 'fs', dir: notADir } } });
      const c = await get(broken.ig, '/photo.jpg?w=91');
      assert.equal(c.status, 200);
      assert.equal((await sharp(Buffer.from(await c.arrayBuffer())).metadata()).width, 91);
      assert.match(await metricsText(broken.ig), /imagegate_cache_errors_total\{tier="persistent",op="(get|set)"\} 1/);
      await broken.ig.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a request whose deadline passes while it waits in the queue → 503 deadline_exceeded', async () => {
    const { ig, storage } = await countingApp(folder.root, { limits: { concurrency: 1, queue: 4, deadlineMs: 150 } });
    // Deadline timers do not hold the event loop open by themselves (a server's sockets do).
    const keepAlive = setTimeout(() => {}, 10_000);
    try {
      storage.hold();
      const first = get(ig, '/photo.jpg?w=301');
      await until(() => storage.reads === 1, 'the first transformation holds the only slot');
      const waiting = await get(ig, '/photo.jpg?w=302');
      assert.equal(waiting.status, 503);
      assert.equal((await waiting.json()).code, 'deadline_exceeded');
      assert.ok(waiting.headers.get('retry-after'));
      assert.equal(storage.reads, 1, 'the expired request never read the source');
      storage.unhold();
      assert.ok([200, 503].includes((await first).status));
      assert.match(await metricsText(ig), /imagegate_shed_requests_total\{reason="deadline_exceeded"\} 1/);
    } finally {
      clearTimeout(keepAlive);
      storage.unhold();
      await ig.close();
    }
  });
});
