import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import sharp from 'sharp';
import { render, photos, photoSkip, stats } from './helpers.ts';

const PIXBUF = '/usr/libexec/installed-tests/gdk-pixbuf';
const skip = photoSkip();

function fileSkip(file: string): string | false {
  if (existsSync(file)) return false;
  if (process.env.CI === 'true') throw new Error(`${file} missing (gdk-pixbuf-tests)`);
  return `${file} missing (apt-get install gdk-pixbuf-tests)`;
}

describe('real photos', { skip }, () => {
  const file = skip ? '' : photos()[photos().length > 1 ? 1 : 0]!;

  test('w=400 as JPEG, WebP and AVIF keeps the aspect ratio and the picture', async () => {
    const input = readFileSync(file);
    const m = await sharp(input).metadata();
    const expectedH = Math.round((m.height! * 400) / m.width!);
    const reference = await sharp(input).resize(400).raw().toBuffer({ resolveWithObject: true });
    for (const [q, format] of [['w=400', 'jpeg'], ['w=400&fm=webp', 'webp'], ['w=400&fm=avif', 'heif']] as const) {
      const r = await render(input, q);
      assert.equal(r.meta.format, format);
      assert.equal(r.meta.width, 400);
      assert.ok(Math.abs(r.meta.height! - expectedH) <= 1);
      // Same picture as a plain sharp resize: mean colours within a few levels.
      const a = await stats(r.body);
      const b = await stats(await sharp(reference.data, { raw: reference.info }).png().toBuffer());
      for (let c = 0; c < 3; c++) assert.ok(Math.abs(a.mean[c]! - b.mean[c]!) < 4, `${q} channel ${c}`);
      assert.ok(r.body.length < input.length);
    }
  });

  test('crop=entropy and auto=format,compress on a photo', async () => {
    const input = readFileSync(file);
    const r = await render(input, 'w=300&h=300&fit=crop&crop=entropy&auto=format,compress', { accept: 'image/webp' });
    assert.equal(r.contentType, 'image/webp');
    assert.deepEqual([r.meta.width, r.meta.height], [300, 300]);
  });
});

describe('real files from gdk-pixbuf tests', () => {
  const rotated = `${PIXBUF}/bug725582-testrotate.jpg`;
  test('an EXIF-rotated camera JPEG comes out upright', { skip: fileSkip(rotated) }, async () => {
    const input = readFileSync(rotated);
    const m = await sharp(input).metadata();
    assert.equal(m.orientation, 6);
    const r = await render(input, 'w=200');
    assert.equal(r.meta.width, 200);
    assert.equal(r.meta.height, Math.round((200 * m.width!) / m.height!), 'width and height swapped');
    assert.equal(r.meta.orientation, undefined);
    const upright = await sharp(input).autoOrient().resize(200).raw().toBuffer();
    const got = await sharp(r.body).raw().toBuffer();
    let diff = 0;
    for (let i = 0; i < got.length; i++) diff += Math.abs(got[i]! - upright[i]!);
    assert.ok(diff / got.length < 6, `matches sharp's autoOrient: ${diff / got.length}`);
  });

  const anim = `${PIXBUF}/1_partyanimsm2.gif`;
  test('a real animated GIF keeps all its frames through resize and WebP', { skip: fileSkip(anim) }, async () => {
    const input = readFileSync(anim);
    const m = await sharp(input).metadata();
    const g = await render(input, 'w=100');
    assert.equal(g.meta.format, 'gif');
    assert.equal(g.meta.pages, m.pages);
    assert.equal(g.meta.width, 100);
    // libwebp merges identical consecutive frames: compare with sharp's own animated conversion.
    const r = await render(input, 'w=100&fm=webp');
    const direct = await sharp(await sharp(input, { animated: true }).resize(100).webp().toBuffer()).metadata();
    assert.ok(r.meta.pages! > 1);
    assert.equal(r.meta.pages, direct.pages);
  });
});
