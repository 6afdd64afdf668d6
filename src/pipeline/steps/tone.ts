import sharp from 'sharp';
import { flush, restart } from '../queue.ts';
import type { PipelineState } from '../context.ts';

/**
 * Tone: `shad` lifts the shadows and `high` (negative) pulls the highlights down, each a smooth
 * curve that leaves black, white and the other end of the range alone; `htn` renders a colour
 * halftone (a dot screen per channel, in cells from 3 to 13 pixels). Computed on the pixels.
 */
export async function tone(st: PipelineState): Promise<void> {
  const o = st.opts;
  const shad = o.shad ?? 0;
  const high = o.high ?? 0;
  const htn = o.htn ?? 0;
  if (!shad && !high && !htn) return;
  const { data, info } = await flush(st);
  const colourChannels = info.channels === 2 || info.channels === 4 ? info.channels - 1 : info.channels;
  if (shad || high) {
    const s = Math.max(-100, Math.min(100, shad)) / 100;
    const h = Math.max(-100, Math.min(100, high)) / 100;
    const lut = new Uint8Array(256);
    for (let i = 0; i < 256; i++) {
      const x = i / 255;
      // Shadows: most change around a third of the range; highlights: around two thirds.
      const y = x + 1.7 * s * x * (1 - x) * (1 - x) + 1.7 * h * x * x * (1 - x);
      lut[i] = Math.round(255 * Math.min(1, Math.max(0, y)));
    }
    for (let i = 0; i < data.length; i += info.channels) for (let c = 0; c < colourChannels; c++) data[i + c] = lut[data[i + c]!]!;
  }
  if (htn) halftone(data, info.width, info.height, info.channels, colourChannels, htn);
  restart(st, sharp(data, { raw: { width: info.width, height: info.height, channels: info.channels, ...(st.pages > 1 ? { pageHeight: st.height } : {}) }, ...(st.pages > 1 ? { pages: -1 } : {}) }));
}

/** A dot screen per colour channel: each cell's mean value becomes a dot whose area is its ink, blended with the image by `strength` (0–100). */
function halftone(data: Buffer, width: number, height: number, channels: number, colourChannels: number, strength: number): void {
  const cell = 3 + Math.round(strength / 10);
  const k = Math.min(1, strength / 50);
  for (let cy = 0; cy < height; cy += cell) {
    for (let cx = 0; cx < width; cx += cell) {
      const w = Math.min(cell, width - cx);
      const h = Math.min(cell, height - cy);
      for (let c = 0; c < colourChannels; c++) {
        let sum = 0;
        for (let y = cy; y < cy + h; y++) for (let x = cx; x < cx + w; x++) sum += data[(y * width + x) * channels + c]!;
        const ink = 1 - sum / (w * h * 255);
        const r2 = (ink * cell * cell) / Math.PI;
        const mx = cx + cell / 2;
        const my = cy + cell / 2;
        for (let y = cy; y < cy + h; y++) {
          for (let x = cx; x < cx + w; x++) {
            const i = (y * width + x) * channels + c;
            const dot = (x + 0.5 - mx) ** 2 + (y + 0.5 - my) ** 2 <= r2 ? 0 : 255;
            data[i] = Math.round(k * dot + (1 - k) * data[i]!);
          }
        }
      }
    }
  }
}
