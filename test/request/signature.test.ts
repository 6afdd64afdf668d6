import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { cacheControlUntil, checkExpires, verifySignature, signTarget } from '../../src/request/signature.ts';
import { ServiceError } from '../../src/errors.ts';

const TOKEN = 'FOO123bar';

function fails(target: string, status: number, code: string, now?: number): void {
  assert.throws(() => verifySignature(target, TOKEN, now), (err: unknown) => err instanceof ServiceError && err.status === status && err.code === code, target);
}

describe('imgix signatures', () => {
  test('the four published vectors verify', () => {
    for (const t of [
      '/users/1.png?s=6797c24146142d5b40bde3141fd3600c',
      '/users/1.png?w=400&h=300&s=c7b86f666a832434dd38577e38cf86d1',
      '/users/1.png?h=300&w=400&s=1a4e48641614d1109c6a7af51be23d18',
      '/http%3A%2F%2Favatars.com%2Fjohn-smith.png?s=493a52f008c91416351f8b33d4883135',
    ]) {
      assert.doesNotThrow(() => verifySignature(t, TOKEN), t);
      assert.equal(signTarget(t, TOKEN), t);
    }
  });

  test('parameter order is part of what is signed', () => {
    fails('/users/1.png?h=300&w=400&s=c7b86f666a832434dd38577e38cf86d1', 403, 'invalid_signature');
  });

  test('missing, wrong, not-last or wrong-token signatures are 403', () => {
    fails('/users/1.png', 403, 'invalid_signature');
    fails('/users/1.png?w=400', 403, 'invalid_signature');
    fails('/users/1.png?s=6797c24146142d5b40bde3141fd3600d', 403, 'invalid_signature');
    fails('/users/1.png?s=', 403, 'invalid_signature');
    fails('/users/1.png?s=6797c24146142d5b40bde3141fd3600c&w=1', 403, 'invalid_signature');
    fails('/users/2.png?s=6797c24146142d5b40bde3141fd3600c', 403, 'invalid_signature');
    assert.throws(() => verifySignature('/users/1.png?s=6797c24146142d5b40bde3141fd3600c', 'other'), /invalid signature/);
  });

  test('the raw target is signed: encodings and bare keys survive unchanged', () => {
    for (const t of ['/a b/c.jpg?mark&w=10', '/x.jpg?txt=a%2Cb%20c+d&crop=top%2Cleft', '/x.jpg?', '/ü.jpg?txt=%E2%9C%93']) {
      const signed = signTarget(t, TOKEN);
      assert.ok(signed.startsWith(t.endsWith('?') ? t.slice(0, -1) : t));
      assert.doesNotThrow(() => verifySignature(signed, TOKEN), signed);
      // Re-serialising the query (e.g. + → %20) breaks the signature.
      if (t.includes('+')) fails(signed.replace('+', '%20'), 403, 'invalid_signature');
    }
  });

  test('expires: in the future passes, in the past is 404 expired (as imgix answers), and it is signed', () => {
    const now = 1_700_000_000;
    const future = signTarget(`/a.jpg?w=10&expires=${now + 60}`, TOKEN);
    const past = signTarget(`/a.jpg?w=10&expires=${now - 1}`, TOKEN);
    assert.doesNotThrow(() => verifySignature(future, TOKEN, now));
    fails(past, 404, 'expired', now);
    fails(past.replace(`expires=${now - 1}`, `expires=${now + 999}`), 403, 'invalid_signature', now);
    fails(signTarget('/a.jpg?expires=tomorrow', TOKEN), 400, 'invalid_parameter', now);
  });

  test('signTarget replaces an existing trailing signature', () => {
    const once = signTarget('/a.jpg?w=1', TOKEN);
    assert.equal(signTarget(once, TOKEN), once);
  });

  test('uppercase hex is accepted', () => {
    assert.doesNotThrow(() => verifySignature('/users/1.png?s=6797C24146142D5B40BDE3141FD3600C', TOKEN));
  });
});

describe('expires on every URL', () => {
  const now = 1_700_000_000;
  const expired = (err: unknown) => err instanceof ServiceError && err.status === 404 && err.code === 'expired';

  test('no expires: nothing to check; a future one is returned; a past one is 404 expired', () => {
    assert.equal(checkExpires('w=10', now), undefined);
    assert.equal(checkExpires('', now), undefined);
    assert.equal(checkExpires('expires=', now), undefined);
    assert.equal(checkExpires(`w=10&expires=${now + 60}`, now), now + 60);
    assert.equal(checkExpires(`expires=${now}`, now), now, 'the last second is still served');
    assert.throws(() => checkExpires(`w=10&expires=${now - 1}`, now), expired);
  });

  test('given twice, the earliest counts; not a unix time is 400 invalid_parameter naming expires', () => {
    assert.throws(() => checkExpires(`expires=${now + 999}&expires=${now - 1}`, now), expired);
    assert.equal(checkExpires(`expires=${now + 999}&expires=${now + 5}`, now), now + 5);
    for (const bad of ['tomorrow', '-1', '1.5', '1e10', '%2B1', '9'.repeat(40)]) {
      assert.throws(() => checkExpires(`expires=${bad}`, now), (err: unknown) => err instanceof ServiceError && err.status === 400 && err.code === 'invalid_parameter' && /^expires:/.test(err.publicMessage), bad);
    }
  });

  test('Cache-Control never outlives expires: max-age, s-maxage and the stale allowances', () => {
    const at = (v: string, left: number) => cacheControlUntil(v, now + left, now);
    assert.equal(at('public, max-age=86400', 60), 'public, max-age=60');
    assert.equal(at('public, max-age=30', 60), 'public, max-age=30', 'a shorter lifetime is kept');
    assert.equal(at('public, max-age=86400, s-maxage=31536000, immutable', 120), 'public, max-age=120, s-maxage=120, immutable');
    assert.equal(at('public, max-age=50, stale-while-revalidate=600, stale-if-error=5', 60), 'public, max-age=50, stale-while-revalidate=10, stale-if-error=5');
    assert.equal(at('public', 60), 'public, max-age=60', 'no lifetime named: one is added, no cache guesses');
    assert.equal(at('no-store', 60), 'no-store');
    assert.equal(at('public, max-age=86400', 0), 'public, max-age=0');
    assert.equal(cacheControlUntil('public, max-age=86400', undefined, now), 'public, max-age=86400');
    // A fraction of a second left rounds down: never a second past the expiry.
    assert.equal(cacheControlUntil('max-age=86400', now + 10, now + 0.5), 'max-age=9');
  });
});
