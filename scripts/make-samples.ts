// Generates the bundled sample images in examples/images with sharp (no third-party files).
// Run: node --import tsx scripts/make-samples.ts
import sharp from 'sharp';
import { mkdirSync } from 'node:fs';
import path from 'node:path';

const dir = path.join(import.meta.dirname, '..', 'examples', 'images');
mkdirSync(dir, { recursive: true });

const W = 1600;
const H = 1067;
const scene = Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}">
  <defs>
    <linearGradient id="sky" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="#2b6cb0"/><stop offset="1" stop-color="#bee3f8"/></linearGradient>
    <radialGradient id="sun"><stop offset="0" stop-color="#fff5b1"/><stop offset="1" stop-color="#f6ad55"/></radialGradient>
  </defs>
  <rect width="${W}" height="${H}" fill="url(#sky)"/>
  <circle cx="1180" cy="260" r="140" fill="url(#sun)"/>
  <path d="M0 760 L300 480 L560 700 L860 380 L1200 720 L1600 520 L1600 1067 L0 1067 Z" fill="#2f855a"/>
  <path d="M0 880 L400 720 L800 900 L1200 760 L1600 880 L1600 1067 L0 1067 Z" fill="#22543d"/>
  <rect x="180" y="820" width="90" height="160" fill="#742a2a"/>
</svg>`);

await sharp(scene).jpeg({ quality: 82, mozjpeg: true }).toFile(path.join(dir, 'sample.jpg'));

// EXIF orientation 6: stored landscape, displayed portrait.
await sharp(scene).resize(800).jpeg({ quality: 80 }).withMetadata({ orientation: 6 }).toFile(path.join(dir, 'rotated.jpg'));

const logo = Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="400" height="200">
  <rect x="10" y="10" width="380" height="180" rx="40" fill="#553c9a" fill-opacity="0.85"/>
  <text x="200" y="125" font-family="sans-serif" font-size="72" text-anchor="middle" fill="#ffffff">imagegate</text>
</svg>`);
await sharp(logo).png().toFile(path.join(dir, 'logo.png'));

// Three-frame animation: a square moving across, 160×120 per frame.
const frames = await Promise.all(
  [0, 1, 2].map((i) =>
    sharp({ create: { width: 160, height: 120, channels: 3, background: '#1a202c' } })
      .composite([{ input: { create: { width: 40, height: 40, channels: 3, background: ['#e53e3e', '#38a169', '#3182ce'][i] } }, left: 20 + i * 50, top: 40 }])
      .raw()
      .toBuffer(),
  ),
);
await sharp(Buffer.concat(frames), { raw: { width: 160, height: 360, channels: 3, pageHeight: 120 } as never })
  .gif({ loop: 0, delay: [200, 200, 200] })
  .toFile(path.join(dir, 'animated.gif'));

mkdirSync(path.join(dir, 'products'), { recursive: true });
await sharp(scene).resize(600).webp({ quality: 80 }).toFile(path.join(dir, 'products', 'hills.webp'));
console.log('samples written to', path.relative(process.cwd(), dir));
