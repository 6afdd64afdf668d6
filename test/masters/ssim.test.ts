/**
 * Quality of renders from a master, measured with SSIM (ssim.js) over real photos — baseline,
 * progressive, 4:4:4 — and variants made from them (CMYK, an embedded Display P3 profile, alpha,
 * EXIF orientation 6), across a ladder of widths, formats and crops, each rendered by the
 * pipeline from the original and from the original's master:
 * - the pixels the encoder is given (the same request as lossless PNG): SSIM ≥ 0.99;
 * - the encoded output: as close to the direct render's pixels as the direct output is, within
 *   0.005 SSIM (two lossy encodes of nearly equal pixels differ by more than their inputs do:
 *   WebP q75 turns 0.996 into 0.985 at 200 px, so a fixed bar on encoded outputs would measure
 *   the encoder, not the master);
 * - the output has the direct render's exact size.
 * That eligible requests really render from the master is tested through the app (app.test.ts).
 * With SSIM_TABLE=file the values are written there as a Markdown table.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { ssim } from 'ssim.js';
import { parseConfig } from '../../src/config/load.ts';
import { runPipeline, type PipelineContext } from '../../src/pipeline/run.ts';
import { parseTransform } from '../../src/request/params.ts';
import { negotiateFormat } from '../../src/request/negotiate.ts';
import { encodeMaster, masterOf, masterPixels, readMaster, type Master } from '../../src/masters/index.ts';
import type { PipelineInput } from '../../src/pipeline/context.ts';
import { photoSkip } from '../pipeline/helpers.ts';

const BG = '/usr/share/backgrounds';
const skip = photoSkip();
const config = parseConfig({ sources: { l: { type: 'fs', root: '/' } }, routes: [{ match: '*', source: 'l' }] });

/** name → the photo, or how it is made from one. */
const PHOTOS: Record<string, string | ((to: string) => Promise<unknown>)> = {
  'baseline.jpg': `${BG}/Kleiber_by_Lukas_Baubkus.jpg`, // 6028×3391, 4:2:0
  'progressive.jpg': `${BG}/Infinite-Sea_by_Aury88.jpg`,
  '444.jpg': `${BG}/Fossa_by_Jasper_Roks.jpg`, // 4096×2304, 4:4:4
  'cmyk.jpg': (to) => sharp(`${BG}/Fossa_by_Jasper_Roks.jpg`).toColourspace('cmyk').jpeg({ quality: 92 }).toFile(to),
  'p3.jpg': (to) => sharp(`${BG}/Painting-Colors_by__herobrine7gamer.jpg`).withIccProfile('p3').jpeg({ quality: 92 }).toFile(to),
  'rotated.jpg': (to) => sharp(`${BG}/Fossa_by_Jasper_Roks.jpg`).withMetadata({ orientation: 6 }).jpeg({ quality: 92 }).toFile(to),
  'alpha.png': async (to) => {
    // The photo with a left-to-right transparency ramp.
    const [width, height] = [3200, 1800];
    const ramp = Buffer.alloc(width * height);
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) ramp[y * width + x] = Math.round((255 * x) / width);
    await sharp(`${BG}/Fossa_by_Jasper_Roks.jpg`).resize(width).joinChannel(ramp, { raw: { width, height, channels: 1 } }).png({ compressionLevel: 1 }).toFile(to);
  },
};

/** The ladder: widths × formats, and crops. */
function ladder(name: string, masterWidth: number): string[] {
  const formats = name.endsWith('.png') ? ['webp', 'avif'] : ['jpg', 'webp', 'avif'];
  const out: string[] = [];
  for (const w of [200, 480, 1000, 1600]) if (w <= masterWidth) for (const fm of formats) out.push(`w=${w}&fm=${fm}`);
  out.push(`w=600&h=600&fit=crop&fm=${formats[0]}`, `w=300&rect=400,300,1600,900&fm=${formats[0]}`, `w=500&h=300&fit=crop&crop=focalpoint&fp-x=0.3&fp-y=0.4&fp-z=1.5&fm=webp`);
  return out;
}

/** Decoded for SSIM; transparent images over white, as a page would show them. */
async function pixels(body: Buffer) {
  const { data, info } = await sharp(body).flatten({ background: '#ffffff' }).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8ClampedArray(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
}

async function render(input: PipelineInput, query: string, master?: Master): Promise<Buffer> {
  const opts = parseTransform(new URLSearchParams(query), config.transform);
  const n = negotiateFormat(opts, undefined);
  const ctx: PipelineContext = { config: config.transform, format: n.format, insteadOfAvif: n.insteadOfAvif, master: master?.of };
  return (await runPipeline(input, opts, ctx)).body;
}

describe('masters: SSIM of renders from a master against direct renders', { skip }, () => {
  let dir: string;
  const rows: string[] = [];
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'imagegate-ssim-'));
    for (const [name, make] of Object.entries(PHOTOS)) if (typeof make !== 'string') await make(path.join(dir, name));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
    if (process.env.SSIM_TABLE) writeFileSync(process.env.SSIM_TABLE, `| photo | master | request | pixels | output | output vs direct pixels: direct / master |\n|---|---|---|---|---|---|\n${rows.join('\n')}\n`);
  });

  for (const [name, make] of Object.entries(PHOTOS)) {
    test(name, async () => {
      const file = readFileSync(typeof make === 'string' ? make : path.join(dir, name));
      const of = masterOf(await sharp(file).metadata(), 2048);
      assert.ok(of, 'the photo gets a master');
      // A master as the process that made it renders from it (its pixels), and as stored (JPEG q95 or PNG).
      const px0 = await masterPixels(file, of, config, 2048, Date.now() + 120_000);
      const masters: Record<string, Master> = { pixels: { input: px0, of, size: px0 }, stored: readMaster(await encodeMaster(px0, of, 120_000))! };
      for (const [kind, master] of Object.entries(masters)) {
        // The stored master without AVIF outputs: AVIF's encoder is most of this test's time, and the pixels pass has them.
        for (const q of ladder(name, master.size.width).filter((l) => kind === 'pixels' || !l.includes('fm=avif'))) {
          const lossless = q.replace(/fm=\w+/, 'fm=png');
          const [pd, pm] = await Promise.all([render(file, lossless), render(master.input, lossless, master)].map(async (b) => pixels(await b)));
          const [od, om] = await Promise.all([render(file, q), render(master.input, q, master)].map(async (b) => pixels(await b)));
          assert.deepEqual([om.width, om.height], [od.width, od.height], `${name}?${q}: the direct render's size`);
          const px = ssim(pd, pm).mssim;
          const out = ssim(od, om).mssim;
          const direct = ssim(pd, od).mssim;
          const fromMaster = ssim(pd, om).mssim;
          rows.push(`| ${name} | ${kind} | ${q} | ${px.toFixed(4)} | ${out.toFixed(4)} | ${direct.toFixed(4)} / ${fromMaster.toFixed(4)} |`);
          assert.ok(px >= 0.99, `${name} (${kind} master)?${q}: pixels SSIM ${px.toFixed(4)} < 0.99`);
          assert.ok(fromMaster >= direct - 0.005, `${name} (${kind} master)?${q}: the output from the master is further from the direct pixels (${fromMaster.toFixed(4)}) than the direct output (${direct.toFixed(4)})`);
        }
      }
    });
  }
});
