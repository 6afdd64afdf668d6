import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { notModified } from '../../../src/http/image/conditional.ts';

const meta = { size: 1, etag: '"e"', lastModified: new Date('2026-01-02T03:04:05.678Z') };
const h = (headers: Record<string, string>) => ({ header: (name: string) => headers[name] });

describe('conditional stage', () => {
  test('If-None-Match decides when present, against the ETag given', () => {
    assert.equal(notModified(h({ 'if-none-match': '"x", "k"' }), '"k"', meta), true);
    assert.equal(notModified(h({ 'if-none-match': 'W/"k"' }), '"k"', meta), true);
    assert.equal(notModified(h({ 'if-none-match': '"x"', 'if-modified-since': 'Sat, 01 Jan 2100 00:00:00 GMT' }), '"k"', meta), false);
  });

  test('else If-Modified-Since, to the second', () => {
    assert.equal(notModified(h({ 'if-modified-since': 'Fri, 02 Jan 2026 03:04:05 GMT' }), '"k"', meta), true);
    assert.equal(notModified(h({ 'if-modified-since': 'Fri, 02 Jan 2026 03:04:04 GMT' }), '"k"', meta), false);
    assert.equal(notModified(h({ 'if-modified-since': 'not a date' }), '"k"', meta), false);
    assert.equal(notModified(h({ 'if-modified-since': 'Fri, 02 Jan 2026 03:04:05 GMT' }), '"k"', { size: 1, etag: '"e"' }), false);
  });

  test('neither: modified', () => {
    assert.equal(notModified(h({}), '"k"', meta), false);
  });
});
