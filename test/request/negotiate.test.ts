import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { negotiateFormat, acceptQuality } from '../../src/request/negotiate.ts';
import { parseTransform } from '../../src/request/params.ts';
import { transformConfigSchema } from '../../src/pipeline/config.ts';

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
    assert.deepEqual(neg('auto=format', 'image/avif,image/webp,*/*'), { format: 'avif', vary: true });
    assert.deepEqual(neg('auto=format', 'image/webp,*/*'), { format: 'webp', vary: true });
    assert.deepEqual(neg('auto=format', 'image/*,*/*;q=0.8'), { vary: true });
    assert.deepEqual(neg('auto=format'), { vary: true });
    assert.deepEqual(neg('auto=compress,format', 'image/webp'), { format: 'webp', vary: true });
  });
  test('q-values are honoured; q=0 refuses a format', () => {
    assert.deepEqual(neg('auto=format', 'image/avif;q=0,image/webp;q=0.9'), { format: 'webp', vary: true });
    assert.deepEqual(neg('auto=format', 'image/avif; q=0, image/webp;q=0'), { vary: true });
    assert.deepEqual(neg('auto=format', 'IMAGE/AVIF;Q=0.5'), { format: 'avif', vary: true });
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
