import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { detectContentType, originalContentType, passiveImageType } from '../src/content-type.ts';

test('detectContentType reads magic bytes of every format sharp writes', async () => {
  const img = () => sharp({ create: { width: 8, height: 8, channels: 3, background: '#f00' } });
  assert.equal(detectContentType(await img().jpeg().toBuffer()), 'image/jpeg');
  assert.equal(detectContentType(await img().png().toBuffer()), 'image/png');
  assert.equal(detectContentType(await img().gif().toBuffer()), 'image/gif');
  assert.equal(detectContentType(await img().webp().toBuffer()), 'image/webp');
  assert.equal(detectContentType(await img().avif().toBuffer()), 'image/avif');
  assert.equal(detectContentType(await img().tiff().toBuffer()), 'image/tiff');
});

test('detectContentType knows the other image signatures and refuses the rest', () => {
  const heic = Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from('ftypheic'), Buffer.alloc(12)]);
  assert.equal(detectContentType(heic), 'image/heic');
  const mif1Avif = Buffer.concat([Buffer.from([0, 0, 0, 0x1c]), Buffer.from('ftypmif1\0\0\0\0mif1avif'), Buffer.alloc(4)]);
  assert.equal(detectContentType(mif1Avif), 'image/avif');
  assert.equal(detectContentType(Buffer.from('BM\0\0\0\0\0\0\0\0\x36\0\0\0', 'latin1')), 'image/bmp');
  assert.equal(detectContentType(Buffer.from([0, 0, 1, 0, 1, 0])), 'image/x-icon');
  assert.equal(detectContentType(Buffer.from([0xff, 0x0a, 0, 0])), 'image/jxl');
  assert.equal(detectContentType(Buffer.from([0, 0, 0, 0x0c, 0x4a, 0x58, 0x4c, 0x20, 0x0d, 0x0a, 0x87, 0x0a])), 'image/jxl');
  assert.equal(detectContentType(Buffer.from('\uFEFF<?xml version="1.0"?>\n<!-- hi -->\n<!DOCTYPE svg>\n<svg xmlns="http://www.w3.org/2000/svg"/>')), 'image/svg+xml');
  assert.equal(detectContentType(Buffer.from('<html><body>no</body></html>')), undefined);
  assert.equal(detectContentType(Buffer.from('hello')), undefined);
  assert.equal(detectContentType(Buffer.alloc(2)), undefined);
});

test('a declared type is kept only when it names a passive image type', () => {
  assert.equal(passiveImageType('image/jpeg'), 'image/jpeg');
  assert.equal(passiveImageType(' Image/PNG; charset=binary'), 'image/png');
  assert.equal(passiveImageType('image/vnd.ms-photo'), 'image/vnd.ms-photo');
  for (const t of ['image/svg+xml', 'IMAGE/SVG+XML; charset=utf-8', 'text/html', 'application/octet-stream', 'image/', 'image/jpeg extra', '', undefined]) {
    assert.equal(passiveImageType(t), undefined, String(t));
  }
});

test('an original is served as its bytes say, else as a passive declared type, else as octet-stream', async () => {
  const png = await sharp({ create: { width: 4, height: 4, channels: 3, background: '#000' } }).png().toBuffer();
  const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>');
  const unknown = Buffer.from('not an image at all');
  // The bytes win over any declaration, in both directions.
  assert.equal(originalContentType(png, 'image/jpeg'), 'image/png');
  assert.equal(originalContentType(svg, 'image/png'), 'image/svg+xml');
  assert.equal(originalContentType(unknown, 'image/x-portable-anymap'), 'image/x-portable-anymap');
  // A declared SVG or HTML never makes unknown bytes active content.
  assert.equal(originalContentType(unknown, 'image/svg+xml'), 'application/octet-stream');
  assert.equal(originalContentType(unknown, 'text/html'), 'application/octet-stream');
  assert.equal(originalContentType(unknown, undefined), 'application/octet-stream');
});
