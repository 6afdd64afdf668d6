import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { negotiateFormat, acceptQuality, autoFormatFor, formatKey } from '../../src/request/negotiate.ts';
import { parseTransform } from '../../src/request/params.ts';
import { transformConfigSchema } from '../../src/config/transform.ts';

const config = transformConfigSchema.parse({});
const neg = (q: string, accept?: string) => negotiateFormat(parseTransform(new URLSearchParams(q), config), accept);

describe('negotiateFormat', () => {
  test('fm wins over auto=format and Accept, without Vary', () => {
    assert.deepEqual(neg('fm=png&auto=format', 'image/avif,image/webp'), { format: 'png', vary: false });
    assert.deepEqual(neg('fm=pjpg'), { format: 'jpeg', vary: false });
    assert.deepEqual(neg('fm=png8'), { format: 'png', vary: false });
    assert.deepEqual(neg('fm=json'), { format: 'json', vary: false });
    assert.deepEqual(neg('fm=blurhash'), { format: 'blurhash', vary: false });
  });
  test('auto=format prefers AVIF, then WebP, then the source format; always Vary', () => {
    assert.deepEqual(neg('auto=format', 'image/avif,image/webp,*/*'), { format: 'avif', vary: true, insteadOfAvif: 'webp' });
    assert.deepEqual(neg('auto=format', 'image/avif,*/*'), { format: 'avif', vary: true, insteadOfAvif: 'source' });
    assert.deepEqual(neg('auto=format', 'image/webp,*/*'), { format: 'webp', vary: true });
    assert.deepEqual(neg('auto=format', 'image/*,*/*;q=0.8'), { vary: true });
    assert.deepEqual(neg('auto=format'), { vary: true });
    assert.deepEqual(neg('auto=compress,format', 'image/webp'), { format: 'webp', vary: true });
  });
  test('q-values are honoured; q=0 refuses a format', () => {
    assert.deepEqual(neg('auto=format', 'image/avif;q=0,image/webp;q=0.9'), { format: 'webp', vary: true });
    assert.deepEqual(neg('auto=format', 'image/avif; q=0, image/webp;q=0'), { vary: true });
    assert.deepEqual(neg('auto=format', 'IMAGE/AVIF;Q=0.5'), { format: 'avif', vary: true, insteadOfAvif: 'source' });
  });
  test('fm values imgix offers but imagegate cannot encode: PNG for jp2/jxr, the source format for video and sprite sheets', () => {
    assert.deepEqual(neg('fm=jp2'), { format: 'png', vary: false });
    assert.deepEqual(neg('fm=jxr'), { format: 'png', vary: false });
    for (const fm of ['mp4', 'webm', 'spritesheet']) assert.deepEqual(neg(`fm=${fm}`, 'image/avif'), { vary: false }, fm);
  });
  test('auto=format\'s AVIF steps down for an animation or a large output; fm=avif never does', () => {
    const small = { animated: false, outputPixels: 1000, ownFormat: 'jpeg' as const };
    assert.equal(autoFormatFor('avif', 'webp', small, 1000), 'avif');
    assert.equal(autoFormatFor('avif', 'webp', { ...small, outputPixels: 1001 }, 1000), 'webp');
    assert.equal(autoFormatFor('avif', 'source', { ...small, outputPixels: 1001 }, 1000), 'jpeg');
    assert.equal(autoFormatFor('avif', 'source', { ...small, animated: true, ownFormat: 'gif' }, 1000), 'gif');
    assert.equal(autoFormatFor('avif', undefined, { ...small, animated: true }, 0), 'avif');
    assert.equal(autoFormatFor('avif', 'webp', small, 0), 'webp', '0: auto=format never chooses AVIF');
  });
  test('the cache sees what replaces AVIF', () => {
    assert.notEqual(formatKey(neg('auto=format', 'image/avif,image/webp')), formatKey(neg('auto=format', 'image/avif')));
    assert.equal(formatKey(neg('w=10')), 'source');
  });
  test('no auto=format and no fm: keep the source format, no Vary', () => {
    assert.deepEqual(neg('w=100', 'image/avif'), { vary: false });
  });
  test('acceptQuality parses media ranges', () => {
    assert.equal(acceptQuality('text/html, image/webp;q=0.7', 'image/webp'), 0.7);
    assert.equal(acceptQuality('image/webp;q=abc', 'image/webp'), 0);
    assert.equal(acceptQuality(undefined, 'image/webp'), 0);
  });
});
