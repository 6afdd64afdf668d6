import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { render, pixel, stats, near, solid, quadrants, animatedGif, RED, GREEN, BLUE, WHITE } from './helpers.ts';

let quad: Buffer; // 200×100 PNG: red | green / blue | white
let quadJpeg: Buffer;
let grey: Buffer; // 64×64 mid grey
let gradient: Buffer; // 256×64 horizontal grey ramp
let transparent: Buffer; // 100×100 PNG, left half opaque red, right half fully transparent

before(async () => {
  quad = await quadrants('png');
  quadJpeg = await quadrants('jpeg');
  grey = await solid(64, 64, { r: 128, g: 128, b: 128 });
  const ramp = Buffer.alloc(256 * 64 * 3);
  for (let y = 0; y < 64; y++) for (let x = 0; x < 256; x++) ramp.fill(x, (y * 256 + x) * 3, (y * 256 + x) * 3 + 3);
  gradient = await sharp(ramp, { raw: { width: 256, height: 64, channels: 3 } }).png().toBuffer();
  const half = await sharp({ create: { width: 50, height: 100, channels: 4, background: { ...RED, alpha: 1 } } }).png().toBuffer();
  transparent = await sharp({ create: { width: 100, height: 100, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } })
    .composite([{ input: half, left: 0, top: 0 }])
    .png()
    .toBuffer();
});

describe('size', () => {
  test('w keeps the aspect ratio; h alone too', async () => {
    const a = await render(quad, 'w=100');
    assert.deepEqual([a.meta.width, a.meta.height], [100, 50]);
    const b = await render(quad, 'h=20');
    assert.deepEqual([b.meta.width, b.meta.height], [40, 20]);
  });
  test('fractions of the source', async () => {
    const r = await render(quad, 'w=0.25');
    assert.deepEqual([r.meta.width, r.meta.height], [50, 25]);
  });
  test('dpr multiplies the size', async () => {
    const r = await render(quad, 'w=50&dpr=2.5');
    assert.deepEqual([r.meta.width, r.meta.height], [125, 63]);
  });
  test('fit=clip (default) fits inside and may upscale', async () => {
    const r = await render(quad, 'w=100&h=100');
    assert.deepEqual([r.meta.width, r.meta.height], [100, 50]);
    const up = await render(quad, 'w=400&h=400');
    assert.deepEqual([up.meta.width, up.meta.height], [400, 200]);
  });
  test('fit=max never upscales', async () => {
    const r = await render(quad, 'w=400&h=400&fit=max');
    assert.deepEqual([r.meta.width, r.meta.height], [200, 100]);
  });
  test('fit=scale distorts to exactly w×h', async () => {
    const r = await render(quad, 'w=50&h=50&fit=scale');
    assert.deepEqual([r.meta.width, r.meta.height], [50, 50]);
    assert.ok(near(await pixel(r.body, 5, 5), [255, 0, 0]));
    assert.ok(near(await pixel(r.body, 45, 45), [255, 255, 255]));
  });
  test('fit=crop covers and cuts at the centre by default', async () => {
    const r = await render(quad, 'w=50&h=50&fit=crop');
    assert.deepEqual([r.meta.width, r.meta.height], [50, 50]);
    // Centre cut of a 100×50 resize: columns 25..75 → left half red/blue, right half green/white.
    assert.ok(near(await pixel(r.body, 5, 5), [255, 0, 0]));
    assert.ok(near(await pixel(r.body, 45, 5), [0, 255, 0]));
  });
  test('fit=min crops without upscaling', async () => {
    const r = await render(quad, 'w=400&h=400&fit=min');
    assert.deepEqual([r.meta.width, r.meta.height], [100, 100]);
    const d = await render(quad, 'w=50&h=50&fit=min');
    assert.deepEqual([d.meta.width, d.meta.height], [50, 50]);
  });
  test('fit=fill pads to w×h with fill-color (or bg)', async () => {
    const r = await render(quad, 'w=100&h=100&fit=fill&fill-color=00f&fm=png');
    assert.deepEqual([r.meta.width, r.meta.height], [100, 100]);
    assert.ok(near(await pixel(r.body, 50, 5), [0, 0, 255, 255]));
    assert.ok(near(await pixel(r.body, 5, 30), [255, 0, 0, 255]));
    const bg = await render(quad, 'w=100&h=100&fit=fill&bg=0f0&fm=jpg');
    assert.ok(near(await pixel(bg.body, 50, 5), [0, 255, 0]));
    const clear = await render(quad, 'w=100&h=100&fit=fill&fm=png');
    assert.equal((await pixel(clear.body, 50, 5))[3], 0, 'transparent fill when the format has alpha');
  });
  test('fit=fillmax pads without upscaling', async () => {
    const r = await render(quad, 'w=400&h=300&fit=fillmax&bg=000&fm=png');
    assert.deepEqual([r.meta.width, r.meta.height], [400, 300]);
    assert.ok(near(await pixel(r.body, 5, 5), [0, 0, 0, 255]));
    assert.ok(near(await pixel(r.body, 105, 105), [255, 0, 0, 255]), 'the image stays 200×100, centred');
    assert.ok(near(await pixel(r.body, 295, 195), [255, 255, 255, 255]));
  });
  test('fit=clamp extends with edge pixels', async () => {
    const r = await render(quad, 'w=100&h=100&fit=clamp&fm=png');
    assert.deepEqual([r.meta.width, r.meta.height], [100, 100]);
    assert.ok(near(await pixel(r.body, 5, 2), [255, 0, 0, 255]), 'top band repeats the red edge');
    assert.ok(near(await pixel(r.body, 95, 97), [255, 255, 255, 255]));
  });
  test('fit=facearea is a saliency crop of the requested size', async () => {
    const r = await render(quad, 'w=40&h=40&fit=facearea');
    assert.deepEqual([r.meta.width, r.meta.height], [40, 40]);
  });
  test('ar with fit=crop supplies the missing side, or crops the source', async () => {
    const a = await render(quad, 'w=100&ar=1:1&fit=crop');
    assert.deepEqual([a.meta.width, a.meta.height], [100, 100]);
    const b = await render(quad, 'ar=1:1&fit=crop');
    assert.deepEqual([b.meta.width, b.meta.height], [100, 100]);
    const ignored = await render(quad, 'w=100&ar=1:1');
    assert.deepEqual([ignored.meta.width, ignored.meta.height], [100, 50], 'ar needs fit=crop');
  });
  test('min-w / max-h bound fit=crop', async () => {
    const a = await render(quad, 'w=20&h=20&fit=crop&min-w=60');
    assert.deepEqual([a.meta.width, a.meta.height], [60, 20]);
    const b = await render(quad, 'w=50&h=80&fit=crop&max-h=30');
    assert.deepEqual([b.meta.width, b.meta.height], [50, 30]);
    const c = await render(quad, 'w=50&h=80&fit=crop&max-w=20&min-h=90');
    assert.deepEqual([c.meta.width, c.meta.height], [20, 90]);
  });
  test('rect cuts the source before resizing', async () => {
    const r = await render(quad, 'rect=100,0,100,50');
    assert.deepEqual([r.meta.width, r.meta.height], [100, 50]);
    const s = await stats(r.body);
    assert.ok(near(s.mean, [0, 255, 0], 2), 'only the green quadrant');
    const k = await render(quad, 'rect=right,bottom,0.5,0.5&w=10');
    assert.deepEqual([k.meta.width, k.meta.height], [10, 5]);
    assert.ok(near((await stats(k.body)).mean, [255, 255, 255], 3));
  });
  test('output is clamped to 8192 on its longest side, keeping the aspect ratio', async () => {
    const r = await render(quad, 'w=8192&dpr=2');
    assert.deepEqual([r.meta.width, r.meta.height], [8192, 4096]);
    const small = await render(quad, 'w=8192&dpr=2', { config: { maxOutputSize: 300 } });
    assert.deepEqual([small.meta.width, small.meta.height], [300, 150]);
  });
});

describe('crop anchors', () => {
  const cases: Array<[string, [number, number, number]]> = [
    ['crop=left', [255, 0, 0]],
    ['crop=right', [0, 255, 0]],
    ['crop=bottom,left', [0, 0, 255]],
    ['crop=right,bottom', [255, 255, 255]],
  ];
  for (const [q, colour] of cases) {
    test(`${q} keeps that side`, async () => {
      const r = await render(quad, `w=50&h=50&fit=crop&${q}`);
      assert.deepEqual([r.meta.width, r.meta.height], [50, 50]);
      const corner = q.includes('bottom') ? [5, 45] : [5, 5];
      const c = q.includes('left') ? corner : [45, corner[1]!];
      assert.ok(near(await pixel(r.body, c[0]!, c[1]!), colour), `${q}: ${await pixel(r.body, c[0]!, c[1]!)}`);
    });
  }
  test('crop=top,bottom cuts vertically from the top', async () => {
    const r = await render(quad, 'w=200&h=40&fit=crop&crop=top');
    assert.ok(near(await pixel(r.body, 5, 35), [255, 0, 0]));
    const b = await render(quad, 'w=200&h=40&fit=crop&crop=bottom');
    assert.ok(near(await pixel(b.body, 5, 5), [0, 0, 255]));
  });
  test('focalpoint centres the crop on fp-x/fp-y, fp-z zooms', async () => {
    const r = await render(quad, 'w=40&h=40&fit=crop&crop=focalpoint&fp-x=0.9&fp-y=0.9&fp-z=2');
    assert.ok(near((await stats(r.body)).mean, [255, 255, 255], 3), 'all white: bottom-right');
    const z = await render(quad, 'w=40&h=40&fit=crop&crop=focalpoint&fp-x=0.25&fp-y=0.25&fp-z=2');
    assert.ok(near((await stats(z.body)).mean, [255, 0, 0], 3), 'zoomed into the red quadrant');
  });
  test('entropy and edges/faces pick the busy part of the image', async () => {
    // Left: flat grey; right: noise. Both strategies should keep the noisy half.
    const noise = await sharp({ create: { width: 100, height: 100, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 128, sigma: 60 } } }).png().toBuffer();
    const img = await sharp({ create: { width: 200, height: 100, channels: 3, background: { r: 128, g: 128, b: 128 } } })
      .composite([{ input: noise, left: 100, top: 0 }])
      .png()
      .toBuffer();
    for (const c of ['entropy', 'edges', 'faces']) {
      const r = await render(img, `w=50&h=100&fit=crop&crop=${c}&fm=png`);
      assert.deepEqual([r.meta.width, r.meta.height], [50, 100]);
      assert.ok((await stats(r.body)).stdev[0]! > 30, `${c} kept the detailed half`);
    }
  });
});

describe('format', () => {
  test('fm converts; each format has its Content-Type', async () => {
    const expect: Record<string, [string, string]> = {
      jpg: ['jpeg', 'image/jpeg'], pjpg: ['jpeg', 'image/jpeg'], png: ['png', 'image/png'], png8: ['png', 'image/png'], png32: ['png', 'image/png'],
      webp: ['webp', 'image/webp'], avif: ['heif', 'image/avif'], gif: ['gif', 'image/gif'],
    };
    for (const [fm, [format, ct]] of Object.entries(expect)) {
      const r = await render(quad, `w=20&fm=${fm}`);
      assert.equal(r.meta.format, format, fm);
      assert.equal(r.contentType, ct, fm);
    }
  });
  test('no fm keeps the source format', async () => {
    assert.equal((await render(quadJpeg, 'w=20')).meta.format, 'jpeg');
    assert.equal((await render(quad, 'w=20')).meta.format, 'png');
    const gif = await animatedGif(2);
    assert.equal((await render(gif, 'w=20')).meta.format, 'gif');
  });
  test('JPEG is progressive by default, as imgix; jpg-progressive=false is baseline; pjpg always progressive', async () => {
    assert.equal((await render(quad, 'fm=jpg')).meta.isProgressive, true);
    assert.equal((await render(quadJpeg, 'w=50')).meta.isProgressive, true);
    assert.equal((await render(quad, 'fm=jpg&jpg-progressive=false')).meta.isProgressive, false);
    assert.equal((await render(quadJpeg, 'w=50&jpeg-progressive=0')).meta.isProgressive, false);
    assert.equal((await render(quad, 'fm=pjpg&jpg-progressive=false')).meta.isProgressive, true);
  });
  test('fm that cannot be encoded: the closest format, named in a response header', async () => {
    const jp2 = await render(quad, 'w=20&fm=jp2');
    assert.equal(jp2.contentType, 'image/png');
    assert.equal(jp2.headers['X-Imagegate-Format-Substituted'], 'jp2->png');
    assert.equal((await render(quad, 'w=20&fm=jxr')).headers['X-Imagegate-Format-Substituted'], 'jxr->png');
    const mp4 = await render(quadJpeg, 'w=20&fm=mp4');
    assert.equal(mp4.contentType, 'image/jpeg');
    assert.equal(mp4.headers['X-Imagegate-Format-Substituted'], 'mp4->jpg');
    const anim = await render(await animatedGif(3), 'w=20&fm=mp4');
    assert.equal(anim.meta.format, 'gif');
    assert.equal(anim.meta.pages, 3, 'an animation stays animated');
    assert.equal(anim.headers['X-Imagegate-Format-Substituted'], 'mp4->gif');
    assert.equal((await render(quad, 'w=20&fm=png')).headers['X-Imagegate-Format-Substituted'], undefined);
  });
  test('png8 is a palette, chromasub=444 keeps chroma', async () => {
    assert.equal((await render(quad, 'fm=png8')).meta.isPalette, true);
    assert.equal((await render(quad, 'fm=png32')).meta.isPalette, false);
    assert.equal((await render(quad, 'fm=jpg&chromasub=444')).meta.chromaSubsampling, '4:4:4');
    assert.equal((await render(quad, 'fm=jpg')).meta.chromaSubsampling, '4:2:0');
  });
  test('q and auto=compress change the size; lossless WebP keeps exact pixels', async () => {
    const noise = await sharp({ create: { width: 128, height: 128, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 128, sigma: 40 } } }).png().toBuffer();
    const q90 = await render(noise, 'fm=jpg&q=90');
    const q20 = await render(noise, 'fm=jpg&q=20');
    const def = await render(noise, 'fm=jpg');
    const compress = await render(noise, 'fm=jpg&auto=compress');
    assert.ok(q20.body.length < def.body.length && def.body.length < q90.body.length);
    assert.ok(compress.body.length < def.body.length, 'auto=compress lowers the default quality');
    // A quality given in the URL wins over auto=compress's, 75 included (imgix's nominal default).
    const compress75 = await render(noise, 'fm=jpg&auto=compress&q=75');
    assert.ok(compress75.body.equals(def.body), 'auto=compress&q=75 renders at 75');
    const lossless = await render(quad, 'fm=webp&lossless=1');
    assert.deepEqual(await pixel(lossless.body, 150, 75), [255, 255, 255, 255]);
    assert.deepEqual(await pixel(lossless.body, 10, 10), [255, 0, 0, 255]);
  });
  test('auto=format picks AVIF or WebP from Accept, with Vary', async () => {
    const a = await render(quadJpeg, 'w=20&auto=format', { accept: 'image/avif,image/webp,*/*' });
    assert.equal(a.contentType, 'image/avif');
    assert.equal(a.vary, true);
    const w = await render(quadJpeg, 'w=20&auto=format', { accept: 'image/avif;q=0,image/webp' });
    assert.equal(w.contentType, 'image/webp');
    const k = await render(quadJpeg, 'w=20&auto=format', { accept: 'image/*' });
    assert.equal(k.contentType, 'image/jpeg');
  });
  test('fm=json: source metadata in imgix field names, without decoding', async () => {
    const exif = await sharp(quadJpeg).withMetadata({ orientation: 6, density: 300 }).jpeg().toBuffer();
    const r = await render(exif, 'fm=json&w=10');
    assert.equal(r.contentType, 'application/json');
    const j = JSON.parse(r.body.toString());
    assert.equal(j.PixelWidth, 200);
    assert.equal(j.PixelHeight, 100);
    assert.equal(j.Orientation, 6);
    assert.equal(j.ColorModel, 'RGB');
    assert.equal(j.DPIWidth, 300);
    assert.equal(j['Content-Type'], 'image/jpeg');
    assert.equal(j['Content-Length'], String(exif.length));
  });
  test('fm=blurhash returns the BlurHash of the rendered image', async () => {
    const { decode } = await import('blurhash');
    const r = await render(await solid(64, 32, RED), 'fm=blurhash');
    assert.equal(r.contentType, 'text/plain; charset=utf-8');
    const hash = r.body.toString();
    assert.match(hash, /^[0-9A-Za-z#$%*+,\-.:;=?@[\]^_{|}~]{28}$/);
    const px = decode(hash, 4, 4);
    assert.ok(near([px[0]!, px[1]!, px[2]!], [255, 0, 0], 10));
  });
  test('metadata is stripped and colour converted to sRGB by default; cs=origin keeps the profile', async () => {
    const p3 = await sharp(quadJpeg).withIccProfile('p3').withExif({ IFD0: { Copyright: 'someone' } }).jpeg().toBuffer();
    const meta = await sharp(p3).metadata();
    assert.ok(meta.icc && meta.exif, 'fixture carries a profile and EXIF');
    const r = await render(p3, 'w=100');
    assert.equal(r.meta.icc, undefined);
    assert.equal(r.meta.exif, undefined);
    const o = await render(p3, 'w=100&cs=origin');
    assert.ok(o.meta.icc, 'cs=origin keeps the ICC profile');
    const strip = await render(p3, 'w=100&cs=strip');
    assert.equal(strip.meta.icc, undefined);
  });
});

describe('orientation', () => {
  let exif6: Buffer;
  before(async () => {
    exif6 = await sharp(quad).withMetadata({ orientation: 6 }).jpeg({ quality: 95 }).toBuffer();
  });
  test('EXIF orientation is applied by default', async () => {
    const r = await render(exif6, 'w=50');
    assert.deepEqual([r.meta.width, r.meta.height], [50, 100]);
    assert.equal(r.meta.orientation, undefined);
    // Rotated 90° clockwise: the blue (bottom-left) quadrant is now top-left.
    assert.ok(near(await pixel(r.body, 5, 5), [0, 0, 255], 30));
    assert.ok(near(await pixel(r.body, 45, 5), [255, 0, 0], 30));
  });
  test('orient overrides EXIF: 1 keeps the stored pixels, 90/180/270 are EXIF 6/3/8', async () => {
    const keep = await render(exif6, 'orient=1');
    assert.deepEqual([keep.meta.width, keep.meta.height], [200, 100]);
    assert.ok(near(await pixel(keep.body, 5, 5), [255, 0, 0], 30));
    const o180 = await render(quad, 'orient=180');
    assert.ok(near(await pixel(o180.body, 5, 5), [255, 255, 255]));
    const o90 = await render(quad, 'orient=90');
    assert.deepEqual([o90.meta.width, o90.meta.height], [100, 200]);
    assert.ok(near(await pixel(o90.body, 5, 5), [0, 0, 255]));
    const o270 = await render(quad, 'orient=270');
    assert.ok(near(await pixel(o270.body, 5, 5), [0, 255, 0]));
    const o2 = await render(quad, 'orient=2');
    assert.ok(near(await pixel(o2.body, 5, 5), [0, 255, 0]), 'EXIF 2 mirrors');
  });
  test('every orient value matches what sharp does with that EXIF orientation', async () => {
    for (let v = 1; v <= 8; v++) {
      const tagged = await sharp(quad).withMetadata({ orientation: v }).png().toBuffer();
      const expected = await sharp(tagged).autoOrient().raw().toBuffer();
      const r = await render(quad, `orient=${v}&fm=png`);
      const got = await sharp(r.body).raw().toBuffer();
      assert.ok(expected.equals(got), `orient=${v}`);
    }
  });
  test('flip=h, v, hv mirror', async () => {
    assert.ok(near(await pixel((await render(quad, 'flip=h')).body, 5, 5), [0, 255, 0]));
    assert.ok(near(await pixel((await render(quad, 'flip=v')).body, 5, 5), [0, 0, 255]));
    assert.ok(near(await pixel((await render(quad, 'flip=hv')).body, 5, 5), [255, 255, 255]));
    const both = await render(quad, 'flip=h&orient=3');
    assert.ok(near(await pixel(both.body, 5, 5), [0, 0, 255]), 'flip composes with orient');
  });
  test('rot turns counter-clockwise inside the frame and zooms to cover it', async () => {
    const r = await render(quad, 'rot=180&fm=png');
    assert.deepEqual([r.meta.width, r.meta.height], [200, 100]);
    assert.ok(near(await pixel(r.body, 5, 5), [255, 255, 255]));
    const q = await render(await quadrants('png', 100, 100), 'rot=90&fm=png');
    assert.deepEqual([q.meta.width, q.meta.height], [100, 100]);
    // Counter-clockwise: the top-right (green) quadrant moves to the top-left.
    assert.ok(near(await pixel(q.body, 5, 5), [0, 255, 0]));
    const t = await render(quad, 'rot=30&fm=png');
    assert.deepEqual([t.meta.width, t.meta.height], [200, 100]);
    assert.equal((await pixel(t.body, 0, 0))[3], 255, 'corners stay covered');
    assert.equal((await pixel(t.body, 199, 99))[3], 255);
  });
});

describe('adjust', () => {
  const mean = async (q: string, img = grey) => (await stats((await render(img, `${q}&fm=png`)).body)).mean;
  test('bri brightens and darkens', async () => {
    assert.ok((await mean('bri=50'))[0]! > 180);
    assert.ok((await mean('bri=-50'))[0]! < 80);
  });
  test('exp changes exposure', async () => {
    assert.ok((await mean('exp=50'))[0]! > 200);
    assert.ok((await mean('exp=-50'))[0]! < 90);
  });
  test('con spreads or flattens tones', async () => {
    const spread = async (q: string) => (await stats((await render(gradient, `${q}&fm=png`)).body)).stdev[0]!;
    const base = await spread('w=256');
    assert.ok((await spread('con=50')) > base * 1.2);
    assert.ok((await spread('con=-50')) < base * 0.8);
  });
  test('gam lifts or lowers mid-tones', async () => {
    assert.ok((await mean('gam=50'))[0]! > 150);
    assert.ok((await mean('gam=-50'))[0]! < 110);
  });
  test('sat=-100 is grey, hue rotates, vib changes saturation', async () => {
    const red = await solid(32, 32, { r: 200, g: 60, b: 60 });
    const g = await mean('sat=-100', red);
    assert.ok(Math.abs(g[0]! - g[1]!) < 4 && Math.abs(g[1]! - g[2]!) < 4, `grey: ${g}`);
    const h = await mean('hue=120', red);
    assert.ok(h[1]! > h[0]!, `hue moved red towards green: ${h}`);
    const v = await mean('vib=100', red);
    assert.ok(v[0]! - v[1]! > 140 - 5, `more saturated: ${v}`);
  });
  test('sharp and usm add contrast at edges; blur smooths; usm<0 softens', async () => {
    const edge = await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 100, g: 100, b: 100 } } })
      .composite([{ input: await solid(32, 64, { r: 160, g: 160, b: 160 }), left: 32, top: 0 }])
      .png()
      .toBuffer();
    const row = async (q: string) => {
      const r = await render(edge, `${q}&fm=png`);
      return [(await pixel(r.body, 30, 32))[0], (await pixel(r.body, 33, 32))[0]] as [number, number];
    };
    const [a0, b0] = await row('w=64');
    const [a1, b1] = await row('sharp=80');
    assert.ok(a1 < a0 - 3 || b1 > b0 + 3, `sharp overshoots at the edge: ${a1},${b1}`);
    const [a2, b2] = await row('usm=80&usmrad=3');
    assert.ok(a2 < a0 - 3 || b2 > b0 + 3, `usm overshoots: ${a2},${b2}`);
    const [a3, b3] = await row('blur=30');
    assert.ok(a3 > a0 + 3 && b3 < b0 - 3, `blur smooths: ${a3},${b3}`);
    const [a4, b4] = await row('usm=-80');
    assert.ok(a4 > a0 + 1 && b4 < b0 - 1, `negative usm softens: ${a4},${b4}`);
  });
});

describe('stylize', () => {
  test('px pixelates into blocks', async () => {
    const r = await render(gradient, 'px=16&fm=png');
    assert.deepEqual([r.meta.width, r.meta.height], [256, 64]);
    const a = await pixel(r.body, 0, 0);
    const b = await pixel(r.body, 15, 15);
    const c = await pixel(r.body, 16, 0);
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
  });
  test('monochrome tints, sepia browns, invert negates', async () => {
    const m = (await stats((await render(quad, 'mono=00f&fm=png')).body)).mean;
    assert.ok(m[2]! > m[0]! && m[2]! > m[1]!, `blue tint: ${m}`);
    const s = await pixel((await render(await solid(16, 16, { r: 128, g: 128, b: 128 }), 'sepia=100&fm=png')).body, 8, 8);
    assert.ok(s[0] > s[1] && s[1] > s[2], `sepia: ${s}`);
    const i = await pixel((await render(quad, 'invert=true&fm=png')).body, 5, 5);
    assert.ok(near(i, [0, 255, 255, 255]));
  });
  test('duotone maps shadows and highlights; duotone-alpha blends', async () => {
    const bw = await sharp({ create: { width: 64, height: 32, channels: 3, background: { r: 0, g: 0, b: 0 } } })
      .composite([{ input: await solid(32, 32, WHITE), left: 32, top: 0 }])
      .png()
      .toBuffer();
    const r = await render(bw, 'duotone=ff0000,0000ff&fm=png');
    assert.ok(near(await pixel(r.body, 5, 5), [255, 0, 0, 255], 6));
    assert.ok(near(await pixel(r.body, 50, 5), [0, 0, 255, 255], 6));
    const half = await render(bw, 'duotone=ff0000,0000ff&duotone-alpha=50&fm=png');
    assert.ok(near(await pixel(half.body, 5, 5), [128, 0, 0, 255], 6));
  });
});

describe('background, padding, border, trim', () => {
  test('bg fills transparency (flattened for JPEG, white by default)', async () => {
    const r = await render(transparent, 'bg=00f&fm=png');
    assert.ok(near(await pixel(r.body, 90, 50), [0, 0, 255, 255]));
    const j = await render(transparent, 'fm=jpg');
    assert.ok(near(await pixel(j.body, 90, 50), [255, 255, 255]));
    const keep = await render(transparent, 'fm=png&w=100');
    assert.equal((await pixel(keep.body, 90, 50))[3], 0, 'transparency kept without bg');
    const argb = await render(transparent, 'fm=png&bg=80ffffff');
    assert.equal((await pixel(argb.body, 90, 50))[3], 0, 'a translucent bg does not flatten');
  });
  test('pad adds space in bg around the image, inside w/h when given', async () => {
    const r = await render(quad, 'pad=10&bg=000&fm=png');
    assert.deepEqual([r.meta.width, r.meta.height], [220, 120]);
    assert.ok(near(await pixel(r.body, 5, 5), [0, 0, 0, 255]));
    assert.ok(near(await pixel(r.body, 15, 15), [255, 0, 0, 255]));
    const sized = await render(quad, 'w=100&h=100&pad=10&fm=png');
    assert.ok(sized.meta.width! <= 100 && sized.meta.height! <= 100);
    assert.equal(sized.meta.width, 100);
    const sides = await render(quad, 'pad-left=30&pad-top=5&bg=0f0&fm=png');
    assert.deepEqual([sides.meta.width, sides.meta.height], [230, 105]);
    assert.ok(near(await pixel(sides.body, 10, 50), [0, 255, 0, 255]));
    const clear = await render(quad, 'pad=10&fm=png');
    assert.equal((await pixel(clear.body, 2, 2))[3], 0);
  });
  test('border draws a coloured frame', async () => {
    const r = await render(quad, 'border=4,ff00ff&fm=png');
    assert.deepEqual([r.meta.width, r.meta.height], [208, 108]);
    assert.ok(near(await pixel(r.body, 1, 50), [255, 0, 255, 255]));
    assert.ok(near(await pixel(r.body, 6, 6), [255, 0, 0, 255]));
  });
  test('border-radius makes the corners transparent (bg-coloured in JPEG)', async () => {
    const r = await render(quad, 'border-radius=30&fm=png');
    assert.equal((await pixel(r.body, 1, 1))[3], 0);
    assert.equal((await pixel(r.body, 100, 50))[3], 255);
    const four = await render(quad, 'border-radius=30,0,0,0&fm=png');
    assert.equal((await pixel(four.body, 1, 1))[3], 0);
    assert.equal((await pixel(four.body, 198, 1))[3], 255);
    const j = await render(quad, 'border-radius=30&fm=jpg&bg=000');
    assert.ok(near(await pixel(j.body, 1, 1), [0, 0, 0]));
  });
  test('trim=auto cuts a uniform border; trim=color cuts that colour', async () => {
    const framed = await sharp(quad).extend({ top: 20, bottom: 20, left: 30, right: 30, background: { r: 0, g: 0, b: 0 } }).png().toBuffer();
    const r = await render(framed, 'trim=auto&fm=png');
    assert.deepEqual([r.meta.width, r.meta.height], [200, 100]);
    const c = await render(framed, 'trim=color&trim-color=000&trim-tol=5&fm=png');
    assert.deepEqual([c.meta.width, c.meta.height], [200, 100]);
    const sized = await render(framed, 'trim=auto&w=100&fm=png');
    assert.deepEqual([sized.meta.width, sized.meta.height], [100, 50]);
  });
});

describe('watermark and text', () => {
  const mark = () => solid(20, 10, GREEN);
  const loadMark = async (p: string) => (p === 'logo.png' ? mark() : undefined);
  test('mark is drawn bottom-right by default, mark-pad from the edge', async () => {
    const base = await solid(100, 100, WHITE);
    const r = await render(base, 'mark=logo.png&fm=png', { ctx: { loadMark } });
    assert.ok(near(await pixel(r.body, 90, 90), [0, 255, 0, 255]));
    assert.ok(near(await pixel(r.body, 50, 50), [255, 255, 255, 255]));
    assert.ok(near(await pixel(r.body, 98, 98), [255, 255, 255, 255]), 'mark-pad 5 by default');
  });
  test('mark64, mark-align, mark-x/y, mark-w/h, mark-scale, mark-alpha', async () => {
    const base = await solid(100, 100, WHITE);
    const b64 = Buffer.from('logo.png').toString('base64url');
    const tl = await render(base, `mark64=${b64}&mark-align=top,left&mark-pad=0&fm=png`, { ctx: { loadMark } });
    assert.ok(near(await pixel(tl.body, 2, 2), [0, 255, 0, 255]));
    const xy = await render(base, 'mark=logo.png&mark-x=40&mark-y=60&fm=png', { ctx: { loadMark } });
    assert.ok(near(await pixel(xy.body, 45, 65), [0, 255, 0, 255]));
    assert.ok(near(await pixel(xy.body, 35, 65), [255, 255, 255, 255]));
    const big = await render(base, 'mark=logo.png&mark-w=0.5&mark-h=40&mark-fit=scale&mark-align=top,left&mark-pad=0&fm=png', { ctx: { loadMark } });
    assert.ok(near(await pixel(big.body, 45, 35), [0, 255, 0, 255]));
    assert.ok(near(await pixel(big.body, 55, 45), [255, 255, 255, 255]));
    const scaled = await render(base, 'mark=logo.png&mark-scale=80&mark-align=middle,center&fm=png', { ctx: { loadMark } });
    assert.ok(near(await pixel(scaled.body, 12, 50), [0, 255, 0, 255]), '80% of the width');
    const faint = await render(base, 'mark=logo.png&mark-alpha=50&fm=png', { ctx: { loadMark } });
    assert.ok(near(await pixel(faint.body, 90, 90), [128, 255, 128, 255], 8));
  });
  test('a missing mark is a 400 naming it', async () => {
    await assert.rejects(render(await solid(10, 10, WHITE), 'mark=nope.png', { ctx: { loadMark } }), (e: any) => e.status === 400 && /mark: /.test(e.publicMessage));
  });
  test('txt and txt64 draw text in txt-color', async () => {
    const base = await solid(200, 60, WHITE);
    const r = await render(base, 'txt=HELLO&txt-size=40&txt-color=f00&txt-align=middle,center&fm=png');
    const s = await stats(r.body);
    assert.ok(s.mean[1]! < 250, 'some pixels are no longer white');
    assert.ok(Math.abs(s.mean[0]! - 255) < 2, 'red text keeps the red channel');
    const b64 = Buffer.from('HELLO').toString('base64url');
    const r64 = await render(base, `txt64=${b64}&txt-size=40&txt-color=f00&txt-align=middle,center&fm=png`);
    assert.ok((await sharp(r64.body).raw().toBuffer()).equals(await sharp(r.body).raw().toBuffer()), 'txt64 renders the same');
  });
});

describe('animation', () => {
  test('animated GIF stays animated through resize and conversion to WebP', async () => {
    const gif = await animatedGif(3);
    const r = await render(gif, 'w=20');
    assert.equal(r.meta.format, 'gif');
    assert.equal(r.meta.pages, 3);
    assert.equal(r.meta.width, 20);
    assert.equal(r.meta.pageHeight ?? r.meta.height, 15);
    const w = await render(gif, 'w=20&fm=webp');
    assert.equal(w.meta.format, 'webp');
    assert.equal(w.meta.pages, 3);
    const frame2 = await sharp(w.body, { page: 1 }).raw().toBuffer({ resolveWithObject: true });
    assert.ok(near([frame2.data[0]!, frame2.data[1]!, frame2.data[2]!], [0, 255, 0], 30), 'second frame is green');
  });
  test('the frame limit drops later frames; still formats take the first frame', async () => {
    const gif = await animatedGif(5);
    const r = await render(gif, 'w=20', { config: { maxFrames: 2 } });
    assert.equal(r.meta.pages, 2);
    const j = await render(gif, 'w=20&fm=jpg');
    assert.equal(j.meta.pages ?? 1, 1);
    assert.equal(j.meta.height, 15);
  });
});

describe('animation and auto=format', () => {
  const AVIF_AND_WEBP = 'image/avif,image/webp,*/*';
  test('an animated source under auto=format stays animated: animated WebP where accepted, never a one-frame AVIF', async () => {
    const gif = await animatedGif(3);
    const r = await render(gif, 'w=20&auto=format', { accept: AVIF_AND_WEBP });
    assert.equal(r.contentType, 'image/webp');
    assert.equal(r.meta.pages, 3);
  });
  test('…else GIF (AVIF accepted, WebP not)', async () => {
    const r = await render(await animatedGif(3), 'w=20&auto=format', { accept: 'image/avif,*/*' });
    assert.equal(r.contentType, 'image/gif');
    assert.equal(r.meta.pages, 3);
  });
  test('a still under auto=format still gets AVIF', async () => {
    assert.equal((await render(quad, 'w=20&auto=format', { accept: AVIF_AND_WEBP })).contentType, 'image/avif');
  });
  test('frame=N picks one frame (1 is the first) as a still; auto=format may then use AVIF', async () => {
    const gif = await animatedGif(4);
    const r = await render(gif, 'frame=2');
    assert.equal(r.meta.pages ?? 1, 1);
    assert.ok(near(await pixel(r.body, 5, 5), [0, 255, 0], 30), 'the second frame is green');
    const third = await render(gif, 'frame=3&fm=png');
    assert.ok(near(await pixel(third.body, 5, 5), [0, 0, 255], 30), 'the third is blue');
    const avif = await render(gif, 'frame=2&auto=format', { accept: AVIF_AND_WEBP });
    assert.equal(avif.contentType, 'image/avif');
    const last = await render(gif, 'frame=99&fm=png');
    assert.ok(near(await pixel(last.body, 5, 5), [255, 255, 255], 30), 'beyond the end: the last frame');
  });
  test('frame=N-M keeps a range of frames, animated', async () => {
    const gif = await animatedGif(4);
    const r = await render(gif, 'frame=2-3&fm=webp');
    assert.equal(r.meta.pages, 2);
    const first = await sharp(r.body, { page: 0 }).raw().toBuffer();
    assert.ok(near([first[0]!, first[1]!, first[2]!], [0, 255, 0], 30), 'starts at the second frame');
  });
  test('auto=format gives WebP instead of AVIF above transform.autoAvifMaxPixels (or the source format without WebP)', async () => {
    const cfg = { autoAvifMaxPixels: 100 * 50 };
    assert.equal((await render(quadJpeg, 'w=100&auto=format', { accept: AVIF_AND_WEBP, config: cfg })).contentType, 'image/avif', 'at the threshold');
    assert.equal((await render(quadJpeg, 'w=102&auto=format', { accept: AVIF_AND_WEBP, config: cfg })).contentType, 'image/webp', 'above it');
    assert.equal((await render(quadJpeg, 'w=102&auto=format', { accept: 'image/avif', config: cfg })).contentType, 'image/jpeg');
    assert.equal((await render(quadJpeg, 'w=102&fm=avif', { accept: AVIF_AND_WEBP, config: cfg })).contentType, 'image/avif', 'fm=avif is always honoured');
  });
});

describe('parameter order', () => {
  test('never changes the output', async () => {
    const a = 'w=120&h=80&fit=crop&crop=left&bri=10&sat=-30&pad=4&bg=00f&border=2,f00&fm=png&sepia=40&blur=5';
    const parts = a.split('&');
    const b = [...parts].reverse().join('&');
    const c = [...parts.slice(5), ...parts.slice(0, 5)].join('&');
    const ra = await render(quad, a);
    const rb = await render(quad, b);
    const rc = await render(quad, c);
    assert.ok(ra.body.equals(rb.body));
    assert.ok(ra.body.equals(rc.body));
  });
});

describe('fill and animation extras', () => {
  test('fill=blur fills the free space with a blurred copy of the image', async () => {
    const q = await quadrants('png');
    const r = await render(q, 'w=100&h=100&fit=fill&fill=blur&fm=png');
    assert.deepEqual([r.meta.width, r.meta.height], [100, 100]);
    const top = await pixel(r.body, 50, 5);
    assert.ok(top[0] > 60 && top[1] > 60 && top[3] === 255, `blurred red+green: ${top}`);
    assert.ok(near(await pixel(r.body, 5, 30), [255, 0, 0, 255]));
  });
  test('watermarks, text and rounded corners apply to every frame of an animation', async () => {
    const gif = await animatedGif(3, 40, 30);
    const loadMark = async () => solid(8, 8, { r: 0, g: 0, b: 0 });
    const r = await render(gif, 'fm=webp&lossless=1&mark=m.png&mark-align=top,left&mark-pad=0&border-radius=6', { ctx: { loadMark } });
    assert.equal(r.meta.pages, 3);
    for (let p = 0; p < 3; p++) {
      const f = await sharp(r.body, { page: p }).png().toBuffer();
      assert.ok(near(await pixel(f, 4, 4), [0, 0, 0, 255], 10), `mark on frame ${p}`);
      assert.equal((await pixel(f, 39, 29))[3], 0, `rounded corner on frame ${p}`);
    }
  });
  test('smart crops on animations fall back to the centre; unsupported operations are a 422', async () => {
    const gif = await animatedGif(3, 40, 30);
    const r = await render(gif, 'w=20&h=20&fit=crop&crop=entropy');
    assert.equal(r.meta.pages, 3);
    await assert.rejects(render(gif, 'rot=10'), (e: any) => e.status === 422 && e.code === 'unsupported_transformation');
  });
});
