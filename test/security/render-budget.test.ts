/**
 * A render never outlives its budget: every libvips materialisation runs under the request's
 * remaining deadline (sharp's `timeout`), and a cost estimate made from the header refuses,
 * before decoding, combinations that cannot finish. Attack renders started together never
 * hold a render slot past the deadline plus a second, and a render asked for after them is
 * served.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createWriteStream, copyFileSync } from 'node:fs';
import { once } from 'node:events';
import path from 'node:path';
import { createDeflate } from 'node:zlib';
import { crc32 } from 'node:zlib';
import { get, makeImageFolder, testApp } from '../helpers/app.ts';
import type { ImagegateApp } from '../../src/http/app.ts';
import { renderCost } from '../../src/pipeline/cost.ts';
import { parseTransform } from '../../src/request/params.ts';
import { transformConfigSchema } from '../../src/config/transform.ts';

const DEADLINE_MS = 3000;

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body) >>> 0);
  return Buffer.concat([len, body, crc]);
}

/** A real, valid 1 × `rows` greyscale PNG (about 194 KB for 100,000,000 rows), written as a stream. */
async function writeTallPng(file: string, rows: number): Promise<void> {
  const out = createWriteStream(file);
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(1, 0);
  ihdr.writeUInt32BE(rows, 4);
  ihdr.set([8, 0, 0, 0, 0], 8); // 8-bit greyscale, no interlace
  out.write(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  out.write(chunk('IHDR', ihdr));
  const deflate = createDeflate({ level: 9 });
  const parts: Buffer[] = [];
  deflate.on('data', (d: Buffer) => parts.push(d));
  const done = once(deflate, 'end');
  const block = Buffer.alloc(1 << 20); // rows of [filter 0, grey 0]
  let left = rows * 2;
  while (left > 0) {
    const n = Math.min(block.length, left);
    if (!deflate.write(block.subarray(0, n))) await once(deflate, 'drain');
    left -= n;
  }
  deflate.end();
  await done;
  out.write(chunk('IDAT', Buffer.concat(parts)));
  out.write(chunk('IEND', Buffer.alloc(0)));
  out.end();
  await once(out, 'finish');
}

describe('render budget', () => {
  let folder: Awaited<ReturnType<typeof makeImageFolder>>;
  let ig: ImagegateApp;
  before(async () => {
    folder = await makeImageFolder();
    copyFileSync(path.join(import.meta.dirname, '../../examples/images/sample.jpg'), path.join(folder.root, 'sample.jpg'));
    await writeTallPng(path.join(folder.root, 'tall.png'), 100_000_000);
    ig = await testApp(folder.root, { limits: { deadlineMs: DEADLINE_MS, concurrency: 2, queue: 32 }, cache: { enabled: false } });
  });
  after(async () => {
    await ig?.close();
    folder.cleanup();
  });

  test('the cost estimate refuses what cannot finish, before decoding, and passes ordinary renders', async () => {
    const config = transformConfigSchema.parse({});
    const cost = (w: number, h: number, frames: number, q: string, fm: 'jpeg' | 'gif' = 'jpeg') =>
      renderCost({ width: w, height: h, frames, swap: false }, parseTransform(new URLSearchParams(q), config), fm, config.maxOutputSize);
    assert.ok(cost(1, 100_000_000, 1, 'w=100') > config.maxRenderCost, '1 × 100,000,000 PNG');
    assert.ok(cost(60, 40, 3, 'w=8192', 'gif') > config.maxRenderCost, 'animation at w=8192');
    assert.ok(cost(10_000, 10_000, 1, 'w=8192') < config.maxRenderCost, '100 MP → 8192 px JPEG');
    assert.ok(cost(1600, 1067, 1, 'fit=fillmax&fill=blur&w=8192&h=8192') < config.maxRenderCost, 'a big fill=blur canvas is affordable now');
    assert.ok(cost(1600, 1067, 1, 'blur=2000&w=8192') > config.maxRenderCost, 'a sigma-200 blur over 45 MP');
    assert.ok(cost(1600, 1067, 1, 'blur=2000&w=1000') < config.maxRenderCost, 'the same blur at an ordinary size');
    assert.ok(cost(480, 270, 100, 'w=480', 'gif') < config.maxRenderCost, 'a 100-frame GIF');

    const t0 = performance.now();
    const res = await get(ig, 'http://localhost/tall.png?w=100');
    assert.equal(res.status, 422);
    assert.equal(((await res.json()) as { code: string }).code, 'render_too_costly');
    assert.ok(performance.now() - t0 < DEADLINE_MS, 'refused without decoding');
  });

  test('attack renders started together never hold a slot past the deadline + 1 s; a victim after them is served', async () => {
    const attacks = [
      'sample.jpg?fit=fillmax&fill=blur&w=8192&h=8192&q=60',
      'sample.jpg?fit=fillmax&fill=blur&w=8192&h=8192&q=61',
      'sample.jpg?blur=2000&w=8192&q=60',
      'sample.jpg?blur=2000&w=8192&q=61',
      'photo.jpg?blur=2000&w=8192&fm=webp',
      'anim.gif?w=8192',
      'tall.png?w=100',
    ];
    const started = performance.now();
    const results = await Promise.all(
      attacks.map(async (a) => {
        const t = performance.now();
        const res = await get(ig, `http://localhost/${a}`);
        const body = res.headers.get('content-type')?.includes('json') ? ((await res.json()) as { code: string }).code : (await res.arrayBuffer(), 'image');
        return { a, status: res.status, body, ms: performance.now() - t };
      }),
    );
    for (const r of results) {
      // Served, refused by the estimate, or stopped at the deadline: never mistaken for a corrupt image.
      assert.ok(['200 image', '422 render_too_costly', '503 deadline_exceeded'].includes(`${r.status} ${r.body}`), `${r.a}: ${r.status} ${r.body}`);
      // From the request's start: queue wait + render; a slot is held for less than that.
      assert.ok(r.ms <= DEADLINE_MS + 1000, `${r.a} answered after ${Math.round(r.ms)} ms (${r.status} ${r.body})`);
    }
    assert.ok(results.some((r) => r.body === 'deadline_exceeded'), 'some attack really ran into its deadline');
    assert.ok(performance.now() - started <= DEADLINE_MS + 1000);
    const victim = await get(ig, 'http://localhost/photo.jpg?w=120');
    assert.equal(victim.status, 200);
  });
});
