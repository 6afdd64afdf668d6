/**
 * The pipeline before and after a change, in one process: the same renders through another
 * checkout's `runPipeline` ("before", its path the first argument) and this one's ("after").
 *
 *   node --import tsx bench/plan.ts <before-checkout> identity   # outputs compared byte for byte
 *   node --import tsx bench/plan.ts <before-checkout> cpu [rounds] # render CPU per image, interleaved
 *
 * identity: a few hundred parameter combinations on the bench photos (downscaled copies, one at
 * full size), a transparent PNG, an EXIF-rotated JPEG and an animated GIF made from them; every
 * output's bytes, type and headers (or error status and code) compared. With gdk-pixbuf's
 * hostile files installed, their error codes are compared too.
 * cpu: process CPU (all libvips threads) per render on the full-size photos, before and after
 * alternating, one render at a time; median per operation, the after/before ratio and its spread.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { parseTransform } from '../src/request/params.ts';
import { negotiateFormat } from '../src/request/negotiate.ts';
import { transformConfigSchema } from '../src/config/transform.ts';
import * as after from '../src/pipeline/run.ts';
import { PHOTO_ROOT, PHOTOS, missingPhotos } from './ops.ts';

type Run = typeof after.runPipeline;
const [beforeDir, mode = 'identity', roundsArg = '5'] = process.argv.slice(2);
if (!beforeDir) {
  console.error('usage: bench/plan.ts <before-checkout> identity|cpu [rounds]');
  process.exit(2);
}
if (missingPhotos().length) {
  console.error(`missing photos under ${PHOTO_ROOT}: ${missingPhotos().join(', ')}`);
  process.exit(2);
}
const before = (await import(path.resolve(beforeDir, 'src/pipeline/run.ts'))) as typeof after;
const config = transformConfigSchema.parse({});
const mark = await sharp({ create: { width: 40, height: 24, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0.6 } } }).png().toBuffer();
const loadMark = async () => mark;

/** One render's outcome, as bytes to compare. */
async function outcome(run: Run, input: Buffer, query: string, accept = 'image/avif,image/webp,*/*'): Promise<string> {
  try {
    const opts = parseTransform(new URLSearchParams(query), config);
    const { format, insteadOfAvif } = negotiateFormat(opts, accept);
    const r = await run(input, opts, { config, format, insteadOfAvif, loadMark });
    return `${r.contentType} ${r.width}x${r.height} ${JSON.stringify(r.headers)} ${createHash('sha256').update(r.body).digest('hex').slice(0, 16)}`;
  } catch (err) {
    const e = err as { status?: number; code?: string; message?: string };
    return e.status ? `error ${e.status} ${e.code}` : `throws ${e.message}`;
  }
}

const QUERIES = [
  'w=300', 'w=300&fm=webp', 'w=300&fm=avif', 'w=300&fm=png', 'w=300&auto=format', 'w=300&auto=compress', 'h=200&dpr=2', 'w=0.5',
  'w=300&h=300&fit=crop', 'w=300&h=300&fit=crop&crop=top,left', 'w=300&h=300&fit=crop&crop=entropy', 'w=300&h=300&fit=crop&crop=faces',
  'w=300&h=300&fit=crop&crop=focalpoint&fp-x=0.2&fp-y=0.7&fp-z=2', 'w=300&h=300&fit=crop&crop=focalpoint&fp-debug=1', 'w=300&h=300&fit=facearea',
  'w=300&h=300&fit=min', 'w=3000&h=300&fit=min', 'w=300&h=300&fit=max', 'w=300&h=300&fit=scale', 'w=300&h=300&fit=clip',
  'w=300&h=300&fit=fill', 'w=300&h=300&fit=fill&fill-color=ff0000', 'w=300&h=300&fit=fill&fill=blur', 'w=300&h=300&fit=fill&fill=gradient&fm=png',
  'w=300&h=300&fit=fillmax', 'w=300&h=300&fit=clamp', 'w=300&ar=16:9&fit=crop', 'w=300&h=200&fit=crop&max-w=200',
  'rect=100,50,400,300&w=200', 'rect=0.1,0.1,0.5,0.5', 'w=300&orient=90', 'w=300&orient=6', 'w=300&orient=2&flip=v', 'w=300&flip=h', 'w=300&flip=hv&h=100&fit=crop',
  'w=300&rot=15', 'w=300&rot=30&rot-type=pivot&fm=png', 'w=300&trim=auto', 'w=300&trim=color&trim-color=ffffff&trim-tol=30', 'trim=alpha&w=300&fm=png',
  'w=300&bg=ff000080&fm=png', 'w=300&bg=00ff00', 'w=300&pad=20&bg=0000ff', 'w=300&pad=10&border=5,ff0000', 'w=300&border=8,00ff00&border-radius-inner=20&border-stroke-size=2&border-stroke-color=000',
  'w=300&gam=40', 'w=300&gam=-40', 'w=300&blur=30', 'w=300&usm=-30', 'w=300&usm=40&usmrad=4', 'w=300&sharp=40', 'w=300&sat=-60&vib=30&hue=40',
  'w=300&bri=20&con=30&exp=-10', 'w=300&px=12', 'w=300&sepia=70', 'w=300&duotone=000080,ffcc00&duotone-alpha=70', 'w=300&monochrome=336699', 'w=300&invert=1',
  'w=300&nr=60&nrs=40', 'w=900&upscale=1', 'w=300&shad=40&high=-30', 'w=300&htn=40', 'w=300&blur=20&sharp=30&sepia=50&bri=10&gam=20&invert=1',
  'w=300&blend=ff000080&blend-mode=multiply', 'w=300&blend=00ff00&blend-mode=hue&blend-alpha=50', 'w=300&mark=m.png&mark-align=top,left', 'w=300&mark=m.png&mark-tile=grid&mark-rot=30',
  'w=300&txt=Hello%20plan&txt-size=30&txt-color=fff&txt-shad=5', 'w=300&border-radius=30&fm=png', 'w=300&border-radius=30', 'w=300&mask=ellipse', 'w=300&mask=corners&mask-bg=ff0000',
  'w=300&transparency=grid&fm=png', 'w=300&transparency=grid', 'w=300&fm=json', 'w=300&orient=6&fm=json', 'w=300&palette=json', 'w=300&fm=blurhash', 'w=300&colorquant=16&fm=webp', 'w=300&fm=png8',
  'w=300&cs=origin&dpi=150&q=50', 'w=300&chromasub=444&jpg-progressive=false', 'w=300&lossless=1&fm=webp', 'w=300&fm=gif', 'w=300&fm=gif&reverse=1&fps=5', 'w=300&frame=2&fm=gif',
];

async function inputs(): Promise<Record<string, Buffer>> {
  const out: Record<string, Buffer> = {};
  for (const p of PHOTOS) out[path.basename(p)] = await sharp(path.join(PHOTO_ROOT, p)).resize(1024).jpeg({ quality: 90 }).toBuffer();
  const base = await sharp(path.join(PHOTO_ROOT, PHOTOS[0]!)).resize(640, 400, { fit: 'cover' }).toBuffer();
  const ellipse = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="640" height="400"><ellipse cx="320" cy="200" rx="260" ry="160" fill="#fff"/></svg>');
  out['alpha.png'] = await sharp(base).ensureAlpha().composite([{ input: ellipse, blend: 'dest-in' }]).png().toBuffer();
  out['exif6.jpg'] = await sharp(base).jpeg({ quality: 90 }).withMetadata({ orientation: 6 }).toBuffer();
  const frames = await Promise.all([0, 1, 2].map((i) => sharp(base).extract({ left: i * 100, top: 50, width: 320, height: 200 }).raw().toBuffer()));
  out['anim.gif'] = await sharp(Buffer.concat(frames), { raw: { width: 320, height: 600, channels: 3, pageHeight: 200 } }).gif().toBuffer();
  return out;
}

if (mode === 'identity') {
  const files = await inputs();
  const full = readFileSync(path.join(PHOTO_ROOT, PHOTOS[2]!));
  const cases: Array<[string, Buffer, string]> = [];
  for (const [name, buf] of Object.entries(files)) for (const q of QUERIES) cases.push([name, buf, q]);
  for (const q of ['w=400', 'w=400&fm=webp', 'w=800&h=800&fit=crop&crop=entropy', 'w=600&fit=fill&h=600&fill=blur', 'w=500&rot=10&sepia=40', 'w=400&trim=auto&pad=10', 'rect=1000,500,2000,1000&w=500&gam=20']) cases.push([path.basename(PHOTOS[2]!), full, q]);
  const pixbuf = '/usr/libexec/installed-tests/gdk-pixbuf/test-images/fail';
  if (existsSync(pixbuf)) for (const f of readdirSync(pixbuf)) cases.push([`pixbuf/${f}`, readFileSync(path.join(pixbuf, f)), 'w=64']);
  let same = 0;
  const differ: string[] = [];
  const tally: Record<string, number> = {};
  for (const [name, buf, q] of cases) {
    const a = await outcome(before.runPipeline, buf, q);
    const b = await outcome(after.runPipeline, buf, q);
    const kind = a.startsWith('error') ? 'error' : a.startsWith('throws') ? 'throws' : 'image';
    tally[kind] = (tally[kind] ?? 0) + 1;
    if (a === b) same++;
    else differ.push(`${name} ?${q}\n    before: ${a}\n    after:  ${b}`);
  }
  console.log(`${cases.length} renders (${Object.entries(tally).map(([k, v]) => `${v} ${k}`).join(', ')}): ${same} identical, ${differ.length} different`);
  for (const d of differ) console.log(d);
} else {
  const rounds = Number(roundsArg);
  const ops = ['w=400', 'w=400&fm=webp', 'w=800&h=800&fit=crop', 'w=600&h=600&fit=fill&bg=ff0000', 'w=400&sat=30&sharp=20&bri=10', 'w=400&pad=20&border=4,000000&border-radius=20&fm=png'];
  const photos = PHOTOS.map((p) => readFileSync(path.join(PHOTO_ROOT, p)));
  const cpu = async (run: Run, input: Buffer, q: string) => {
    const opts = parseTransform(new URLSearchParams(q), config);
    const { format, insteadOfAvif } = negotiateFormat(opts, 'image/jpeg');
    const t = process.cpuUsage();
    await run(input, opts, { config, format, insteadOfAvif });
    const d = process.cpuUsage(t);
    return (d.user + d.system) / 1000;
  };
  const quantile = (v: number[], q: number) => [...v].sort((x, y) => x - y)[Math.min(v.length - 1, Math.floor(v.length * q))]!;
  const median = (v: number[]) => quantile(v, 0.5);
  const spread = (v: number[]) => `quartiles ${quantile(v, 0.25).toFixed(2)}–${quantile(v, 0.75).toFixed(2)}, min–max ${Math.min(...v).toFixed(2)}–${Math.max(...v).toFixed(2)}`;
  for (const p of photos) await cpu(after.runPipeline, p, 'w=100'); // warm up
  console.log(`rounds ${rounds}, ${photos.length} photos; CPU ms per render (median), after/before ratio (median of the paired ratios and their spread)`);
  let allRatios: number[] = [];
  for (const q of ops) {
    const a: number[] = [];
    const b: number[] = [];
    const ratios: number[] = [];
    for (let r = 0; r < rounds; r++) {
      for (const p of photos) {
        const first = r % 2 === 0;
        const x = first ? await cpu(before.runPipeline, p, q) : 0;
        const y = await cpu(after.runPipeline, p, q);
        const x2 = first ? x : await cpu(before.runPipeline, p, q);
        a.push(x2);
        b.push(y);
        ratios.push(y / x2);
      }
    }
    allRatios = allRatios.concat(ratios);
    console.log(`${q.padEnd(58)} before ${median(a).toFixed(0).padStart(5)} ms  after ${median(b).toFixed(0).padStart(5)} ms  ratio ${median(ratios).toFixed(3)} (${spread(ratios)})`);
  }
  console.log(`all: ratio ${median(allRatios).toFixed(3)} (${spread(allRatios)})`);
}
