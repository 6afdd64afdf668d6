/**
 * The client signs with a key's secret: `ixkey` before `expires` and `s`, covered by the
 * signature, verified by the server's own function; srcset candidates are each signed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildUrl, srcset } from '../../src/client/index.ts';
import { signingKeyId, verifyAny } from '../../src/request/signature.ts';

const SECRET = 'igs_test-secret';

test('buildUrl with keyId: ixkey is signed, expires and s come last, the server verifies it', () => {
  const url = buildUrl('photos/a b.jpg', { w: 400, auto: 'format' }, { baseUrl: 'https://img.example/dev', signWith: { token: SECRET, keyId: 'web', expires: 2_000_000_000 } });
  const u = new URL(url);
  assert.match(u.search, /^\?w=400&auto=format&ixkey=web&expires=2000000000&s=[0-9a-f]{32}$/);
  const query = u.search.slice(1);
  assert.equal(signingKeyId(query), 'web');
  assert.equal(verifyAny(u.pathname, [query], [SECRET], 1_900_000_000), query);
  // Another key's id, or another secret, does not verify.
  assert.throws(() => verifyAny(u.pathname, [query.replace('ixkey=web', 'ixkey=bob')], [SECRET], 1_900_000_000), { code: 'invalid_signature' });
  assert.throws(() => verifyAny(u.pathname, [query], ['igs_other'], 1_900_000_000), { code: 'invalid_signature' });
  // A caller-supplied ixkey parameter is replaced by the signing key's.
  assert.match(buildUrl('a.jpg', { ixkey: 'evil' } as never, { signWith: { token: SECRET, keyId: 'web' } }), /\?ixkey=web&s=/);
});

test('srcset with a key secret: every candidate is signed for the key', () => {
  const set = srcset('a.jpg', { widths: [100, 200], baseUrl: 'https://img.example', signWith: { token: SECRET, keyId: 'web' } });
  const urls = set.split(/,\s+/).map((c) => new URL(c.split(' ')[0]!));
  assert.equal(urls.length, 2);
  for (const u of urls) assert.equal(verifyAny(u.pathname, [u.search.slice(1)], [SECRET]), u.search.slice(1));
});
