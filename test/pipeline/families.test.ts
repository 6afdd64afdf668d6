import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { render, pixel, stats, near, solid, quadrants, withIptc, animatedGif, RED, GREEN, BLUE, WHITE } from './helpers.ts';

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

describe('borders: per side and inner radius', () => {
  test('border-top/-left set one side\'s width; the others keep border\'s', async () => {
    const r = await render(await solid(40, 40, WHITE), 'border=5,f00&border-top=20&border-left=0&fm=png');
    assert.deepEqual([r.meta.width, r.meta.height], [45, 65]);
    assert.deepEqual(await pixel(r.body, 20, 10), [255, 0, 0, 255], 'a 20-pixel top border');
    assert.deepEqual(await pixel(r.body, 0, 40), [255, 255, 255, 255], 'no left border');
    assert.deepEqual(await pixel(r.body, 43, 40), [255, 0, 0, 255], 'right border of 5');
  });
  test('border-radius-inner fills the inner corners with the border colour', async () => {
    const plain = await render(await solid(60, 60, WHITE), 'border=4,00f&fm=png');
    const inner = await render(await solid(60, 60, WHITE), 'border=4,00f&border-radius-inner=20&fm=png');
    assert.deepEqual(await pixel(plain.body, 6, 6), [255, 255, 255, 255]);
    assert.deepEqual(await pixel(inner.body, 6, 6), [0, 0, 255, 255], 'inside the corner: border colour');
    assert.deepEqual(await pixel(inner.body, 34, 34), [255, 255, 255, 255], 'the middle is the image');
  });
});

describe('rot-type', () => {
  test('pivot keeps the whole image on a grown canvas; straighten (default) keeps the frame', async () => {
    const s = await render(quad, 'rot=90&fm=png');
    assert.deepEqual([s.meta.width, s.meta.height], [200, 100]);
    const p = await render(quad, 'rot=90&rot-type=pivot&fm=png');
    assert.deepEqual([p.meta.width, p.meta.height], [100, 200]);
    // Counter-clockwise: the top-right (green) quadrant is now at the top-left.
    assert.ok(near(await pixel(p.body, 10, 10), [0, 255, 0, 255]));
  });
});

describe('trim family', () => {
  let cutout: Buffer; // 100×60: a 40×20 red block at (30,20), the rest transparent or faint
  before(async () => {
    const block = await sharp({ create: { width: 40, height: 20, channels: 4, background: { ...RED, alpha: 1 } } }).png().toBuffer();
    const faint = await sharp({ create: { width: 4, height: 4, channels: 4, background: { ...BLUE, alpha: 0.1 } } }).png().toBuffer();
    cutout = await sharp({ create: { width: 100, height: 60, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } })
      .composite([{ input: block, left: 30, top: 20 }, { input: faint, left: 0, top: 0 }])
      .png()
      .toBuffer();
  });
  test('trim=alpha cuts transparent borders; trim-alpha counts faint pixels as transparent', async () => {
    const a = await render(cutout, 'trim=alpha');
    assert.deepEqual([a.meta.width, a.meta.height], [70, 40], 'the faint corner pixel keeps the box open to the top-left');
    const b = await render(cutout, 'trim=alpha&trim-alpha=40');
    assert.deepEqual([b.meta.width, b.meta.height], [40, 20]);
    const c = await render(cutout, 'trim=colorunlessalpha&trim-alpha=40');
    assert.deepEqual([c.meta.width, c.meta.height], [40, 20], 'an image with alpha: alpha');
  });
  test('trim-pad keeps some of the border; negative cuts further in', async () => {
    const framed = await sharp(await solid(50, 30, GREEN)).extend({ top: 20, bottom: 20, left: 20, right: 20, background: WHITE }).png().toBuffer();
    const t = await render(framed, 'trim=auto');
    assert.deepEqual([t.meta.width, t.meta.height], [50, 30]);
    const p = await render(framed, 'trim=auto&trim-pad=5');
    assert.deepEqual([p.meta.width, p.meta.height], [60, 40]);
    assert.deepEqual(await pixel(p.body, 1, 1), [255, 255, 255, 255], 'the kept border');
    const n = await render(framed, 'trim=auto&trim-pad=-5');
    assert.deepEqual([n.meta.width, n.meta.height], [40, 20]);
  });
  test('trim-md is the threshold of trim=auto', async () => {
    // A light grey frame (230) around white-ish content: a high threshold cuts into it.
    const framed = await sharp(await solid(50, 30, { r: 200, g: 200, b: 200 })).extend({ top: 10, bottom: 10, left: 10, right: 10, background: WHITE }).png().toBuffer();
    const low = await render(framed, 'trim=auto&trim-md=20');
    assert.deepEqual([low.meta.width, low.meta.height], [50, 30]);
    const high = await render(framed, 'trim=auto&trim-md=100');
    assert.deepEqual([high.meta.width, high.meta.height], [70, 50], 'nothing differs by more than 100: nothing is cut');
  });
});

describe('format details', () => {
  test('dpi is written into the file', async () => {
    for (const fm of ['jpg', 'png']) {
      const r = await render(photo, `w=50&dpi=300&fm=${fm}`);
      assert.equal(Math.round(r.meta.density!), 300, fm);
      const d = await render(photo, `w=50&fm=${fm}`);
      assert.notEqual(Math.round(d.meta.density ?? 72), 300);
    }
  });
  test('colorquant limits the colours: a palette of that size for PNG, few distinct colours for WebP', async () => {
    const png = await render(photo, 'colorquant=4&fm=png');
    const count = async (buf: Buffer) => {
      const { data, info } = await sharp(buf).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      const set = new Set<number>();
      for (let i = 0; i < data.length; i += info.channels) set.add((data[i]! << 16) | (data[i + 1]! << 8) | data[i + 2]!);
      return set.size;
    };
    assert.ok((await count(png.body)) <= 4, 'PNG: at most 4 colours');
    assert.ok((await count((await render(photo, 'fm=png')).body)) > 100, 'without: many');
    const webp = await render(photo, 'colorquant=4&fm=webp&lossless=1');
    assert.ok((await count(webp.body)) <= 4, 'lossless WebP of the reduced colours');
  });
});

describe('transparency=grid', () => {
  test('transparent areas show the checkerboard in grid-colors and grid-size', async () => {
    const clear = await sharp({ create: { width: 40, height: 40, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } }).png().toBuffer();
    const r = await render(clear, 'transparency=grid&grid-colors=f00,00f&grid-size=10&fm=png');
    assert.deepEqual((await pixel(r.body, 5, 5)).slice(0, 3), [255, 0, 0]);
    assert.deepEqual((await pixel(r.body, 15, 5)).slice(0, 3), [0, 0, 255]);
    assert.deepEqual((await pixel(r.body, 15, 15)).slice(0, 3), [255, 0, 0]);
    const d = await render(clear, 'transparency=grid&fm=png');
    assert.deepEqual((await pixel(d.body, 1, 1)).slice(0, 3), [0xd0, 0xd7, 0xdd], 'imgix\'s default colours');
  });
});

describe('tone and noise', () => {
  let ramp: Buffer; // 256×16 grey ramp
  let noisy: Buffer; // mid grey with salt-and-pepper noise
  before(async () => {
    const r = Buffer.alloc(256 * 16 * 3);
    for (let y = 0; y < 16; y++) for (let x = 0; x < 256; x++) r.fill(x, (y * 256 + x) * 3, (y * 256 + x) * 3 + 3);
    ramp = await sharp(r, { raw: { width: 256, height: 16, channels: 3 } }).png().toBuffer();
    const n = Buffer.alloc(64 * 64 * 3, 128);
    for (let i = 0; i < 64 * 64; i += 7) n.fill(i % 2 ? 255 : 0, i * 3, i * 3 + 3);
    noisy = await sharp(n, { raw: { width: 64, height: 64, channels: 3 } }).png().toBuffer();
  });
  const grey = async (buf: Buffer, x: number) => (await pixel(buf, x, 8))[0];
  test('shad lifts dark tones and leaves black and white; high pulls bright tones down', async () => {
    const s = await render(ramp, 'shad=80&fm=png');
    assert.ok((await grey(s.body, 64)) > 64 + 25, 'a dark grey is lifted');
    assert.ok(Math.abs((await grey(s.body, 250)) - 250) <= 3, 'white stays');
    assert.ok((await grey(s.body, 0)) <= 2, 'black stays');
    const h = await render(ramp, 'high=-80&fm=png');
    assert.ok((await grey(h.body, 190)) < 190 - 25, 'a light grey is darkened');
    assert.ok(Math.abs((await grey(h.body, 20)) - 20) <= 5, 'shadows stay');
  });
  test('nr removes salt-and-pepper noise; nrs changes the result', async () => {
    const before = await stats(noisy);
    const r = await render(noisy, 'nr=40&fm=png');
    const after = await stats(r.body);
    assert.ok(after.stdev[0]! < before.stdev[0]! / 3, `stdev ${before.stdev[0]} → ${after.stdev[0]}`);
    // nrs sharpens what the median left: edges (the disc of the photo) get more contrast.
    const soft = await render(photo, 'nr=40&nrs=0&fm=png');
    const crisp = await render(photo, 'nr=40&nrs=100&fm=png');
    assert.ok((await stats(crisp.body)).stdev[2]! > (await stats(soft.body)).stdev[2]!);
  });
  test('htn turns a flat grey into dots of black and white', async () => {
    const r = await render(await solid(60, 60, { r: 128, g: 128, b: 128 }), 'htn=100&fm=png');
    const { data } = await sharp(r.body).raw().toBuffer({ resolveWithObject: true });
    const extremes = [...data].filter((v) => v === 0 || v === 255).length;
    assert.ok(extremes / data.length > 0.95, `${extremes} of ${data.length} channel values are 0 or 255`);
    assert.ok(near((await stats(r.body)).mean, [128, 128, 128], 30), 'the same tone on average');
  });
});

describe('fill=gradient', () => {
  let square: Buffer;
  before(async () => {
    square = await solid(100, 100, GREEN);
  });
  const FILL = 'fit=fill&w=300&h=100&fill=gradient&fm=png';
  test('linear: from the first colour to the second, top to bottom by default; direction turns it', async () => {
    const r = await render(square, `${FILL}&fill-gradient-linear=f00,00f`);
    assert.ok(near(await pixel(r.body, 5, 1), [255, 0, 0, 255], 25), 'top: red');
    assert.ok(near(await pixel(r.body, 5, 98), [0, 0, 255, 255], 25), 'bottom: blue');
    assert.deepEqual(await pixel(r.body, 150, 50), [0, 255, 0, 255], 'the image in the middle');
    const right = await render(square, `${FILL}&fill-gradient-linear=f00,00f&fill-gradient-linear-direction=right`);
    assert.ok(near(await pixel(right.body, 1, 50), [255, 0, 0, 255], 25), 'left: red');
    assert.ok(near(await pixel(right.body, 298, 50), [0, 0, 255, 255], 25), 'right: blue');
  });
  test('the colour space changes the middle of the ramp', async () => {
    const q = `${FILL}&fill-gradient-linear=f00,00f&fill-gradient-linear-direction=right`;
    const srgb = await pixel((await render(square, q)).body, 50, 50);
    const lin = await pixel((await render(square, `${q}&fill-gradient-cs=linear`)).body, 50, 50);
    const hsl = await pixel((await render(square, `${q}&fill-gradient-cs=hsl`)).body, 50, 50);
    // A sixth of the way: sRGB mixes to (212,0,42); linear light keeps more red (235); HSL runs through magenta at full saturation (255,0,85).
    assert.ok(lin[0] > srgb[0] + 10, `linear ${lin} vs srgb ${srgb}`);
    assert.ok(hsl[0] > 245 && hsl[2] > srgb[2] + 20, `hsl ${hsl} vs srgb ${srgb}`);
  });
  test('radial: inner colour at the centre (fill-gradient-radial-x/y), outer beyond the radius', async () => {
    const q = `${FILL}&fill-gradient-type=radial&fill-gradient-radial=fff,000&fill-gradient-radial-radius=5,40&fill-gradient-radial-x=0.1&fill-gradient-radial-y=0.5`;
    const r = await render(square, q);
    assert.ok(near(await pixel(r.body, 30, 50), [255, 255, 255, 255], 10), 'centre (30,50) white');
    assert.ok(near(await pixel(r.body, 30, 5), [0, 0, 0, 255], 10), '45 px away: black');
    const wide = await render(square, q.replace('radius=5,40', 'radius=5,300'));
    assert.ok((await pixel(wide.body, 30, 5))[0] > 150, 'a larger outer radius: still light there');
  });
});

describe('fp-debug and iptc', () => {
  test('fp-debug marks the focal point in the crop with a magenta crosshair', async () => {
    const q = 'fit=crop&crop=focalpoint&w=100&h=100&fp-x=0.3&fp-y=0.5&fm=png';
    const plain = await render(photo, q);
    const dbg = await render(photo, `${q}&fp-debug=true`);
    // 256×128 → 200×100 scaled, crop box left = 0.3·200 − 50 = 10: the point is at x = 50, y = 50.
    assert.ok(near(await pixel(dbg.body, 50, 5), [255, 0, 255, 255], 40), 'vertical line through x=50');
    assert.ok(!near(await pixel(plain.body, 50, 5), [255, 0, 255, 255], 40));
    assert.ok(!near(await pixel(dbg.body, 70, 5), [255, 0, 255, 255], 40), 'nothing elsewhere');
  });
  test('iptc=allow keeps the source\'s IPTC block in a JPEG; by default it is removed', async () => {
    const src = withIptc(photo, 'A caption');
    const kept = await render(src, 'w=50&iptc=allow');
    assert.match(kept.meta.iptc?.toString('latin1') ?? '', /A caption/);
    assert.equal(kept.meta.exif, undefined, 'nothing else is kept');
    assert.equal((await render(src, 'w=50')).meta.iptc, undefined);
    assert.equal((await render(src, 'w=50&iptc=block')).meta.iptc, undefined);
  });
});

describe('fm=json with imgix\'s blocks', () => {
  test('TIFF, Exif, JFIF and Output blocks; the ICC profile\'s own name', async () => {
    const src = await sharp(photo)
      .withExif({ IFD0: { Make: 'Canon', Model: 'EOS 5D', Software: 'imagegate-test' }, IFD2: { ExposureTime: '1/125', FNumber: '28/10', ISOSpeedRatings: '200' } })
      .withIccProfile('p3')
      .jpeg({ progressive: true })
      .toBuffer();
    const r = await render(src, 'fm=json&w=64&pad=3');
    const j = JSON.parse(r.body.toString('utf8')) as Record<string, any>;
    assert.equal(j.TIFF.Make, 'Canon');
    assert.equal(j.TIFF.Model, 'EOS 5D');
    assert.equal(j.Exif.ExposureTime, 1 / 125);
    assert.equal(j.Exif.FNumber, 2.8);
    assert.deepEqual(j.Exif.ISOSpeedRatings, [200]);
    assert.match(j.ProfileName, /P3/, j.ProfileName);
    // A JPEG with a JFIF header at 72 dpi (mozjpeg writes none: spliced in after SOI).
    const bare = await sharp(photo).jpeg({ progressive: true }).toBuffer();
    const app0 = Buffer.from([0xff, 0xe0, 0, 16, 0x4a, 0x46, 0x49, 0x46, 0, 1, 1, 1, 0, 72, 0, 72, 0, 0]);
    const jfif = Buffer.concat([bare.subarray(0, 2), app0, bare.subarray(2)]);
    const plain = JSON.parse((await render(jfif, 'fm=json')).body.toString('utf8')) as Record<string, any>;
    assert.deepEqual(plain.JFIF, { DensityUnit: 1, XDensity: 72, YDensity: 72, IsProgressive: true });
    const rendered = await render(src, 'w=64&pad=3');
    assert.deepEqual(j.Output, { PixelWidth: rendered.meta.width, PixelHeight: rendered.meta.height }, 'the size the URL renders without fm=json');
    assert.equal(j.PixelWidth, 256, 'the source\'s own size stays');
  });
});

describe('mask', () => {
  test('ellipse: corners transparent, centre kept; mask-bg fills outside', async () => {
    const r = await render(await solid(100, 60, BLUE), 'mask=ellipse&fm=png');
    assert.equal((await pixel(r.body, 1, 1))[3], 0, 'corner transparent');
    assert.deepEqual(await pixel(r.body, 50, 30), [0, 0, 255, 255]);
    assert.equal((await pixel(r.body, 50, 1))[3], 255, 'top middle is inside the ellipse');
    const bg = await render(await solid(100, 60, BLUE), 'mask=ellipse&mask-bg=f00&fm=png');
    assert.deepEqual(await pixel(bg.body, 1, 1), [255, 0, 0, 255]);
  });
  test('corners with one radius or four (per corner)', async () => {
    const img = await solid(100, 100, BLUE);
    const all = await render(img, 'mask=corners&corner-radius=30&fm=png');
    for (const [x, y] of [[2, 2], [97, 2], [97, 97], [2, 97]]) assert.equal((await pixel(all.body, x!, y!))[3], 0, `${x},${y}`);
    const one = await render(img, 'mask=corners&corner-radius=30,0,0,0&fm=png');
    assert.equal((await pixel(one.body, 2, 2))[3], 0, 'top-left rounded');
    assert.equal((await pixel(one.body, 97, 2))[3], 255, 'top-right square');
  });
  test('an image mask from the sources: its alpha cuts the image; a missing mask is a 400', async () => {
    // Left half opaque, right half transparent.
    const half = await sharp({ create: { width: 10, height: 10, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } })
      .composite([{ input: await sharp({ create: { width: 5, height: 10, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 1 } } }).png().toBuffer(), left: 0, top: 0 }])
      .png()
      .toBuffer();
    const loadMark = async (p: string) => (p === 'masks/half.png' ? half : undefined);
    const r = await render(await solid(100, 50, GREEN), 'mask=masks/half.png&fm=png', { ctx: { loadMark } });
    assert.equal((await pixel(r.body, 10, 25))[3], 255);
    assert.equal((await pixel(r.body, 90, 25))[3], 0);
    await assert.rejects(render(await solid(100, 50, GREEN), 'mask=masks/none.png', { ctx: { loadMark } }), (e: { status: number; message: string }) => e.status === 400 && e.message.startsWith('mask: '));
  });
});

describe('blend', () => {
  let logo: Buffer; // 40×20 opaque red
  const loadMark = async (p: string) => (p === 'logo.png' ? logo : undefined);
  before(async () => {
    logo = await solid(40, 20, RED);
  });
  test('a colour over the whole image: blend-mode and blend-alpha', async () => {
    const grey = await solid(20, 20, { r: 128, g: 128, b: 128 });
    const mul = await render(grey, 'blend=ff0000&blend-mode=multiply&fm=png');
    assert.ok(near(await pixel(mul.body, 5, 5), [128, 0, 0, 255], 3));
    const half = await render(grey, 'blend=ff0000&blend-mode=normal&blend-alpha=50&fm=png');
    assert.ok(near(await pixel(half.body, 5, 5), [191, 64, 64, 255], 3));
    const scr = await render(grey, 'blend-color=0000ff&blend-mode=screen&fm=png');
    assert.ok(near(await pixel(scr.body, 5, 5), [128, 128, 255, 255], 3), 'blend-color');
  });
  test('non-separable modes: color keeps luminosity, takes hue; luminosity the reverse', async () => {
    const grey = await solid(20, 20, { r: 128, g: 128, b: 128 });
    const c = await pixel((await render(grey, 'blend=ff0000&blend-mode=color&fm=png')).body, 5, 5);
    assert.ok(c[0] > c[1] + 50 && Math.abs(0.3 * c[0] + 0.59 * c[1] + 0.11 * c[2] - 128) < 4, `color: ${c}`);
    const l = await pixel((await render(await solid(20, 20, RED), 'blend=ffffff&blend-mode=luminosity&fm=png')).body, 5, 5);
    assert.ok(l[0] > 250 && l[1] > 250, `luminosity of white: ${l}`);
  });
  test('an image: centred by default, blend-align/pad, blend-x/y, blend-w with fit', async () => {
    const base = await solid(200, 100, WHITE);
    const q = 'blend=logo.png&blend-mode=normal&fm=png';
    const c = await render(base, q, { ctx: { loadMark } });
    assert.deepEqual(await pixel(c.body, 100, 50), [255, 0, 0, 255], 'centre');
    assert.deepEqual(await pixel(c.body, 5, 5), [255, 255, 255, 255]);
    const tl = await render(base, `${q}&blend-align=top,left&blend-pad=10`, { ctx: { loadMark } });
    assert.deepEqual(await pixel(tl.body, 12, 12), [255, 0, 0, 255]);
    assert.deepEqual(await pixel(tl.body, 5, 5), [255, 255, 255, 255], 'the pad');
    const xy = await render(base, `${q}&blend-x=150&blend-y=70`, { ctx: { loadMark } });
    assert.deepEqual(await pixel(xy.body, 155, 75), [255, 0, 0, 255]);
    const wide = await render(base, `${q}&blend-w=100&blend-h=20&blend-fit=scale`, { ctx: { loadMark } });
    assert.deepEqual(await pixel(wide.body, 55, 50), [255, 0, 0, 255], 'scaled to 100 wide');
    const clip = await render(base, `${q}&blend-w=100&blend-h=20`, { ctx: { loadMark } });
    assert.deepEqual(await pixel(clip.body, 55, 50), [255, 255, 255, 255], 'clip keeps 2:1 inside 100×20: 40 wide');
    const inherit = await render(base, `${q}&blend-size=inherit`, { ctx: { loadMark } });
    assert.deepEqual(await pixel(inherit.body, 100, 10), [255, 0, 0, 255], 'inherit: the output size');
  });
  test('blend-fit=crop with blend-crop picks the part kept', async () => {
    const twoTone = await sharp({ create: { width: 40, height: 40, channels: 4, background: { ...BLUE, alpha: 1 } } })
      .composite([{ input: await solid(40, 20, RED), left: 0, top: 0 }])
      .png()
      .toBuffer();
    const load = async () => twoTone;
    const base = await solid(100, 100, WHITE);
    const top = await render(base, 'blend=t.png&blend-mode=normal&blend-w=40&blend-h=10&blend-fit=crop&blend-crop=top&fm=png', { ctx: { loadMark: load } });
    assert.deepEqual(await pixel(top.body, 50, 50), [255, 0, 0, 255]);
    const bottom = await render(base, 'blend=t.png&blend-mode=normal&blend-w=40&blend-h=10&blend-fit=crop&blend-crop=bottom&fm=png', { ctx: { loadMark: load } });
    assert.deepEqual(await pixel(bottom.body, 50, 50), [0, 0, 255, 255]);
  });
});

describe('palette', () => {
  test('json: the image\'s colours, most frequent first, with colors; css with prefix', async () => {
    const r = await render(quad, 'palette=json&colors=4');
    assert.equal(r.contentType, 'application/json');
    const j = JSON.parse(r.body.toString('utf8')) as { colors: { red: number; green: number; blue: number; hex: string }[]; average_luminance: number };
    assert.deepEqual(j.colors.map((c) => c.hex).sort(), ['#0000ff', '#00ff00', '#ff0000', '#ffffff']);
    assert.deepEqual(j.colors.find((c) => c.hex === '#ff0000'), { red: 1, green: 0, blue: 0, hex: '#ff0000' });
    assert.ok(j.average_luminance > 0.4 && j.average_luminance < 0.6, String(j.average_luminance));
    const two = JSON.parse((await render(quad, 'palette=json&colors=2')).body.toString('utf8')) as { colors: unknown[] };
    assert.equal(two.colors.length, 2);
    const css = await render(quad, 'palette=css&colors=4&prefix=hero');
    assert.equal(css.contentType, 'text/css; charset=utf-8');
    const text = css.body.toString('utf8');
    assert.match(text, /\.hero-fg-1 \{ color:#[0-9a-f]{6} !important; \}/);
    assert.match(text, /\.hero-bg-4 \{ background-color:#[0-9a-f]{6} !important; \}/);
    assert.doesNotMatch(text, /hero-fg-5/);
  });
  test('the palette is of the rendered image (after the transformations)', async () => {
    const j = JSON.parse((await render(quad, 'palette=json&colors=2&sat=-100&monochrome=000000')).body.toString('utf8')) as { colors: { red: number; green: number; blue: number }[] };
    for (const c of j.colors) assert.ok(Math.abs(c.red - c.green) < 0.05 && Math.abs(c.green - c.blue) < 0.05, JSON.stringify(c));
  });
});

describe('text: shipped fonts and the txt-* family', () => {
  let canvas: Buffer; // 400×200 white
  before(async () => {
    canvas = await solid(400, 200, WHITE);
  });
  /** Bounding box of the pixels that are not white, and how many are in a colour. */
  const ink = async (buf: Buffer, colour?: [number, number, number]) => {
    const { data, info } = await sharp(buf).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    let [x0, y0, x1, y1, n] = [info.width, info.height, -1, -1, 0];
    for (let y = 0; y < info.height; y++) {
      for (let x = 0; x < info.width; x++) {
        const i = (y * info.width + x) * 3;
        if (data[i]! > 245 && data[i + 1]! > 245 && data[i + 2]! > 245) continue;
        [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x), Math.max(y1, y)];
        if (colour && near([data[i]!, data[i + 1]!, data[i + 2]!], colour, 40)) n++;
      }
    }
    return { x: x0, y: y0, w: x1 - x0 + 1, h: y1 - y0 + 1, n };
  };
  const T = (q: string) => render(canvas, `fm=png&txt-size=24&txt-align=top,left&${q}`);

  test('imgix font names map to the shipped faces: Courier New is monospaced, Helvetica is not; Georgia is serif', async () => {
    const narrow = await ink((await T('txt=iiiiiiii&txt-font=Courier%20New')).body);
    const wide = await ink((await T('txt=WWWWWWWW&txt-font=Courier%20New')).body);
    assert.ok(Math.abs(narrow.w - wide.w) <= 12, `mono: ${narrow.w} vs ${wide.w}`);
    const hn = await ink((await T('txt=iiiiiiii&txt-font=Helvetica%20Neue')).body);
    const hw = await ink((await T('txt=WWWWWWWW&txt-font=Helvetica%20Neue')).body);
    assert.ok(hw.w > 2 * hn.w, `proportional: ${hn.w} vs ${hw.w}`);
    const serif = await T('txt=Hamburgefonts&txt-font=Georgia');
    const sans = await T('txt=Hamburgefonts&txt-font=Helvetica');
    assert.notDeepEqual(serif.body, sans.body);
    const bold = await ink((await T('txt=Hamburgefonts&txt-font=Helvetica%20Neue,Bold')).body, [0, 0, 0]);
    const regular = await ink(sans.body, [0, 0, 0]);
    assert.ok(bold.n > regular.n * 1.2, 'Bold is heavier');
  });
  test('txt-width wraps, txt-lead spaces lines, txt-track spaces letters, txt-x/y place the text', async () => {
    const one = await ink((await T('txt=alpha%20beta%20gamma%20delta')).body);
    const wrapped = await ink((await T('txt=alpha%20beta%20gamma%20delta&txt-width=120')).body);
    assert.ok(wrapped.h > 2 * one.h && wrapped.w <= 120, `wrapped ${JSON.stringify(wrapped)}`);
    const led = await ink((await T('txt=alpha%20beta%20gamma%20delta&txt-width=120&txt-lead=20')).body);
    assert.ok(led.h > wrapped.h + 20, `lead ${led.h} vs ${wrapped.h}`);
    const tracked = await ink((await T('txt=alpha&txt-track=10')).body);
    const plain = await ink((await T('txt=alpha')).body);
    assert.ok(tracked.w > plain.w + 30, `track ${tracked.w} vs ${plain.w}`);
    const at = await ink((await T('txt=alpha&txt-x=200&txt-y=100')).body);
    assert.ok(at.x >= 200 && at.x < 210 && at.y >= 100 && at.y < 115, JSON.stringify(at));
  });
  test('txt-line outlines in txt-line-color; txt-shad adds a shadow', async () => {
    const lined = await ink((await T('txt=Outline&txt-line=3&txt-line-color=ff0000')).body, [255, 0, 0]);
    assert.ok(lined.n > 200, `${lined.n} red outline pixels`);
    const plain = await ink((await T('txt=Outline')).body, [255, 0, 0]);
    assert.equal(plain.n, 0);
    const shadow = await ink((await T('txt=Shadow&txt-color=fff&txt-shad=5')).body);
    assert.ok(shadow.w > 20, 'white text shows only by its shadow');
    assert.ok((await ink((await T('txt=Shadow&txt-color=fff')).body)).w <= 0, 'white text alone shows nothing');
  });
  test('txt-fit=max shrinks text to its box; txt-clip keeps one line cut to the box, with an ellipsis', async () => {
    const long = 'txt=The%20quick%20brown%20fox%20jumps%20over%20the%20lazy%20dog&txt-size=80&txt-width=200';
    const fit = await ink((await render(canvas, `fm=png&txt-align=top,left&${long}&txt-fit=max`)).body);
    assert.ok(fit.h <= 180 && fit.w <= 200, `fitted ${JSON.stringify(fit)}`);
    const clipped = await ink((await T('txt=The%20quick%20brown%20fox%20jumps&txt-width=150&txt-clip=end')).body);
    assert.ok(clipped.w <= 150 && clipped.h < 40, `clipped ${JSON.stringify(clipped)}`);
    const a = await T('txt=The%20quick%20brown%20fox%20jumps&txt-width=150&txt-clip=end');
    const b = await T('txt=The%20quick%20brown%20fox%20jumps&txt-width=150&txt-clip=start');
    const e = await T('txt=The%20quick%20brown%20fox%20jumps&txt-width=150&txt-clip=end,ellipsis');
    assert.notDeepEqual(a.body, b.body);
    assert.notDeepEqual(a.body, e.body);
    assert.ok((await ink(e.body)).w <= 150);
  });
});

describe('watermark: fit, rotation, tile, base, minimum sizes', () => {
  let logo: Buffer; // 40×20 opaque red
  const loads: string[] = [];
  const loadMark = async (p: string) => {
    loads.push(p);
    return ['logos/logo.png', 'logo.png'].includes(p.replace(/^\/+/, '')) ? logo : undefined;
  };
  before(async () => {
    logo = await solid(40, 20, RED);
  });
  const base = () => solid(200, 100, WHITE);
  const R = async (q: string) => render(await base(), `fm=png&mark=logo.png&mark-align=top,left&mark-pad=0&${q}`, { ctx: { loadMark } });
  test('mark-fit: clip keeps the ratio inside mark-w × mark-h (default); scale fills it', async () => {
    const clip = await R('mark-w=80&mark-h=80');
    assert.deepEqual(await pixel(clip.body, 70, 30), [255, 0, 0, 255], '80×40');
    assert.deepEqual(await pixel(clip.body, 70, 50), [255, 255, 255, 255]);
    const scale = await R('mark-w=80&mark-h=80&mark-fit=scale');
    assert.deepEqual(await pixel(scale.body, 70, 70), [255, 0, 0, 255], '80×80');
  });
  test('mark-rot turns the mark; mark-tile=grid repeats it', async () => {
    const rot = await R('mark-rot=90');
    assert.deepEqual(await pixel(rot.body, 5, 35), [255, 0, 0, 255], 'now 20×40');
    assert.deepEqual(await pixel(rot.body, 30, 5), [255, 255, 255, 255]);
    const tile = await R('mark-tile=grid');
    for (const [x, y] of [[5, 5], [45, 25], [165, 85]]) assert.deepEqual(await pixel(tile.body, x!, y!), [255, 0, 0, 255], `${x},${y}`);
  });
  test('mark-base prefixes the path; mark-if-min-width/height skip small images', async () => {
    loads.length = 0;
    const based = await render(await base(), 'fm=png&mark=logo.png&mark-base=/logos/', { ctx: { loadMark } });
    assert.deepEqual(loads, ['/logos/logo.png'], 'loaded through the prefix');
    assert.notDeepEqual(based.body, (await render(await base(), 'fm=png')).body);
    const skipped = await R('mark-if-min-width=500');
    assert.deepEqual(await pixel(skipped.body, 5, 5), [255, 255, 255, 255]);
    const kept = await R('mark-if-min-width=100&mark-if-min-height=100');
    assert.deepEqual(await pixel(kept.body, 5, 5), [255, 0, 0, 255]);
  });
});

describe('animation: interval, skip, reverse, fps, loop', () => {
  /** The first pixel's colour of every frame. */
  const frames = async (buf: Buffer) => {
    const meta = await sharp(buf).metadata();
    const out: number[][] = [];
    for (let p = 0; p < (meta.pages ?? 1); p++) out.push([...(await sharp(buf, { page: p }).raw().toBuffer()).subarray(0, 3)]);
    return { colours: out, meta };
  };
  test('reverse plays backwards; interval keeps every Nth; skip drops every Nth', async () => {
    const gif = await animatedGif(4); // red, green, blue, white
    const rev = await frames((await render(gif, 'reverse=true')).body);
    assert.deepEqual(rev.colours.map((c) => c[0]! > 200 && c[1]! > 200 ? 'w' : c[0]! > 200 ? 'r' : c[1]! > 200 ? 'g' : 'b'), ['w', 'b', 'g', 'r']);
    const every2 = await frames((await render(gif, 'interval=2')).body);
    assert.equal(every2.meta.pages, 2);
    const skip3 = await frames((await render(gif, 'skip=3')).body);
    assert.equal(skip3.meta.pages, 3, 'the third frame dropped');
  });
  test('fps sets every frame\'s delay; loop the loop count', async () => {
    const gif = await animatedGif(3);
    const r = await render(gif, 'fps=5&loop=3');
    assert.deepEqual(r.meta.delay, [200, 200, 200]);
    assert.equal(r.meta.loop, 3);
  });
});

describe('upscale and SVG passthrough', () => {
  test('upscale sharpens an enlarged image, and only an enlarged one', async () => {
    const plain = await render(photo, 'w=1024&fm=png');
    const up = await render(photo, 'w=1024&upscale=true&fm=png');
    assert.ok((await stats(up.body)).stdev[2]! > (await stats(plain.body)).stdev[2]!, 'more contrast at the edges');
    assert.deepEqual((await render(photo, 'w=100&upscale=true&fm=png')).body, (await render(photo, 'w=100&fm=png')).body);
  });
  test('rasterize-bypass answers the SVG itself, sanitised unless svg-sanitize=false', async () => {
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10" onload="alert(1)"><script>alert(2)</script><a href="javascript:alert(3)"><rect width="10" height="10" fill="red"/></a></svg>');
    const r = await render(svg, 'rasterize-bypass=true&w=5');
    assert.equal(r.contentType, 'image/svg+xml');
    const text = r.body.toString('utf8');
    assert.doesNotMatch(text, /script|onload|javascript:/i);
    assert.match(text, /<rect width="10" height="10" fill="red"\/>/);
    const raw = await render(svg, 'rasterize-bypass=true&svg-sanitize=false');
    assert.deepEqual(raw.body, svg);
    assert.equal((await render(svg, 'w=5')).meta.format, 'png', 'without it, rendered');
  });
});

describe('border stroke', () => {
  test('border-stroke-size draws a line of border-stroke-color around the border', async () => {
    const r = await render(await solid(40, 40, WHITE), 'border=5,f00&border-stroke-size=3&border-stroke-color=00f&fm=png');
    assert.deepEqual([r.meta.width, r.meta.height], [56, 56]);
    assert.deepEqual(await pixel(r.body, 1, 20), [0, 0, 255, 255], 'the stroke outside');
    assert.deepEqual(await pixel(r.body, 5, 20), [255, 0, 0, 255], 'then the border');
    const clear = await render(await solid(40, 40, WHITE), 'border=5,f00&border-stroke-size=3&fm=png');
    assert.equal((await pixel(clear.body, 1, 20))[3], 0, 'imgix\'s default stroke colour is transparent');
  });
});

describe('trim-sd', () => {
  test('a noisy frame is trimmed only when its deviation is within trim-sd', async () => {
    const noise = Buffer.alloc(100 * 80 * 3);
    for (let i = 0; i < noise.length; i++) noise[i] = 180 + ((i * 7919) % 61) - 30;
    const framed = await sharp(noise, { raw: { width: 100, height: 80, channels: 3 } }).composite([{ input: await solid(60, 40, BLUE), left: 20, top: 20 }]).png().toBuffer();
    const strict = await render(framed, 'trim=auto');
    assert.deepEqual([strict.meta.width, strict.meta.height], [100, 80], 'a deviation of about 17: kept at the default (10)');
    const loose = await render(framed, 'trim=auto&trim-sd=40');
    assert.deepEqual([loose.meta.width, loose.meta.height], [60, 40]);
  });
});

describe('SVG answered as SVG', () => {
  test('carries the same Content-Security-Policy as an SVG original', async () => {
    const r = await render(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>'), 'rasterize-bypass=1&svg-sanitize=0');
    assert.match(r.headers['Content-Security-Policy'] ?? '', /default-src 'none'.*sandbox/);
  });
});

describe('bounds on work done outside libvips', () => {
  test('a non-separable blend over more than 16 million pixels is a 422, not seconds of JavaScript', async () => {
    const big = await sharp({ create: { width: 4200, height: 4000, channels: 3, background: '#808080' } }).jpeg().toBuffer();
    await assert.rejects(render(big, 'blend=ff0000&blend-mode=hue'), (e: { status: number; code: string }) => e.status === 422 && e.code === 'unsupported_transformation');
    const ok = await render(big, 'blend=ff0000&blend-mode=hue&w=400');
    assert.equal(ok.meta.width, 400, 'the same blend on a smaller output is drawn');
  });
});

describe('transparency=grid in a format without alpha', () => {
  test('a JPEG shows the checkerboard, not white', async () => {
    const clear = await sharp({ create: { width: 40, height: 40, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } }).png().toBuffer();
    const r = await render(clear, 'transparency=grid&grid-colors=f00,00f&grid-size=10&fm=jpg');
    assert.ok(near(await pixel(r.body, 5, 5), [255, 0, 0, 255], 30));
    assert.ok(near(await pixel(r.body, 15, 5), [0, 0, 255, 255], 30));
  });
});

describe('imgix font names → shipped faces (the table in docs/url-api.md)', () => {
  test('mono, serif, sans; bold and italic from the name', async () => {
    const { fontDescription, fontFiles } = await import('../../src/pipeline/fonts.ts');
    assert.equal(fontFiles().length, 11, 'every shipped file is installed');
    assert.equal(fontDescription('Courier New,Bold'), 'Noto Sans Mono,Noto Emoji Bold');
    assert.equal(fontDescription('Georgia,Italic'), 'Noto Serif,Noto Emoji Italic');
    assert.equal(fontDescription('Times New Roman'), 'Noto Serif,Noto Emoji');
    assert.equal(fontDescription('American Typewriter'), 'Noto Sans Mono,Noto Emoji');
    assert.equal(fontDescription('Helvetica Neue,Bold Italic'), 'Noto Sans,Noto Emoji Bold Italic');
    assert.equal(fontDescription('PT Sans Serif'), 'Noto Sans,Noto Emoji', '"sans" wins over "serif"');
    assert.equal(fontDescription('Avenir Next Demi'), 'Noto Sans,Noto Emoji Bold');
    assert.equal(fontDescription(undefined), 'Noto Sans,Noto Emoji');
  });
});

describe('upscale-fallback', () => {
  test('where upscale cannot apply: rendered without it by default, refused with upscale-fallback=false', async () => {
    const down = await render(photo, 'w=100&upscale=true&fm=png');
    assert.equal(down.meta.width, 100);
    await assert.rejects(render(photo, 'w=100&upscale=true&upscale-fallback=false'), (e: { status: number }) => e.status === 422);
    const up = await render(photo, 'w=600&upscale=true&upscale-fallback=false');
    assert.equal(up.meta.width, 600, 'enlarged: it applies, nothing to fall back from');
  });
});
