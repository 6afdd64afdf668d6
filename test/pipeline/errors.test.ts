import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import fc from 'fast-check';
import { ServiceError } from '../../src/errors.ts';
import { parseTransform } from '../../src/request/params.ts';
import { runPipeline } from '../../src/pipeline/run.ts';
import { render, config, quadrants } from './helpers.ts';

const PIXBUF = '/usr/libexec/installed-tests/gdk-pixbuf';

function pixbufSkip(): string | false {
  if (existsSync(path.join(PIXBUF, 'test-images/fail'))) return false;
  if (process.env.CI === 'true') throw new Error('gdk-pixbuf-tests is not installed');
  return 'gdk-pixbuf-tests not installed (apt-get install gdk-pixbuf-tests)';
}

function isClientError(err: unknown, status?: number, code?: string): boolean {
  if (!(err instanceof ServiceError)) return false;
  if (status !== undefined && err.status !== status) return false;
  if (code !== undefined && err.code !== code) return false;
  return err.status >= 400 && err.status < 500;
}

/** A small baseline JPEG whose SOF0 header is patched to declare width×height. */
async function lyingJpeg(width: number, height: number): Promise<Buffer> {
  const buf = Buffer.from(await sharp({ create: { width: 16, height: 16, channels: 3, background: '#808080' } }).jpeg().toBuffer());
  const sof = buf.indexOf(Buffer.from([0xff, 0xc0]));
  buf.writeUInt16BE(height, sof + 5);
  buf.writeUInt16BE(width, sof + 7);
  return buf;
}

let quad: Buffer;
before(async () => {
  quad = await quadrants('jpeg');
});

describe('bad sources never cause a 500', () => {
  test('bytes that are no image → 415 unsupported_image', async () => {
    for (const input of [Buffer.from('hello world, not an image'), Buffer.alloc(0), Buffer.from([0xff, 0xd8])]) {
      await assert.rejects(render(input, 'w=10'), (e) => isClientError(e));
    }
    await assert.rejects(render(Buffer.from('plain text that is long enough to look at'), 'w=10'), (e) => isClientError(e, 415, 'unsupported_image'));
  });

  test('a truncated JPEG is refused with 422 corrupt_image or rendered, never a 500', async () => {
    const cut = quad.subarray(0, Math.floor(quad.length / 3));
    const strict = await render(cut, 'w=50', { config: { failOn: 'truncated' } }).then(() => 'ok', (e) => e);
    assert.ok(isClientError(strict, 422, 'corrupt_image'), String(strict));
  });

  test('a header that claims more pixels than the limit → 422 image_too_large, before decoding', async () => {
    // 20000×20000 declared; the pixel data is garbage, so only a header check can answer image_too_large.
    const header = await lyingJpeg(20000, 20000);
    assert.equal((await sharp(header, { limitInputPixels: false }).metadata()).width, 20000);
    await assert.rejects(render(header, 'w=10'), (e) => isClientError(e, 422, 'image_too_large'));
    await assert.rejects(render(quad, 'w=10', { config: { maxPixels: 1000 } }), (e) => isClientError(e, 422, 'image_too_large'));
  });

  test('an animation counts its frames against the pixel limit', async () => {
    const { animatedGif } = await import('./helpers.ts');
    const gif = await animatedGif(10, 40, 30); // 1200 px per frame
    await assert.rejects(render(gif, 'w=20', { config: { maxPixels: 5000 } }), (e) => isClientError(e, 422, 'image_too_large'));
    const still = await render(gif, 'w=20&fm=jpg', { config: { maxPixels: 5000 } });
    assert.equal(still.meta.format, 'jpeg', 'a still output decodes one frame only');
  });

  test('gdk-pixbuf corrupt and hostile files all end in 4xx or a valid image', { skip: pixbufSkip() }, async () => {
    const dir = path.join(PIXBUF, 'test-images/fail');
    const files = [...readdirSync(dir).map((f) => path.join(dir, f)), ...['premature-end.jpg', 'premature-end.png', 'large.jpg', 'large.png'].map((f) => path.join(PIXBUF, f))];
    let refused = 0;
    for (const f of files) {
      const input = readFileSync(f);
      for (const q of ['w=64', 'fm=webp&w=32&h=32&fit=crop']) {
        const out = await render(input, q).then((r) => r, (e) => e);
        if (out instanceof Error) {
          assert.ok(isClientError(out), `${path.basename(f)} ?${q}: ${out.message}`);
          refused++;
        } else {
          assert.ok(out.body.length > 0);
        }
      }
    }
    assert.ok(refused > files.length, 'most hostile files are refused');
  });

  test('pixel bombs from gdk-pixbuf are refused on the header', { skip: pixbufSkip() }, async () => {
    for (const f of ['large.jpg', 'large.png']) {
      await assert.rejects(render(readFileSync(path.join(PIXBUF, f)), 'w=10'), (e) => isClientError(e, 422, 'image_too_large'), f);
    }
  });
});

describe('deadline', () => {
  test('a passed deadline is a 503 deadline_exceeded', async () => {
    const opts = parseTransform(new URLSearchParams('w=10'), config);
    await assert.rejects(runPipeline(quad, opts, { config, deadline: Date.now() - 1 }), (e) => e instanceof ServiceError && e.status === 503 && e.code === 'deadline_exceeded');
  });
});

describe('deadline between steps', () => {
  test('a deadline that passes during a step stops the pipeline before the next one', async () => {
    const opts = parseTransform(new URLSearchParams('w=10&mark=slow.png'), config);
    let loaded = false;
    // The deadline is far enough for the steps before the mark on a loaded machine; the mark's
    // load outlasts it, whenever it starts.
    const deadline = Date.now() + 1000;
    const loadMark = async () => {
      await new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now()) + 50));
      loaded = true;
      return sharp({ create: { width: 4, height: 4, channels: 3, background: '#000' } }).png().toBuffer();
    };
    await assert.rejects(runPipeline(quad, opts, { config, deadline, loadMark }), (e) => e instanceof ServiceError && e.status === 503 && e.code === 'deadline_exceeded');
    assert.ok(loaded, 'the step ran and the check after it fired');
  });
});

describe('hostile queries', () => {
  test('huge w, dpr, negatives, NaN, repeats, long values, bad base64, unknown fm → rendered as imgix does, or 4xx (always with transform.strict)', async () => {
    const badBase64 = new Set(['txt64=%%%', 'mark64=YQ=a']);
    for (const q of [
      'w=99999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999',
      'dpr=100', 'w=-100', 'h=NaN', 'w=10&w=20', `txt=${'a'.repeat(10_000)}`, 'txt64=%%%', 'mark64=YQ=a', 'fm=bmp', 'fm=', 'q=-', 'rect=-1,0,10,10',
    ]) {
      const out = await render(quad, q).then((r) => r, (e) => e);
      const strict = await render(quad, q, { config: { strict: true } }).then((r) => r, (e) => e);
      if (q === 'fm=') {
        assert.ok(!(out instanceof Error) && !(strict instanceof Error), 'an empty value is ignored');
        continue;
      }
      assert.ok(isClientError(strict, 400, 'invalid_parameter'), `strict: ${q.slice(0, 40)} → ${strict}`);
      if (badBase64.has(q)) assert.ok(isClientError(out, 400, 'invalid_parameter'), `${q} → ${out}`);
      else assert.ok(!(out instanceof Error) && out.meta.width! > 0, `${q.slice(0, 40)} → ${out}`);
    }
    const clamped = await render(quad, 'w=99999&h=99999', { config: { maxOutputSize: 256 } });
    assert.ok(clamped.meta.width! <= 256 && clamped.meta.height! <= 256, 'finite huge sizes are clamped');
  });

  test('parameters that could blow up memory stay bounded by the output size', async () => {
    const base = await sharp({ create: { width: 300, height: 200, channels: 3, background: '#fff' } }).png().toBuffer();
    const loadMark = async () => sharp({ create: { width: 10, height: 1000, channels: 3, background: '#0f0' } }).png().toBuffer();
    const text = await render(base, `txt=${'W'.repeat(500)}&txt-size=1000`);
    assert.deepEqual([text.meta.width, text.meta.height], [300, 200]);
    const mark = await render(base, 'mark=m.png&mark-w=8192&mark-h=8192', { ctx: { loadMark } });
    assert.deepEqual([mark.meta.width, mark.meta.height], [300, 200]);
    const padded = await render(base, 'pad=8192&fm=png');
    assert.ok(padded.meta.width! <= 8192 && padded.meta.height! <= 8192, `${padded.meta.width}×${padded.meta.height}`);
    const limited = await render(base, 'pad=8192&fm=png', { config: { maxOutputSize: 1000 } });
    assert.ok(limited.meta.width! <= 1000 && limited.meta.height! <= 1000, `${limited.meta.width}×${limited.meta.height}`);
  });

  test('random queries over known parameters: a rendered image or a 4xx, never anything else', async () => {
    const small = await sharp(quad).resize(40).png().toBuffer();
    const names = ['w', 'h', 'fit', 'crop', 'dpr', 'rect', 'ar', 'fm', 'q', 'bg', 'pad', 'border', 'rot', 'orient', 'flip', 'blur', 'px', 'bri', 'sat', 'hue', 'duotone', 'trim', 'border-radius', 'txt64', 'auto', 'fp-x', 'fp-z', 'mono', 'sepia', 'invert'];
    const values = fc.oneof(
      fc.constantFrom('0', '1', '-1', '0.5', '2', '100', '8193', '1e3', 'NaN', '', 'auto', 'crop', 'fill', 'clamp', 'focalpoint,left', 'f00', '8000ff00', 'hv', '16:9', '10,10,10,10', 'center,middle,0.5,0.5', '5,red', 'webp', 'png8', 'json', 'blurhash', 'format,compress', 'aGk'),
      fc.string({ maxLength: 12 }),
      fc.integer({ min: -10000, max: 10000 }).map(String),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.constantFrom(...names), values), { maxLength: 5 }), async (pairs) => {
        const q = new URLSearchParams(pairs).toString();
        try {
          const r = await render(small, q, { config: { maxOutputSize: 512 } });
          assert.ok(r.body.length > 0);
        } catch (err) {
          assert.ok(isClientError(err), `?${q} → ${err instanceof Error ? err.stack : String(err)}`);
        }
      }),
      { numRuns: 150, seed: 42 },
    );
  });
});
