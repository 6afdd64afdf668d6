import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { render, pixel, stats, near, solid, quadrants, RED, GREEN, BLUE, WHITE } from './helpers.ts';

/** imgix parameter families rendered on real images with real sharp; each assertion fails if the parameter is ignored. */

let quad: Buffer; // 200×100 PNG: red | green / blue | white
let photo: Buffer; // 256×128 JPEG: a colour ramp with a yellow disc
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64url');

before(async () => {
  quad = await quadrants('png');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="256" height="128"><defs><linearGradient id="g"><stop offset="0" stop-color="#c53030"/><stop offset="1" stop-color="#2b6cb0"/></linearGradient></defs><rect width="256" height="128" fill="url(#g)"/><circle cx="128" cy="64" r="40" fill="#f6e05e"/></svg>`;
  photo = await sharp(Buffer.from(svg)).jpeg({ quality: 90 }).toBuffer();
});

describe('<param>64: every parameter but auto and ch takes a base64url value', () => {
  test('sizes, keywords, colours and lists decode to what the plain form gives', async () => {
    const a = await render(quad, `w64=${b64('50')}&fm64=${b64('png')}`);
    assert.deepEqual([a.meta.width, a.meta.height, a.meta.format], [50, 25, 'png']);
    const b = await render(quad, `w=60&h=60&fit64=${b64('fill')}&fill-color64=${b64('00f')}`);
    assert.deepEqual(await pixel(b.body, 30, 2), [0, 0, 255, 255], 'fill colour from fill-color64');
    const c = await render(quad, `width64=${b64('40')}`);
    assert.equal(c.meta.width, 40, 'an alias with 64 too');
  });
  test('bad base64 is a 400 naming the parameter; auto64 is no imgix parameter and is ignored', async () => {
    await assert.rejects(render(quad, 'w64=!!!'), (e: { status: number; message: string }) => e.status === 400 && e.message.startsWith('w64: '));
    const r = await render(quad, `auto64=${b64('format')}&w=20`, { accept: 'image/avif,image/webp' });
    assert.equal(r.meta.format, 'png');
  });
});
