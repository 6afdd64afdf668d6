/**
 * txt: many lines at a large size are fitted into the image instead of failing as a "corrupt
 * image"; the bitmap Pango draws is never taller than the height estimated before rendering,
 * and text that cannot be laid out at all is a 422 naming `txt`.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { textHeight } from '../../src/pipeline/steps/text.ts';
import { render, stats } from './helpers.ts';

const white = (w: number, h: number) => sharp({ create: { width: w, height: h, channels: 3, background: '#fff' } }).png().toBuffer();

describe('txt', () => {
  test('150 newlines at txt-size=200 on a 2000×2000 image: rendered (fitted), not 422 corrupt_image', async () => {
    const base = await white(2000, 2000);
    const r = await render(base, `txt=${encodeURIComponent('\n'.repeat(150) + 'X')}&txt-size=200&txt-align=top,left&fm=jpg`);
    assert.deepEqual([r.meta.width, r.meta.height], [2000, 2000]);
    const lines = await render(base, `txt=${encodeURIComponent('WWWW\n'.repeat(40))}&txt-size=200&fm=jpg`);
    assert.deepEqual([lines.meta.width, lines.meta.height], [2000, 2000]);
    assert.ok((await stats(lines.body)).mean[0]! < 253, 'the text is drawn');
  });

  test('text Pango cannot lay out is a 422 naming txt, not corrupt_image', async () => {
    const base = await white(100, 100);
    for (const q of ['txt=a%00b', `txt64=${Buffer.from('a\0b').toString('base64url')}`]) {
      await assert.rejects(render(base, `${q}&fm=png`), (e: any) => e.status === 422 && e.code === 'unsupported_transformation' && /^txt: /.test(e.publicMessage), q);
    }
  });

  test('the estimate is never below what Pango renders at txt-size', async () => {
    const texts = ['Hello world', 'W'.repeat(60), 'iiiii iiiii iiiii', 'a\nb\nc\n\n\nd', '漢字かな交じり文'.repeat(4), 'Ünïcödé — “quotes” …', 'x '.repeat(100)];
    for (const txt of texts) {
      for (const [size, wrap] of [[12, 200], [40, 300], [100, 1000]]) {
        const { info } = await sharp({ text: { text: txt.replace(/&/g, '&amp;').replace(/</g, '&lt;'), font: `sans-serif ${size}`, dpi: 72, rgba: true, width: wrap, wrap: 'word-char' } })
          .png()
          .toBuffer({ resolveWithObject: true });
        assert.ok(textHeight(txt, size, wrap) >= info.height, `${JSON.stringify(txt.slice(0, 20))} at ${size}px in ${wrap}px: estimated ${textHeight(txt, size, wrap)}, rendered ${info.height}`);
      }
    }
  });

  test('fitting never makes text larger than txt-size', async () => {
    // One em per character overestimates "iiii": the estimate says "fit", Pango's fit would be larger.
    const base = await white(400, 60);
    const fitted = await render(base, 'txt=iiiiiiiiiiiiiiiiiiii&txt-size=12&txt-align=top,left&txt-pad=0&fm=png');
    const { info } = await sharp(fitted.body).trim({ background: '#fff' }).toBuffer({ resolveWithObject: true });
    assert.ok(info.height <= 16, `text 12 px high, got ${info.height}`);
  });
});
