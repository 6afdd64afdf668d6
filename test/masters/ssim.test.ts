/**
 * Quality of renders from a master, measured: SSIM between the direct render (masters off) and
 * the render from the master (the same URL, masters on) over real photos — baseline,
 * progressive, 4:4:4 — and variants made from them (CMYK, an embedded Display P3 profile,
 * alpha, EXIF orientation 6), across a ladder of widths, formats and crops. Every pair is ≥ 0.99,
 * and every request on the master side really rendered from the master (metrics).
 * With SSIM_TABLE=file the values are written there as a Markdown table.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { ssim } from 'ssim.js';
import { get, testApp } from '../helpers/app.ts';
import type { ImagegateApp } from '../../src/http/app.ts';
import { photoSkip } from '../pipeline/helpers.ts';

const BG = '/usr/share/backgrounds';
const skip = photoSkip();

/** name → how it is made in the test folder. */
const PHOTOS: Record<string, (to: string) => Promise<unknown>> = {
  'baseline.jpg': async (to) => copyFileSync(`${BG}/Kleiber_by_Lukas_Baubkus.jpg`, to), // 6028×3391, 4:2:0
  'progressive.jpg': async (to) => copyFileSync(`${BG}/Infinite-Sea_by_Aury88.jpg`, to),
  '444.jpg': async (to) => copyFileSync(`${BG}/Fossa_by_Jasper_Roks.jpg`, to), // 4096×2304, 4:4:4
  'cmyk.jpg': (to) => sharp(`${BG}/Fossa_by_Jasper_Roks.jpg`).toColourspace('cmyk').jpeg({ quality: 92 }).toFile(to),
  'p3.jpg': (to) => sharp(`${BG}/Painting-Colors_by__herobrine7gamer.jpg`).withIccProfile('p3').jpeg({ quality: 92 }).toFile(to),
  'rotated.jpg': (to) => sharp(`${BG}/Fossa_by_Jasper_Roks.jpg`).withMetadata({ orientation: 6 }).jpeg({ quality: 92 }).toFile(to),
  'alpha.png': async (to) => {
    // The photo with a left-to-right transparency ramp.
    const img = sharp(`${BG}/Fossa_by_Jasper_Roks.jpg`).resize(3200);
    const { width, height } = { width: 3200, height: 1800 };
    const ramp = Buffer.alloc(width * height);
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) ramp[y * width + x] = Math.round((255 * x) / width);
    await img.joinChannel(ramp, { raw: { width, height, channels: 1 } }).png({ compressionLevel: 1 }).toFile(to);
  },
};

/** The ladder: widths × formats, and crops. */
function ladder(name: string): string[] {
  const formats = name.endsWith('.png') ? ['webp', 'avif'] : ['jpg', 'webp', 'avif'];
  const out: string[] = [];
  for (const w of [200, 480, 1000, 1600]) for (const fm of formats) out.push(`w=${w}&fm=${fm}`);
  out.push(`w=600&h=600&fit=crop&fm=${formats[0]}`, `w=300&rect=400,300,1600,900&fm=${formats[0]}`, `w=500&h=300&fit=crop&crop=focalpoint&fp-x=0.3&fp-y=0.4&fp-z=1.5&fm=webp`);
  return out;
}

async function pixels(res: Response) {
  assert.equal(res.status, 200);
  const { data, info } = await sharp(Buffer.from(await res.arrayBuffer())).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8ClampedArray(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
}

const hits = async (ig: ImagegateApp) => (await ig.metrics.masterHits.get()).values[0]?.value ?? 0;

describe('masters: SSIM of renders from a master against direct renders', { skip }, () => {
  let dir: string;
  let direct: ImagegateApp;
  let viaMaster: ImagegateApp;
  const rows: string[] = [];
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'imagegate-ssim-'));
    for (const [name, make] of Object.entries(PHOTOS)) await make(path.join(dir, name));
    direct = await testApp(dir, { cache: { masters: { enabled: false } } });
    viaMaster = await testApp(dir);
  });
  after(async () => {
    await direct?.close();
    await viaMaster?.close();
    rmSync(dir, { recursive: true, force: true });
    if (process.env.SSIM_TABLE) writeFileSync(process.env.SSIM_TABLE, `| photo | request | SSIM |\n|---|---|---|\n${rows.join('\n')}\n`);
  });

  for (const name of Object.keys(PHOTOS)) {
    test(name, async () => {
      assert.equal((await viaMaster.masters.build({ source: 'local', key: name })).outcome, 'made');
      let worst = 1;
      for (const q of ladder(name)) {
        const before = await hits(viaMaster);
        const a = await pixels(await get(direct, `/${name}?${q}`));
        const b = await pixels(await get(viaMaster, `/${name}?${q}`));
        assert.equal(await hits(viaMaster), before + 1, `${name}?${q} rendered from the master`);
        assert.deepEqual([b.width, b.height], [a.width, a.height], `${name}?${q}: the direct render's size`);
        const value = ssim(a, b).mssim;
        rows.push(`| ${name} | ${q} | ${value.toFixed(4)} |`);
        worst = Math.min(worst, value);
        assert.ok(value >= 0.99, `${name}?${q}: SSIM ${value.toFixed(4)} < 0.99`);
      }
      rows.push(`| ${name} | (lowest) | **${worst.toFixed(4)}** |`);
    });
  }
});
