import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { makeImageFolder, testApp, get } from '../helpers/app.ts';
import { withIptc } from './helpers.ts';
import type { ImagegateApp } from '../../src/http/app.ts';

/**
 * Which of imgix's parameters change the response, measured: each parameter of
 * `imgix-url-params` is requested through the real app on a real image, next to the same request
 * without it; a parameter whose response (status, bytes, or one of the headers a parameter may
 * set) is identical is ignored. The ignored ones must be exactly the list docs/url-api.md
 * publishes, so the published coverage figure is the measured one.
 */

const require = createRequire(import.meta.url);
const spec = require('imgix-url-params/dist/parameters.json') as {
  parameters: Record<string, { category: string; expects: { type: string }[] }>;
};

/** imgix features out of scope (video, PDF pages, generative fill, background and object removal). */
function outOfScope(name: string): boolean {
  const { category } = spec.parameters[name]!;
  return /video/.test(category) || category === 'pdf' || category === 'object-manipulation' || /^(bg-remove|bg-replace|fill-gen)/.test(name);
}

const FUTURE = String(Math.floor(Date.now() / 1000) + 3600);
const TXT = 'w=320&txt=Hello&txt-size=40';
const LONG = 'w=320&txt=Hello%20imgix%20world%20of%20images&txt-size=30&txt-width=120';
const MARK = 'w=320&mark=mark.png';
const BLEND = 'w=320&blend=mark.png';
const FOCUS = 'fit=crop&crop=focalpoint&w=100&h=100';
const FILL = 'fit=fill&w=320&h=100';
const GRADIENT = `${FILL}&fill=gradient&fill-gradient-linear=f00,00f`;
const RADIAL = `${FILL}&fill=gradient&fill-gradient-type=radial&fill-gradient-radial=f00,00f`;

/** How each parameter is tried: [source, the query without it, its value, request headers]. Default: photo.jpg, w=320. */
type Probe = [src: string, base: string, value: string, headers?: Record<string, string>];
const P = (value: string, base = 'w=320', src = 'photo.jpg', headers?: Record<string, string>): Probe => [src, base, value, headers];
const PROBES: Record<string, Probe> = {
  // size
  w: P('100', 'q=60'), h: P('100', 'q=60'), fit: P('crop', 'w=100&h=100'), ar: P('1:1', 'fit=crop&w=100'),
  'min-w': P('200', 'fit=crop&h=100'), 'max-w': P('100', 'fit=crop&h=100'), 'min-h': P('100', 'fit=crop&w=100'), 'max-h': P('40', 'fit=crop&w=100'),
  dpr: P('2', 'w=100'), rect: P('0,0,100,100'),
  // crop
  crop: P('left', 'w=100&h=100&fit=crop'), 'fp-x': P('0.1', `${FOCUS}&fp-z=2`), 'fp-y': P('0.1', `${FOCUS}&fp-z=2`), 'fp-z': P('3', FOCUS), 'fp-debug': P('true', FOCUS),
  // format
  fm: P('png'), q: P('30'), lossless: P('true', 'w=320&fm=webp'), auto: P('compress'), cs: P('origin', 'w=320', 'profile.jpg'), chromasub: P('444'),
  dl: P('x.jpg'), 'jpg-progressive': P('false'), colorquant: P('4', 'w=320&fm=png'), dpi: P('300'), iptc: P('allow', 'w=320', 'iptc.jpg'),
  ch: P('Width,DPR', 'q=60', 'photo.jpg', { Width: '100', DPR: '2' }), 'svg-sanitize': P('false', '', 'icon.svg'),
  expires: P(FUTURE), palette: P('json'), colors: P('3', 'w=320&palette=json'), prefix: P('pre', 'w=320&palette=css'),
  // animation
  frame: P('2', 'w=30', 'anim.gif'), fps: P('5', 'w=30', 'anim.gif'), interval: P('2', 'w=30', 'anim.gif'), loop: P('3', 'w=30', 'anim.gif'),
  reverse: P('true', 'w=30', 'anim.gif'), skip: P('2', 'w=30', 'anim.gif'),
  // rotation
  orient: P('90'), rot: P('30'), flip: P('h'), 'rot-type': P('pivot', 'w=320&rot=30'),
  // adjustment
  bri: P('50'), con: P('50'), exp: P('50'), gam: P('50'), sat: P('-100'), hue: P('90'), vib: P('50'), sharp: P('50'), usm: P('50'),
  usmrad: P('20', 'w=320&usm=50'), high: P('-80'), shad: P('80'), invert: P('true'), nr: P('80'), nrs: P('80', 'w=320&nr=80'),
  // stylize
  blur: P('50'), px: P('10'), monochrome: P('f00'), sepia: P('80'), duotone: P('000080,ffff00'), 'duotone-alpha': P('50', 'w=320&duotone=000080,ffff00'),
  htn: P('50'),
  // background and fill
  bg: P('f00', 'w=100', 'alpha.png'), fill: P('blur', FILL), 'fill-color': P('f00', FILL),
  'fill-gradient-linear': P('f00,00f', `${FILL}&fill=gradient`), 'fill-gradient-linear-direction': P('left', GRADIENT),
  'fill-gradient-type': P('radial', `${FILL}&fill=gradient&fill-gradient-radial=f00,00f`), 'fill-gradient-radial': P('f00,00f', `${FILL}&fill=gradient&fill-gradient-type=radial`),
  'fill-gradient-radial-radius': P('0.1,0.9', RADIAL), 'fill-gradient-radial-x': P('0.1', RADIAL), 'fill-gradient-radial-y': P('0.1', RADIAL),
  'fill-gradient-cs': P('oklab', GRADIENT),
  transparency: P('grid', 'w=100', 'alpha.png'), 'grid-colors': P('f00,00f', 'w=100&transparency=grid', 'alpha.png'), 'grid-size': P('20', 'w=100&transparency=grid', 'alpha.png'),
  // border and padding
  pad: P('10'), 'pad-top': P('10'), 'pad-bottom': P('10'), 'pad-left': P('10'), 'pad-right': P('10'),
  border: P('10,f00'), 'border-radius': P('20'), 'border-radius-inner': P('10', 'w=320&border=10,f00&border-radius=30'),
  'border-top': P('30', 'w=320&border=10,f00'), 'border-bottom': P('30', 'w=320&border=10,f00'), 'border-left': P('30', 'w=320&border=10,f00'), 'border-right': P('30', 'w=320&border=10,f00'),
  'border-stroke-size': P('3', 'w=320&border=10,f00'), 'border-stroke-color': P('00f', 'w=320&border=10,f00&border-stroke-size=3'),
  // mask
  mask: P('ellipse', 'w=320&fm=png'), 'corner-radius': P('30', 'w=320&fm=png&mask=corners'), 'mask-bg': P('f00', 'w=320&mask=ellipse'),
  // blend
  blend: P('mark.png'), 'blend-color': P('f00'), 'blend-mode': P('multiply', BLEND), 'blend-alpha': P('50', BLEND), 'blend-w': P('50', BLEND), 'blend-h': P('50', BLEND),
  'blend-align': P('top,left', `${BLEND}&blend-w=50`), 'blend-pad': P('20', `${BLEND}&blend-w=50&blend-align=top,left`), 'blend-x': P('10', `${BLEND}&blend-w=50`), 'blend-y': P('10', `${BLEND}&blend-w=50`),
  'blend-fit': P('scale', `${BLEND}&blend-w=100&blend-h=20`), 'blend-crop': P('top', 'w=320&blend=photo.jpg&blend-w=100&blend-h=20&blend-fit=crop'), 'blend-size': P('inherit', BLEND),
  // trim
  trim: P('auto', 'w=320', 'framed.png'), 'trim-color': P('00f', 'w=320&trim=color', 'framed.png'), 'trim-tol': P('60', 'w=320&trim=auto', 'framed.png'),
  'trim-md': P('60', 'w=320&trim=auto', 'framed.png'), 'trim-sd': P('60', 'w=320&trim=auto', 'noisy.png'), 'trim-pad': P('5', 'w=320&trim=auto', 'framed.png'),
  'trim-alpha': P('200', 'w=320&trim=alpha', 'cutout.png'),
  // watermark
  mark: P('mark.png'), 'mark-w': P('50', MARK), 'mark-h': P('50', MARK), 'mark-scale': P('50', MARK), 'mark-align': P('top,left', MARK), 'mark-alpha': P('50', MARK),
  'mark-pad': P('30', MARK), 'mark-x': P('10', MARK), 'mark-y': P('10', MARK), 'mark-base': P('/marks/', MARK), 'mark-fit': P('crop', `${MARK}&mark-w=100&mark-h=20`),
  'mark-tile': P('grid', MARK), 'mark-rot': P('45', MARK), 'mark-if-min-width': P('5000', MARK), 'mark-if-min-height': P('5000', MARK),
  // text
  txt: P('Hello'), 'txt-color': P('f00', TXT), 'txt-size': P('60', 'w=320&txt=Hello'), 'txt-align': P('top,left', TXT), 'txt-pad': P('40', TXT), 'txt-font': P('serif', TXT),
  'txt-fit': P('max', `${LONG}&txt-size=50`), 'txt-shad': P('5', TXT), 'txt-line': P('3', TXT), 'txt-line-color': P('f00', `${TXT}&txt-line=3`), 'txt-width': P('120', `${TXT}&txt=Hello%20imgix%20world`),
  'txt-x': P('10', TXT), 'txt-y': P('10', TXT), 'txt-lead': P('20', LONG), 'txt-track': P('5', TXT), 'txt-clip': P('start', `${LONG}&txt-fit=max`),
  // faces, licence plates, upscaling, SVG
  'face-blur': P('50'), 'face-pixel': P('50'), faceindex: P('1', 'fit=facearea&w=100&h=100'), facepad: P('2', 'fit=facearea&w=100&h=100'), faces: P('1', 'fm=json'),
  'lp-blur': P('50'), upscale: P('true', 'w=1600'), 'upscale-fallback': P('false', 'w=100&upscale=true'), 'rasterize-bypass': P('true', '', 'icon.svg'),
};

/** Probes imgix itself answers with an error: upscale-fallback=false where upscale cannot apply. */
const REFUSED_AS_IMGIX: Record<string, number> = { 'upscale-fallback': 422 };

/** Headers a parameter may set; the rest (dates, request ids) differ between any two responses. */
const HEADERS = ['content-type', 'content-disposition', 'cache-control', 'accept-ch', 'vary', 'x-imagegate-format-substituted'];

async function fingerprint(ig: ImagegateApp, src: string, query: string, headers: Record<string, string> = {}): Promise<{ status: number; key: string }> {
  const res = await get(ig, `/${src}${query ? `?${query}` : ''}`, headers);
  const body = Buffer.from(await res.arrayBuffer()).toString('base64');
  return { status: res.status, key: `${res.status}\n${HEADERS.map((h) => `${h}: ${res.headers.get(h)}`).join('\n')}\n${body}` };
}

const DOC = new URL('../../docs/url-api.md', import.meta.url);

function writeCoverage(rendered: number, total: number, ignored: string[]): void {
  const doc = readFileSync(DOC, 'utf8')
    .replace(/\*\*\d+ of the \d+ imgix parameters in scope change the output\.\*\*/, `**${rendered} of the ${total} imgix parameters in scope change the output.**`)
    .replace(/(<!-- BEGIN IGNORED -->\n)[\s\S]*?(\n<!-- END IGNORED -->)/, `$1${ignored.map((n) => `\`${n}\``).join(', ')}$2`);
  writeFileSync(DOC, doc);
}

/** The names listed between two markers of docs/url-api.md. */
function documentedList(marker: string): string[] {
  const doc = readFileSync(new URL('../../docs/url-api.md', import.meta.url), 'utf8');
  const m = new RegExp(`<!-- BEGIN ${marker} -->([\\s\\S]*?)<!-- END ${marker} -->`).exec(doc);
  assert.ok(m, `docs/url-api.md has no ${marker} list`);
  return [...m[1]!.matchAll(/`([a-z0-9-]+)`/g)].map((x) => x[1]!).sort();
}

describe('coverage of imgix-url-params, measured', () => {
  let folder: Awaited<ReturnType<typeof makeImageFolder>>;
  let ig: ImagegateApp;
  before(async () => {
    folder = await makeImageFolder();
    const root = folder.root;
    const at = (p: string) => path.join(root, p);
    await sharp({ create: { width: 60, height: 30, channels: 4, background: { r: 255, g: 0, b: 0, alpha: 0.8 } } }).png().toFile(at('mark.png'));
    mkdirSync(at('marks'));
    await sharp({ create: { width: 60, height: 30, channels: 4, background: { r: 0, g: 0, b: 255, alpha: 0.8 } } }).png().toFile(at('marks/mark.png'));
    await sharp(at('photo.jpg')).extend({ top: 30, bottom: 30, left: 30, right: 30, background: '#ff0000' }).png().toFile(at('framed.png'));
    // The photo in a faint frame (alpha 0.3) inside a transparent one.
    const faint = await sharp(at('photo.jpg')).resize(200).ensureAlpha().extend({ top: 10, bottom: 10, left: 10, right: 10, background: { r: 0, g: 0, b: 255, alpha: 0.3 } }).png().toBuffer();
    await sharp(faint).extend({ top: 20, bottom: 20, left: 20, right: 20, background: { r: 0, g: 0, b: 0, alpha: 0 } }).png().toFile(at('cutout.png'));
    // The photo in a 30-pixel frame of grey noise (standard deviation about 17).
    const noise = Buffer.alloc(700 * 487 * 3);
    for (let i = 0; i < noise.length; i++) noise[i] = 128 + ((i * 7919) % 61) - 30;
    await sharp(noise, { raw: { width: 700, height: 487, channels: 3 } }).composite([{ input: at('photo.jpg'), left: 30, top: 30 }]).png().toFile(at('noisy.png'));
    await sharp(at('photo.jpg')).withIccProfile('p3').jpeg().toFile(at('profile.jpg'));
    writeFileSync(at('iptc.jpg'), withIptc(readFileSync(at('photo.jpg')), 'A caption'));
    writeFileSync(at('icon.svg'), '<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100"><script>alert(1)</script><circle cx="50" cy="50" r="40" fill="#2b6cb0"/></svg>');
    ig = await testApp(root);
  });
  after(async () => {
    await ig.close();
    folder.cleanup();
  });

  test('every parameter in scope is probed; the ignored ones are exactly the documented list', async () => {
    const names = Object.keys(spec.parameters);
    const inScope = names.filter((n) => !outOfScope(n));
    assert.deepEqual(inScope.filter((n) => !PROBES[n]), [], 'parameters without a probe');
    const ignored: string[] = [];
    const failed: string[] = [];
    for (const name of inScope) {
      const [src, base, value, headers] = PROBES[name]!;
      const q = `${base}${base ? '&' : ''}${name}=${encodeURIComponent(value)}`;
      const [without, withIt] = [await fingerprint(ig, src, base, headers), await fingerprint(ig, src, q, headers)];
      if (withIt.status >= 400 && REFUSED_AS_IMGIX[name] !== withIt.status) failed.push(`${name} (${withIt.status})`);
      if (without.key === withIt.key) ignored.push(name);
    }
    assert.deepEqual(failed, [], 'imgix URLs refused');
    // imgix's base64 variants: `<name>64` renders what `<name>` renders (all but auto and ch).
    const b64Differs: string[] = [];
    for (const name of inScope) {
      if (name === 'auto' || name === 'ch' || name === 'expires' || ignored.includes(name)) continue;
      const [src, base, value, headers] = PROBES[name]!;
      const sep = base ? '&' : '';
      const plain = await fingerprint(ig, src, `${base}${sep}${name}=${encodeURIComponent(value)}`, headers);
      const encoded = await fingerprint(ig, src, `${base}${sep}${name}64=${Buffer.from(value).toString('base64url')}`, headers);
      if (plain.key !== encoded.key) b64Differs.push(name);
    }
    assert.deepEqual(b64Differs, [], 'the <name>64 form renders differently');
    const share = (inScope.length - ignored.length) / inScope.length;
    // UPDATE_COVERAGE=1 writes the measured figure and list into docs/url-api.md (then review the diff).
    if (process.env.UPDATE_COVERAGE === '1') writeCoverage(inScope.length - ignored.length, inScope.length, ignored.sort());
    // The figure docs/url-api.md states is this one.
    const doc = readFileSync(new URL('../../docs/url-api.md', import.meta.url), 'utf8');
    const stated = /(\d+) of the (\d+) imgix parameters in scope change the output/.exec(doc);
    assert.ok(stated, 'docs/url-api.md states the coverage figure');
    assert.deepEqual([Number(stated[1]), Number(stated[2])], [inScope.length - ignored.length, inScope.length], `measured ${(share * 100).toFixed(1)} %`);
    assert.deepEqual(ignored.sort(), documentedList('IGNORED'), 'the ignored parameters are the documented list');
    assert.deepEqual(names.filter(outOfScope).sort(), documentedList('OUT OF SCOPE'), 'the out-of-scope parameters are the documented list');
  });
});
