import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { computeGeometry, rectBox } from '../../src/pipeline/geometry.ts';
import { composeOrientation } from '../../src/pipeline/orientation.ts';
import { parseTransform } from '../../src/request/params.ts';
import { transformConfigSchema } from '../../src/config/transform.ts';

const config = transformConfigSchema.parse({});
const geo = (w: number, h: number, q: string, max = 8192) => computeGeometry(w, h, parseTransform(new URLSearchParams(q), config), max);

describe('computeGeometry', () => {
  test('no size keeps the source size and resizes nothing', () => {
    const g = geo(4000, 3000, 'bri=10');
    assert.equal(g.resize, undefined);
    assert.deepEqual([g.width, g.height], [4000, 3000]);
  });
  test('crop: cover dimensions and a centred box', () => {
    const g = geo(4000, 3000, 'w=300&h=300&fit=crop');
    assert.deepEqual(g.resize, { width: 400, height: 300 });
    assert.deepEqual(g.crop, { box: { left: 50, top: 0, width: 300, height: 300 } });
  });
  test('entropy crops use the libvips strategy', () => {
    const g = geo(4000, 3000, 'w=300&h=300&fit=crop&crop=entropy');
    assert.deepEqual(g.crop, { strategy: 'entropy', width: 300, height: 300 });
  });
  test('fill: content size and centred extension', () => {
    const g = geo(400, 200, 'w=100&h=100&fit=fill');
    assert.deepEqual(g.resize, { width: 100, height: 50 });
    assert.deepEqual(g.extend, { left: 0, right: 0, top: 25, bottom: 25, mode: 'background' });
  });
  test('outputs above the size limit shrink keeping the aspect ratio', () => {
    const g = geo(10000, 5000, 'bri=5', 8192);
    assert.deepEqual([g.width, g.height], [8192, 4096]);
    assert.deepEqual(g.resize, { width: 8192, height: 4096 });
    const p = geo(10000, 5000, 'pad=100', 8192);
    assert.ok(p.width + 200 <= 8192, 'padding counts towards the limit');
  });
  test('rect keywords and fractions', () => {
    assert.deepEqual(rectBox([{ keyword: 'center' }, { keyword: 'bottom' }, { frac: 0.5 }, { px: 10 }], 200, 100), { left: 50, top: 90, width: 100, height: 10 });
    assert.deepEqual(rectBox([{ px: 500 }, { px: 0 }, { px: 50 }, { px: 50 }], 200, 100), { left: 199, top: 0, width: 1, height: 50 }, 'clamped inside the image');
  });
  test('property: every geometry is consistent and within the limit', () => {
    const fits = ['clip', 'max', 'min', 'crop', 'fill', 'fillmax', 'scale', 'clamp', 'facearea'];
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20000 }), fc.integer({ min: 1, max: 20000 }),
        fc.option(fc.integer({ min: 2, max: 8192 })), fc.option(fc.integer({ min: 2, max: 8192 })),
        fc.constantFrom(...fits), fc.constantFrom('', 'left', 'bottom,right', 'focalpoint', 'entropy'),
        fc.double({ min: 0.1, max: 5, noNaN: true }), fc.integer({ min: 0, max: 50 }),
        (sw, sh, w, h, fit, crop, dpr, pad) => {
          const q = new URLSearchParams({ fit, dpr: dpr.toFixed(2), ...(w ? { w: String(w) } : {}), ...(h ? { h: String(h) } : {}), ...(crop ? { crop } : {}), ...(pad ? { pad: String(pad) } : {}) });
          const g = computeGeometry(sw, sh, parseTransform(q, config), 8192);
          const W = g.width + g.pad.left + g.pad.right;
          const H = g.height + g.pad.top + g.pad.bottom;
          assert.ok(W <= 8192 + 1 && H <= 8192 + 1, `${q}: ${W}×${H}`);
          assert.ok(g.width >= 1 && g.height >= 1);
          if (g.crop && 'box' in g.crop) {
            const b = g.crop.box;
            assert.ok(b.left >= 0 && b.top >= 0 && b.left + b.width <= g.resize!.width && b.top + b.height <= g.resize!.height, `${q}: crop ${JSON.stringify(g)}`);
          }
          if (g.extend) {
            assert.equal(g.resize!.width + g.extend.left + g.extend.right, g.width);
            assert.equal(g.resize!.height + g.extend.top + g.extend.bottom, g.height);
          }
        },
      ),
      { numRuns: 2000, seed: 7 },
    );
  });
});

/** Output size: content plus padding, as the response will be. */
const outSize = (g: ReturnType<typeof geo>) => [g.width + g.pad.left + g.pad.right + g.border.left + g.border.right, g.height + g.pad.top + g.pad.bottom + g.border.top + g.border.bottom];

describe('size semantics from imgix\'s documentation examples', () => {
  test('fit: clip, crop, facearea on the 300×200 sample', () => {
    assert.deepEqual(outSize(geo(300, 200, 'fit=clip&w=100&h=100')), [100, 67], 'clip keeps the ratio');
    assert.deepEqual(outSize(geo(300, 200, 'fit=crop&w=300&h=100')), [300, 100]);
    assert.deepEqual(outSize(geo(300, 200, 'fit=crop&w=200&h=200')), [200, 200]);
    assert.deepEqual(outSize(geo(300, 200, 'fit=facearea&w=300&h=200')), [300, 200]);
  });
  test('fit=facearea,fill: no face is found, so the image is filled, not cropped', () => {
    const g = geo(300, 200, 'fit=facearea,fill&w=200&h=200');
    assert.deepEqual(outSize(g), [200, 200]);
    assert.equal(g.crop, undefined);
    assert.deepEqual(g.resize, { width: 200, height: 133 });
    assert.ok(g.extend && g.extend.top + g.extend.bottom === 67);
  });
  test('ar: ar=9:1&fit=crop on 900×270 is 900×100; w=280&ar=2:1&fit=crop is 280×140', () => {
    assert.deepEqual(outSize(geo(900, 270, 'ar=9:1&fit=crop')), [900, 100]);
    assert.deepEqual(outSize(geo(900, 270, 'w=900&h=100&fit=crop')), [900, 100], 'the same as w=900&h=100');
    assert.deepEqual(outSize(geo(300, 200, 'w=280&ar=2:1&fit=crop')), [280, 140]);
    assert.deepEqual(outSize(geo(300, 200, 'w=280&ar=2:1')), [280, 187], 'ar needs fit=crop or fill');
  });
  test('ar with fit=fill frames the whole image at that ratio', () => {
    const g = geo(300, 200, 'ar=9:3&fit=fill');
    assert.deepEqual(outSize(g), [600, 200]);
    assert.deepEqual(g.resize, { width: 300, height: 200 });
    assert.deepEqual(outSize(geo(300, 200, 'w=280&ar=2:1&fit=fill')), [280, 140]);
  });
  test('max-w with one side: fit=crop&h=200&max-w=1200 is not cropped, fit=crop&h=200&max-w=200 is 200 wide', () => {
    const wide = geo(300, 200, 'fit=crop&h=200&max-w=1200');
    assert.deepEqual(outSize(wide), [300, 200]);
    assert.equal(wide.crop, undefined);
    const capped = geo(300, 200, 'fit=crop&h=200&max-w=200');
    assert.deepEqual(outSize(capped), [200, 200]);
    assert.ok(capped.crop, 'cropped');
    assert.deepEqual(outSize(geo(3200, 2000, 'fit=crop&h=200&max-w=200')), [200, 200], 'a 16:10 photo too');
  });
  test('min-w widens a narrow panorama; min-h and max-h act on the height the same way', () => {
    assert.deepEqual(outSize(geo(100, 1000, 'fit=crop&h=200&min-w=150')), [150, 200]);
    assert.deepEqual(outSize(geo(100, 1000, 'fit=crop&h=200')), [20, 200], 'without it');
    assert.deepEqual(outSize(geo(1000, 100, 'fit=crop&w=200&min-h=150')), [200, 150]);
    assert.deepEqual(outSize(geo(100, 1000, 'fit=crop&w=200&max-h=300')), [200, 300]);
    assert.deepEqual(outSize(geo(300, 200, 'fit=crop&max-w=200')), [200, 200], 'no size: the source\'s, bounded');
  });
  test('bounds only act with fit=crop (and facearea)', () => {
    assert.deepEqual(outSize(geo(300, 200, 'h=200&max-w=200')), [300, 200]);
    assert.deepEqual(outSize(geo(300, 200, 'fit=facearea&h=200&max-w=200')), [200, 200]);
  });
  test('with ar, a bound keeps the ratio', () => {
    assert.deepEqual(outSize(geo(3000, 2000, 'fit=crop&h=200&ar=2:1&max-w=300')), [300, 150]);
    assert.deepEqual(outSize(geo(3000, 2000, 'fit=crop&w=300&ar=1:2&max-h=400')), [200, 400]);
  });
  test('dpr multiplies the size and the bounds: dpr=2 at 500×300 is 1000×600; dpr above 5 is 5', () => {
    assert.deepEqual(outSize(geo(4000, 3000, 'w=500&h=300&fit=crop&dpr=2')), [1000, 600]);
    assert.deepEqual(outSize(geo(4000, 3000, 'w=500&h=300&fit=crop&dpr=3')), [1500, 900]);
    assert.deepEqual(outSize(geo(3000, 2000, 'fit=crop&h=100&max-w=100&dpr=2')), [200, 200]);
    assert.deepEqual(outSize(geo(4000, 3000, 'w=100&dpr=6')), outSize(geo(4000, 3000, 'w=100&dpr=5')));
    assert.deepEqual(outSize(geo(4000, 3000, 'dpr=2')), [4000, 3000], 'dpr needs w or h');
  });
});

describe('composeOrientation', () => {
  test('EXIF values reduce to sharp\'s flop-then-rotate', () => {
    assert.deepEqual(composeOrientation(1, undefined), { angle: 0, flop: false, swaps: false });
    assert.deepEqual(composeOrientation(6, undefined), { angle: 90, flop: false, swaps: true });
    assert.deepEqual(composeOrientation(2, undefined), { angle: 0, flop: true, swaps: false });
    assert.deepEqual(composeOrientation(2, 'h'), { angle: 0, flop: false, swaps: false }, 'two mirrors cancel');
    assert.deepEqual(composeOrientation(1, 'hv'), { angle: 180, flop: false, swaps: false });
  });
});
