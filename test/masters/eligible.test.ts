import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { eligibleParams, fitsMaster, type MasterOf } from '../../src/masters/eligible.ts';
import { parseTransform } from '../../src/request/params.ts';
import { transformConfigSchema } from '../../src/config/transform.ts';

const config = transformConfigSchema.parse({});
const opts = (q: string) => parseTransform(new URLSearchParams(q), config);
/** A 6000×4000 original with a 2048×1365 master. */
const of: MasterOf = { width: 6000, height: 4000, format: 'jpeg', alpha: false };
const fits = (q: string, format: MasterOf['format'] = 'jpeg') => fitsMaster(opts(q), format, of, { width: 2048, height: 1365 }, 8192);

describe('masters: which parameters may render from a master', () => {
  for (const q of ['w=400', 'w=400&h=300&fit=crop', 'h=300&dpr=2', 'w=400&fm=webp&q=60', 'w=300&auto=format,compress', 'w=200&rect=100,100,2000,1000', 'w=300&h=300&fit=crop&crop=focalpoint&fp-x=0.3&fp-y=0.6&fp-z=2', 'w=500&fit=crop&ar=16:9&crop=entropy', 'w=400&flip=h', 'w=400&fm=pjpg&jpg-progressive=false&dl=a.jpg']) {
    test(`eligible: ${q}`, () => assert.equal(eligibleParams(opts(q)), true));
  }
  for (const q of ['w=400&fm=png', 'w=400&fm=avif&chromasub=444', 'w=400&fm=png8', 'w=400&fm=gif', 'w=400&fm=json', 'w=400&fm=blurhash', 'w=400&fm=webp&lossless=1', 'w=400&cs=origin', 'w=400&iptc=allow', 'w=400&orient=90', 'w=400&rot=10', 'w=400&trim=auto', 'w=400&pad=10', 'w=400&bri=20', 'w=400&sharp=50', 'w=400&blur=20', 'w=400&auto=enhance', 'w=400&mark=/m.png', 'w=400&txt=hi', 'w=400&upscale=true', 'w=400&frame=2', 'w=400&palette=json']) {
    test(`not eligible: ${q}`, () => assert.equal(eligibleParams(opts(q)), false));
  }
});

describe('masters: the master must hold the pixels the output needs', () => {
  test('downscales that need fewer pixels than the master fit; larger ones do not', () => {
    assert.equal(fits('w=2048'), true);
    assert.equal(fits('w=2049'), false);
    assert.equal(fits('w=1024&dpr=2'), true);
    assert.equal(fits('w=1200&dpr=2'), false, 'dpr multiplies the pixels needed');
    assert.equal(fits('h=1365'), true);
    assert.equal(fits('h=1400'), false);
  });
  test('the rounding of the other side: a full-width output of a 5640×3172 original fits its 2048×1152 master', () => {
    // 2048 px wide needs 1152 rows (1151.8 rounded); the master's height is rounded the same way.
    const wide: MasterOf = { width: 5640, height: 3172, format: 'jpeg', alpha: false };
    assert.equal(fitsMaster(opts('w=2048'), 'jpeg', wide, { width: 2048, height: 1152 }, 8192), true);
    assert.equal(fitsMaster(opts('w=1024&dpr=2'), 'jpeg', wide, { width: 2048, height: 1152 }, 8192), true);
    assert.equal(fitsMaster(opts('w=2048'), 'jpeg', wide, { width: 2048, height: 1151 }, 8192), false);
  });
  test('no resize (the original size), and upscales, never fit', () => {
    assert.equal(fits('fm=webp'), false);
    assert.equal(fits('w=8000'), false);
  });
  test('rect: what counts is the density inside the region', () => {
    // a 600 px wide region shown at 200 px needs 1/3 of the original's density; the master has 0.34
    assert.equal(fits('w=200&rect=0,0,600,400'), true);
    assert.equal(fits('w=300&rect=0,0,600,400'), false);
  });
  test('crops: the cover size counts, not the box', () => {
    // fit=crop to 1000×1000 covers at 1500×1000: needs 1000/4000 = 0.25 ≤ 0.341
    assert.equal(fits('w=1000&h=1000&fit=crop'), true);
    assert.equal(fits('w=1400&h=1400&fit=crop'), false);
    // fp-z=3 zooms in: a 600 px output covers a third of the width → needs 600/2000 = 0.3
    assert.equal(fits('w=600&h=400&fit=crop&crop=focalpoint&fp-z=3'), true);
    assert.equal(fits('w=800&h=400&fit=crop&crop=focalpoint&fp-z=3'), false);
  });
  test('lossless and metadata outputs never use a master', () => {
    assert.equal(fits('w=400', 'png'), false);
    assert.equal(fits('w=400', 'gif'), false);
    assert.equal(fits('w=400', 'webp'), true);
    assert.equal(fits('w=400', 'avif'), true);
  });
});
