/**
 * queryCandidates: API Gateway REST (payload 1.0) hands over parsed query parameters only, so
 * the adapter rebuilds the query strings a client could have sent (and signed): percent-encoded
 * the way imgix's libraries write it first, then the other usual spellings.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { queryCandidates, type RestApiEvent } from '../../src/lambda.ts';

const ev = (
  multi: Record<string, string[] | undefined> | null,
  single?: Record<string, string | undefined> | null,
): RestApiEvent => ({
  httpMethod: 'GET',
  path: '/photo.jpg',
  multiValueQueryStringParameters: multi,
  queryStringParameters: single === undefined ? (multi ? Object.fromEntries(Object.entries(multi).map(([k, v]) => [k, v?.at(-1)])) : null) : single,
});

describe('queryCandidates', () => {
  test('no query (both maps null, or absent, or empty) → a single empty string', () => {
    assert.deepEqual(queryCandidates(ev(null, null)), ['']);
    assert.deepEqual(queryCandidates({ httpMethod: 'GET', path: '/x' }), ['']);
    assert.deepEqual(queryCandidates(ev({}, {})), ['']);
  });

  test('simple values: one candidate, parameters in the order they arrived', () => {
    assert.deepEqual(queryCandidates(ev({ w: ['400'], h: ['300'], fit: ['crop'] })), ['w=400&h=300&fit=crop']);
    assert.deepEqual(queryCandidates(ev({ fit: ['crop'], w: ['400'] })), ['fit=crop&w=400'], 'order is kept, not sorted');
  });

  test('repeated parameters come from multiValueQueryStringParameters, in order', () => {
    // API Gateway puts the last value in queryStringParameters and all of them in the multi map.
    assert.deepEqual(queryCandidates(ev({ a: ['1', '2'], b: ['x'] })), ['a=1&a=2&b=x']);
  });

  test('without a multi map, queryStringParameters is used', () => {
    assert.deepEqual(queryCandidates(ev(null, { w: '100', fm: 'webp' })), ['w=100&fm=webp']);
  });

  test('an empty value: `k=` first (what imgix libraries write), then the bare `k`', () => {
    const c = queryCandidates(ev({ w: ['100'], mark: [''] }));
    assert.deepEqual(c, ['w=100&mark=', 'w=100&mark']);
    assert.deepEqual(queryCandidates(ev(null, { mark: '' })), ['mark=', 'mark']);
    assert.deepEqual(queryCandidates(ev(null, { mark: undefined })), ['mark=', 'mark'], 'undefined reads as empty');
  });

  test('values with `,` and spaces: percent-encoded first, then as received', () => {
    const c = queryCandidates(ev({ txt: ['Hello, world'], rect: ['0,0,100,100'] }));
    assert.equal(c[0], 'txt=Hello%2C%20world&rect=0%2C0%2C100%2C100');
    assert.ok(c.includes('txt=Hello, world&rect=0,0,100,100'));
    assert.equal(c.length, 2);
    assert.equal(new Set(c).size, c.length, 'no duplicates');
  });

  test('encoded and empty together: four distinct spellings, encoded `k=` first', () => {
    const c = queryCandidates(ev({ 'txt-font': ['Sans Bold'], mark: [''], w: ['64'] }));
    assert.deepEqual(c, [
      'txt-font=Sans%20Bold&mark=&w=64',
      'txt-font=Sans%20Bold&mark&w=64',
      'txt-font=Sans Bold&mark=&w=64',
      'txt-font=Sans Bold&mark&w=64',
    ]);
  });

  test('keys are encoded too; base64 values keep `-` and `_`, `+` and `/` are encoded', () => {
    const c = queryCandidates(ev({ 'a b': ['1'], txt64: ['SGVsbG8-d29ybGQ_'], blend64: ['aGk+Lw=='] }));
    assert.equal(c[0], 'a%20b=1&txt64=SGVsbG8-d29ybGQ_&blend64=aGk%2BLw%3D%3D');
    assert.ok(c.includes('a b=1&txt64=SGVsbG8-d29ybGQ_&blend64=aGk+Lw=='));
  });

  test('the first candidate round-trips through URLSearchParams to the same pairs', () => {
    const multi = { txt: ['Hello, world & co'], w: ['1', '2'], mark: [''], 'ü': ['ß'] };
    const parsed = [...new URLSearchParams(queryCandidates(ev(multi))[0])];
    assert.deepEqual(parsed, [
      ['txt', 'Hello, world & co'],
      ['w', '1'],
      ['w', '2'],
      ['mark', ''],
      ['ü', 'ß'],
    ]);
  });

  test('undefined entries in the multi map are skipped', () => {
    assert.deepEqual(queryCandidates(ev({ w: ['10'], gone: undefined })), ['w=10']);
  });
});
