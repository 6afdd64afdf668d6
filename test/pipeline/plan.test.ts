import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { Segment } from '../../src/pipeline/queue.ts';
import { render, quadrants, animatedGif } from './helpers.ts';

describe('the operation queue', () => {
  test("an operation joins the segment only after what sharp runs before it, and each method once", () => {
    const s = new Segment();
    assert.ok(s.fits('extractPre'));
    s.add('extractPre');
    s.add('resize');
    assert.ok(s.fits('extend'), 'extend runs after resize');
    assert.ok(!s.fits('extractPre'), 'a cut before resizing cannot follow the resize');
    assert.ok(!s.fits('resize'), 'resize is set once');
    assert.ok(!s.fits('flatten'), 'flatten runs before resize');
    s.add('blur');
    assert.ok(s.fits('median'), 'median is its own method at the blur stage');
    s.add('median');
    assert.ok(!s.fits('blur'));
    s.reset();
    assert.ok(s.fits('extractPre') && s.fits('resize'));
  });

  test('orient and rot are one method at two places: rot after orient needs a new segment', () => {
    const s = new Segment();
    s.add('orient');
    assert.ok(!s.fits('rotate'));
  });
});

describe('the plan: geometry from the header, once', () => {
  test('fm=json reports the size the same URL renders, with orient turning the frame', async () => {
    const src = await quadrants('jpeg', 200, 100);
    for (const q of ['w=50', 'w=50&orient=6', 'w=50&orient=90', 'w=50&orient=5&flip=h', 'w=60&h=20&fit=crop&orient=8', 'h=40&pad=4&orient=270']) {
      const img = await render(src, q);
      const json = JSON.parse((await render(src, `${q}&fm=json`)).body.toString());
      assert.deepEqual(json.Output, { PixelWidth: img.meta.width, PixelHeight: img.meta.height }, q);
    }
  });

  test('fm=json follows the EXIF orientation the decoder applies', async () => {
    const src = await sharp(await quadrants('jpeg', 200, 100)).withMetadata({ orientation: 6 }).jpeg().toBuffer();
    const img = await render(src, 'w=50');
    const json = JSON.parse((await render(src, 'w=50&fm=json')).body.toString());
    assert.deepEqual(json.Output, { PixelWidth: img.meta.width, PixelHeight: img.meta.height });
    assert.equal(img.meta.width, 50);
    assert.equal(img.meta.height, 100);
  });
});

describe('errors classified before decoding', () => {
  test('turning or trimming an animation is refused from the header and the parameters, naming them', async () => {
    const gif = await animatedGif(3, 40, 30);
    for (const [q, re] of [['rot=10', /rot and orient/], ['rot=90', /rot and orient/], ['orient=90', /rot and orient/], ['orient=6&fm=webp', /rot and orient/], ['trim=auto', /trim/], ['trim=colorunlessalpha', /trim/]] as const) {
      await assert.rejects(render(gif, q), (e: any) => e.status === 422 && e.code === 'unsupported_transformation' && re.test(e.publicMessage), q);
    }
    // What frames can take still renders: a flop, a half turn, or a still output (one frame).
    for (const q of ['orient=2', 'orient=3', 'orient=2&flip=v', 'rot=180', 'rot=10&fm=jpg', 'trim=auto&fm=png']) assert.ok((await render(gif, q)).body.length > 0, q);
  });

  test('an unreadable header is told apart by its first bytes: a format read here is corrupt, anything else unsupported', async () => {
    const png = await quadrants('png');
    const broken = Buffer.concat([png.subarray(0, 8), Buffer.alloc(64, 0x41)]);
    await assert.rejects(render(broken, 'w=10'), (e: any) => e.status === 422 && e.code === 'corrupt_image');
    const bmp = Buffer.concat([Buffer.from('BM'), Buffer.alloc(60, 0)]);
    await assert.rejects(render(bmp, 'w=10'), (e: any) => e.status === 415 && e.code === 'unsupported_image');
  });
});
