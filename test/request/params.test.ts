import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { parseTransform, canonicalKey, isIdentity, type TransformOptions } from '../../src/request/params.ts';
import { transformConfigSchema } from '../../src/config/transform.ts';
import { ServiceError } from '../../src/errors.ts';

const config = transformConfigSchema.parse({});
const strictConfig = transformConfigSchema.parse({ strict: true });
const parse = (q: string): TransformOptions => parseTransform(new URLSearchParams(q), config);
const parseStrict = (q: string): TransformOptions => parseTransform(new URLSearchParams(q), strictConfig);

/** The 400 that transform.strict gives for `q`. */
function rejects(q: string, param: string, cfg = strictConfig): ServiceError {
  try {
    parseTransform(new URLSearchParams(q), cfg);
  } catch (err) {
    assert.ok(err instanceof ServiceError, `not a ServiceError: ${String(err)}`);
    assert.equal(err.status, 400, q);
    assert.equal(err.code, 'invalid_parameter');
    assert.ok(err.publicMessage.startsWith(`${param}: `), `${q} → ${err.publicMessage}`);
    return err;
  }
  assert.fail(`accepted ${q}`);
}

describe('parseTransform', () => {
  test('reads imgix names and aliases into canonical keys', () => {
    const o = parse('width=300&height=0.5&f=crop&or=90&inv=true&mono=red&m=logo.png&markalign=top,left&txtclr=fff&t=hi');
    assert.equal(o.w, 300);
    assert.equal(o.h, 0.5);
    assert.equal(o.fit, 'crop');
    assert.equal(o.orient, '90');
    assert.equal(o.invert, true);
    assert.deepEqual(o.monochrome, { r: 255, g: 0, b: 0, alpha: 1 });
    assert.equal(o.mark, 'logo.png');
    assert.deepEqual(o['mark-align'], ['left', 'top']);
    assert.deepEqual(o['txt-color'], { r: 255, g: 255, b: 255, alpha: 1 });
    assert.equal(o.txt, 'hi');
  });

  test('unknown parameters are ignored, empty values count as absent', () => {
    assert.deepEqual(parse('foo=bar&utm_source=x&w=&lp-blur=50'), {});
  });

  test('with transform.strict, the message names the parameter, the value and what is allowed', () => {
    const err = rejects('w=abc', 'w');
    assert.equal(err.publicMessage, "w: expected an integer from 2 to 8192 or a fraction greater than 0 and at most 1, got 'abc'");
    assert.match(rejects('fm=tiff', 'fm').publicMessage, /one of avif, blurhash, gif, jp2, jpg, json, jxr, mp4, pjpg, png, png8, png32, spritesheet, webm, webp, got 'tiff'/);
    assert.match(rejects('dpr=6', 'dpr').publicMessage, /a number greater than 0 and at most 5/);
    assert.match(rejects('width=-3', 'width').publicMessage, /got '-3'/);
  });

  test('finite sizes above 8192 are clamped; infinite or absurd ones are refused', () => {
    assert.equal(parse('w=99999').w, 8192);
    assert.equal(parse('h=1000000000000000000000').h, 8192);
    assert.equal(parse('mark-w=10000')['mark-w'], 8192);
    rejects(`w=${'9'.repeat(400)}`, 'w');
  });

  test('with transform.strict, hostile values are 400s naming the parameter', () => {
    for (const [q, p] of [
      ['w=NaN', 'w'], ['w=Infinity', 'w'], ['w=1e5', 'w'], ['w=0x10', 'w'], ['w=-1', 'w'], ['w=0', 'w'], ['h=-0.5', 'h'],
      ['dpr=0', 'dpr'], ['dpr=-1', 'dpr'], ['dpr=1000', 'dpr'], ['dpr=NaN', 'dpr'],
      ['fp-x=2', 'fp-x'], ['fp-z=0.5', 'fp-z'], ['q=abc', 'q'],
      ['fit=stretch', 'fit'], ['crop=middle', 'crop'], ['flip=x', 'flip'], ['orient=45', 'orient'],
      ['bg=zzz', 'bg'], ['bg=12345', 'bg'], ['border=10', 'border'], ['border=abc,fff', 'border'],
      ['rect=1,2,3', 'rect'], ['rect=0,0,0,10', 'rect'], ['rect=a,b,c,d', 'rect'], ['ar=16:0', 'ar'], ['ar=abc', 'ar'],
      ['txt64=!!!', 'txt64'], ['txt64=a', 'txt64'], ['mark64=_-_-_-_-_w', 'mark64'], ['txt64=w4', 'txt64'],
      ['duotone=red', 'duotone'], ['invert=maybe', 'invert'], ['border-radius=1,2', 'border-radius'],
      ['mark-y=-5', 'mark-y'], ['expires=soon', 'expires'], ['mark=../secret.png', 'mark'],
      [`txt=${'x'.repeat(10_000)}`, 'txt'], [`dl=${'y'.repeat(10_000)}`, 'dl'], [`w=${'1'.repeat(10_000)}`, 'w'],
      [`bg=${'f'.repeat(10_000)}`, 'bg'], [`fm=${'z'.repeat(10_000)}`, 'fm'],
    ] as const) {
      const err = rejects(q, p);
      assert.ok(err.publicMessage.length < 400, `message too long for ${q.slice(0, 30)}`);
    }
  });

  test('with transform.strict, a repeated parameter (also through an alias or its 64 form) is a 400', () => {
    rejects('w=100&w=200', 'w');
    assert.match(rejects('w=100&width=200', 'width').publicMessage, /already given as w/);
    rejects('txt=a&txt64=Yg', 'txt64');
  });

  test('base64url values of the 64 variants are decoded (UTF-8, padding optional); bad base64 is a 400 in either mode, as with imgix', () => {
    const b64 = Buffer.from('Héllo wörld?&', 'utf8').toString('base64url');
    assert.equal(parse(`txt64=${b64}`).txt, 'Héllo wörld?&');
    assert.equal(parse(`txt64=${b64}==`.slice(0, `txt64=${b64}`.length + ((4 - (b64.length % 4)) % 4))).txt, 'Héllo wörld?&');
    assert.equal(parse(`mark64=${Buffer.from('logos/a b.png').toString('base64url')}`).mark, 'logos/a b.png');
    rejects('txt64=' + Buffer.from([0xff, 0xfe]).toString('base64url'), 'txt64');
    for (const q of ['txt64=!!!', 'txt64=a', 'mark64=_-_-_-_-_w', 'txt64=' + Buffer.from([0xff, 0xfe]).toString('base64url')]) rejects(q, q.split('=')[0]!, config);
  });

  test('suggested-only ranges clamp, angles wrap', () => {
    assert.equal(parse('q=150').q, 100);
    assert.equal(parse('bri=-500').bri, -100);
    assert.equal(parse('blur=5000').blur, 2000);
    assert.equal(parse('rot=-90').rot, 270);
    assert.equal(parse('hue=370').hue, 10);
    assert.equal(parse('border=500,000').border!.width, 100);
  });

  test('colours: RGB, ARGB, RRGGBB, AARRGGBB, # prefix, keywords', () => {
    assert.deepEqual(parse('bg=f00').bg, { r: 255, g: 0, b: 0, alpha: 1 });
    assert.deepEqual(parse('bg=8f00').bg, { r: 255, g: 0, b: 0, alpha: 0.533 });
    assert.deepEqual(parse('bg=00ff00').bg, { r: 0, g: 255, b: 0, alpha: 1 });
    assert.deepEqual(parse('bg=800000ff').bg, { r: 0, g: 0, b: 255, alpha: 0.502 });
    assert.deepEqual(parse('bg=%23000000').bg, { r: 0, g: 0, b: 0, alpha: 1 });
    assert.deepEqual(parse('bg=cornflowerblue').bg, { r: 100, g: 149, b: 237, alpha: 1 });
    assert.deepEqual(parse('bg=Red').bg, { r: 255, g: 0, b: 0, alpha: 1 });
  });

  test('rect accepts pixels, fractions and keywords', () => {
    assert.deepEqual(parse('rect=10,20,30,40').rect, [{ px: 10 }, { px: 20 }, { px: 30 }, { px: 40 }]);
    assert.deepEqual(parse('rect=center,bottom,0.5,0.25').rect, [{ keyword: 'center' }, { keyword: 'bottom' }, { frac: 0.5 }, { frac: 0.25 }]);
  });

  test('defaults are dropped', () => {
    assert.deepEqual(parse('fit=clip&dpr=1&chromasub=420&invert=false&bri=0&pad=0'), {});
  });

  test('q and trim-tol given in the URL are kept even at imgix\'s nominal default: what applies without them depends on auto=compress and the configuration', () => {
    assert.deepEqual(parse('q=75&trim-tol=0'), { q: 75, 'trim-tol': 0 });
    assert.deepEqual(parse('auto=compress&q=75'), { auto: ['compress'], q: 75 });
  });
});

describe('bad values as imgix handles them (the default)', () => {
  test('a value that cannot be read is ignored: the parameter counts as absent', () => {
    assert.deepEqual(parse('w=abc&h=NaN&fit=cover&flip=x&bg=zzz&rect=1,2,3&ar=abc&invert=maybe&border-radius=1,2&duotone=red&w=abc'), {});
    assert.deepEqual(parse('w=abc&h=300'), { h: 300 });
    assert.deepEqual(parse('fill=gen&fit=crop'), { fit: 'crop' }, 'imgix values imagegate does not render yet are ignored');
    assert.deepEqual(parse(`dl=${'y'.repeat(10_000)}&mark=../secret.png`), {}, 'over-long text and unsafe paths are still never used');
  });
  test('a number outside imgix\'s strict range is clamped into it', () => {
    assert.equal(parse('dpr=6').dpr, 5);
    assert.equal(parse('dpr=1000').dpr, 5);
    assert.equal(parse('fp-x=2')['fp-x'], 1);
    assert.equal(parse('fp-z=0.5')['fp-z'], undefined, 'clamped to 1, the default, which is dropped');
    assert.equal(parse('min-w=0')['min-w'], 1);
    assert.equal(parse('mark-y=-5')['mark-y'], 0);
    assert.equal(parse('dpr=0').dpr, undefined, 'dpr must be above 0: nothing to clamp to, ignored');
  });
  test('a repeated parameter takes its last value, whatever its spelling', () => {
    assert.equal(parse('w=100&w=200').w, 200);
    assert.equal(parse('w=100&width=300').w, 300);
    assert.equal(parse('txt=a&txt64=Yg').txt, 'b');
    assert.equal(parse('w=100&w=abc').w, undefined, 'the last value is the one read');
  });
  test('unknown members of a list are dropped', () => {
    assert.deepEqual(parse('auto=format,compress,foo').auto, ['compress', 'format']);
    assert.deepEqual(parse('crop=middle,top').crop, ['top']);
    assert.equal(parse('auto=foo').auto, undefined);
    rejects('auto=format,foo', 'auto');
  });
  test('comma fallbacks: fit=facearea,fill fills (no face is ever found); otherwise the first known value', () => {
    assert.equal(parse('fit=facearea,fill').fit, 'fill');
    assert.equal(parseStrict('fit=facearea,fill').fit, 'fill', 'a documented imgix syntax, not a bad value');
    assert.equal(parse('fit=facearea').fit, 'facearea');
    assert.equal(parse('fit=cover,crop').fit, 'crop');
    rejects('fit=cover,crop', 'fit');
  });
  test('a bad expires is refused in either mode: ignoring it would make the link never expire', () => {
    rejects('expires=soon', 'expires', config);
  });
  test('imgix formats imagegate cannot encode are accepted (the response names the substitute)', () => {
    for (const fm of ['jp2', 'jxr', 'mp4', 'webm', 'spritesheet'] as const) {
      assert.equal(parse(`fm=${fm}`).fm, fm);
      assert.equal(parseStrict(`fm=${fm}`).fm, fm);
    }
  });
  test('dl= (empty) asks for a download under the image\'s own name; other empty values are absent', () => {
    assert.deepEqual(parse('dl='), { dl: '' });
    assert.deepEqual(parse('dl=a.jpg&dl='), { dl: '' });
    assert.deepEqual(parse('w=&txt='), {});
  });
  test('jpg-progressive and frame', () => {
    assert.deepEqual(parse('jpg-progressive=true'), {}, 'the default');
    assert.equal(parse('jpeg-progressive=false')['jpg-progressive'], false);
    assert.deepEqual(parse('frame=3').frame, { from: 3, to: 3 });
    assert.deepEqual(parse('frame=2-5').frame, { from: 2, to: 5 });
    assert.deepEqual(parse('frame=2-').frame, { from: 2 });
    assert.deepEqual(parse('frame=-4').frame, { from: 1, to: 4 });
    for (const q of ['frame=0', 'frame=5-2', 'frame=-', 'frame=a', 'frame=1.5']) {
      assert.equal(parse(q).frame, undefined, q);
      rejects(q, 'frame');
    }
  });
});

describe('canonicalKey', () => {
  test('is the same whatever the order or spelling of the parameters', () => {
    const a = canonicalKey(parse('w=300&h=200&fit=crop&crop=top,left&bg=red&txt=hi'));
    const b = canonicalKey(parse('bg=ff0000&t=hi&crop=left,top&f=crop&height=200&width=300'));
    assert.equal(a, b);
  });
  test('differs when a value differs, drops defaults, ignores s and expires', () => {
    assert.notEqual(canonicalKey(parse('w=300')), canonicalKey(parse('w=301')));
    assert.equal(canonicalKey(parse('w=300&fit=clip')), canonicalKey(parse('w=300')));
    assert.notEqual(canonicalKey(parse('w=300&q=75')), canonicalKey(parse('w=300')));
    assert.equal(canonicalKey(parse('w=300&s=abc&expires=99')), canonicalKey(parse('w=300')));
    assert.equal(canonicalKey(parse('')), '');
  });
  test('free text is encoded so it cannot forge other keys', () => {
    assert.notEqual(canonicalKey(parse('txt=a%26w%3D5')), canonicalKey(parse('txt=a&w=5')));
  });
});

describe('isIdentity', () => {
  test('true without rendering parameters', () => {
    assert.equal(isIdentity(parse('')), true);
    assert.equal(isIdentity(parse('s=abc&expires=123&utm=1&fit=clip')), true);
    assert.equal(isIdentity(parse('q=75')), false, 'an explicit quality re-encodes, as q=74 does');
  });
  test('false as soon as something asks for a change', () => {
    for (const q of ['w=10', 'fm=png', 'flip=h', 'auto=format', 'bg=fff', 'dl=a.jpg&w=10']) assert.equal(isIdentity(parse(q)), false, q);
    for (const q of ['dl=a.jpg', 'dl=']) assert.equal(isIdentity(parse(q)), true, `${q}: a download of the original is the original`);
  });
  test('auto=format that chose nothing is identity once negotiated', () => {
    assert.equal(isIdentity(parse('auto=format'), {}), true);
    assert.equal(isIdentity(parse('auto=format'), { format: 'webp' }), false);
    assert.equal(isIdentity(parse('auto=format,compress'), {}), false);
  });
});
