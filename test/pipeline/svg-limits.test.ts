import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { runPipeline } from '../../src/pipeline/run.ts';
import { parseTransform } from '../../src/request/params.ts';
import { transformConfigSchema } from '../../src/config/transform.ts';
import { ServiceError } from '../../src/errors.ts';
import sharp from 'sharp';
import { detectContentType } from '../../src/content-type.ts';

const config = transformConfigSchema.parse({});
const opts = parseTransform(new URLSearchParams('w=50&fm=png'), config);
const svg = (body: string) => Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">${body}</svg>`);
const code = (err: unknown) => (err instanceof ServiceError ? `${err.status} ${err.code}` : String(err));

test('a small SVG renders', async () => {
  const out = await runPipeline(svg('<rect width="100" height="100" fill="red"/>'), opts, { config });
  assert.equal(out.contentType, 'image/png');
  assert.equal(out.width, 50);
});

test('gzip-compressed SVG (svgz) is refused before any parser sees it', async () => {
  const bomb = gzipSync(svg('<g/>'.repeat(1000)));
  await assert.rejects(runPipeline(bomb, opts, { config }), (e) => code(e) === '415 unsupported_image');
});

test('SVG over transform.maxSvgBytes is refused; under it renders', async () => {
  const big = svg(`<!-- ${'x'.repeat(3000)} --><rect width="100" height="100" fill="blue"/>`);
  const small = { ...config, maxSvgBytes: 1000 };
  await assert.rejects(runPipeline(big, opts, { config: small }), (e) => code(e) === '422 image_too_large');
  const ok = await runPipeline(big, opts, { config: { ...config, maxSvgBytes: 10_000 } });
  assert.equal(ok.width, 50);
});

test('a watermark gets the same refusals as a source (svgz)', async () => {
  const photo = await runPipeline(svg('<rect width="100" height="100" fill="red"/>'), parseTransform(new URLSearchParams('fm=png'), config), { config });
  const marked = parseTransform(new URLSearchParams('mark=/m.svgz&fm=png'), config);
  const bomb = gzipSync(svg('<g/>'.repeat(1000)));
  await assert.rejects(
    runPipeline(photo.body, marked, { config, loadMark: async () => bomb }),
    (e) => code(e) === '415 unsupported_image',
  );
});

test('every spelling libvips loads as SVG is detected, so maxSvgBytes applies before decoding', async () => {
  const small = { ...config, maxSvgBytes: 4000 };
  const ns = 'xmlns="http://www.w3.org/2000/svg" width="100" height="100"';
  const filler = `<rect width="100" height="100" fill="blue"/>${'<g/>'.repeat(2000)}`;
  const bypasses: Record<string, string> = {
    'doctype with an internal subset': `<?xml version="1.0"?><!DOCTYPE svg [ <!ENTITY a "x"> <!ENTITY b "y"> ]><svg ${ns}>${filler}</svg>`,
    'processing instruction': `<?foo bar?><svg ${ns}>${filler}</svg>`,
    'comment first': `<!-- <not-svg> --><svg ${ns}>${filler}</svg>`,
    'byte order mark': `\uFEFF<svg ${ns}>${filler}</svg>`,
    'prefixed root': `<svg:svg xmlns:svg="http://www.w3.org/2000/svg" width="100" height="100">${filler.replace(/<(\/?)(rect|g)/g, '<$1svg:$2')}</svg:svg>`,
    'upper case': `<SVG ${ns}>${filler}</SVG>`.replace('<SVG', '<svg').replace('<svg', '<SVG'),
  };
  for (const [name, text] of Object.entries(bypasses)) {
    const buf = Buffer.from(text);
    assert.ok(buf.length > small.maxSvgBytes, name);
    // libvips itself takes these for SVG (when it can parse them): the cap must agree.
    const format = await sharp(buf).metadata().then((m) => m.format, () => 'unparsed');
    assert.ok(format === 'svg' || format === 'unparsed', `${name}: libvips says ${format}`);
    // Known from the first bytes, so the cap applies before libvips parses the document.
    assert.equal(detectContentType(buf.subarray(0, 4096)), 'image/svg+xml', name);
    await assert.rejects(runPipeline(buf, opts, { config: small }), (e) => code(e) === '422 image_too_large', name);
  }
});
