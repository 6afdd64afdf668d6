/**
 * Which format a master is kept in: for each photo, the CPU to make a 2048 px master, its size,
 * and the CPU per derivative (widths 300–1800, JPEG q75) rendered from it against rendering the
 * same derivative from the original — measured in one process, one render at a time, the
 * candidates interleaved in every round, so the ratios compare like with like on a shared
 * machine. Prints ms per derivative, the ratio to the direct render and its spread over rounds.
 *
 *   node --import tsx bench/masters.ts [--rounds N] [--long-edge PX] [--part formats|first|all]
 */
import sharp, { type Raw, type Sharp } from 'sharp';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '3' }, 'long-edge': { type: 'string', default: '2048' }, part: { type: 'string', default: 'all' } } });
const rounds = Number(values.rounds);
const longEdge = Number(values['long-edge']);
const PHOTOS = ['/usr/share/backgrounds/Kleiber_by_Lukas_Baubkus.jpg', '/usr/share/backgrounds/mate/abstract/Elephants_5640x3172.jpg', '/usr/share/backgrounds/Infinite-Sea_by_Aury88.jpg'];
const WIDTHS = [300, 500, 775, 1000, 1400, 1800];
sharp.concurrency(1);
sharp.cache(false);

const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

type Made = { data: Buffer; raw?: Raw };
const CANDIDATES: Record<string, { make: (s: Sharp) => Promise<Made>; open: (m: Made) => Sharp }> = {
  raw: { make: async (s) => s.raw().toBuffer({ resolveWithObject: true }).then(({ data, info }) => ({ data, raw: { width: info.width, height: info.height, channels: info.channels } })), open: (m) => sharp(m.data, { raw: m.raw }) },
  'webp lossless': { make: async (s) => ({ data: await s.webp({ lossless: true, effort: 1 }).toBuffer() }), open: (m) => sharp(m.data) },
  'jpeg q95 4:2:0': { make: async (s) => ({ data: await s.jpeg({ quality: 95 }).toBuffer() }), open: (m) => sharp(m.data) },
  'jpeg q95 4:4:4': { make: async (s) => ({ data: await s.jpeg({ quality: 95, chromaSubsampling: '4:4:4' }).toBuffer() }), open: (m) => sharp(m.data) },
};

for (const photo of values.part === 'first' ? [] : PHOTOS) {
  const meta = await sharp(photo).metadata();
  const heights = WIDTHS.map((w) => Math.round((w * meta.height!) / meta.width!));
  const made: Record<string, { m: Made; ms: number[] }> = {};
  const perRound: Record<string, number[]> = { direct: [] };
  for (let r = 0; r < rounds; r++) {
    for (const [name, c] of Object.entries(CANDIDATES)) {
      const t0 = cpu();
      const m = await c.make(sharp(photo).resize(longEdge, longEdge, { fit: 'inside' }));
      (made[name] ??= { m, ms: [] }).ms.push(cpu() - t0);
    }
    let t0 = cpu();
    for (const [i, w] of WIDTHS.entries()) await sharp(photo).resize(w, heights[i], { fit: 'fill' }).jpeg({ quality: 75 }).toBuffer();
    perRound.direct.push((cpu() - t0) / WIDTHS.length);
    for (const [name, c] of Object.entries(CANDIDATES)) {
      t0 = cpu();
      for (const [i, w] of WIDTHS.entries()) await c.open(made[name].m).resize(w, heights[i], { fit: 'fill', fastShrinkOnLoad: false }).jpeg({ quality: 75 }).toBuffer();
      (perRound[name] ??= []).push((cpu() - t0) / WIDTHS.length);
    }
  }
  const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
  const direct = mean(perRound.direct);
  console.log(`\n${photo.split('/').pop()} (${meta.width}×${meta.height}, ${meta.isProgressive ? 'progressive' : 'baseline'}): direct ${direct.toFixed(1)} ms CPU per derivative`);
  console.log('master          | make ms | MB    | ms/derivative | × less CPU than direct (spread over rounds)');
  for (const name of Object.keys(CANDIDATES)) {
    const ratios = perRound[name].map((v, r) => perRound.direct[r] / v);
    console.log(
      `${name.padEnd(15)} | ${mean(made[name].ms).toFixed(0).padStart(7)} | ${(made[name].m.data.length / 1e6).toFixed(2).padStart(5)} | ${mean(perRound[name]).toFixed(1).padStart(13)} | ${(direct / mean(perRound[name])).toFixed(1)}× (${Math.min(...ratios).toFixed(1)}–${Math.max(...ratios).toFixed(1)})`,
    );
  }
}

/**
 * The first request for a brand-new original, masters on against off, in one process: every
 * round copies the photo under a new name (a new identity), asks `?w=400` of it from each app
 * in turn (order alternating), and waits for the master's build before the next round, so a
 * build never overlaps the next measurement. Wall-clock latency: median and range.
 */
if (values.part !== 'formats') {
  const { mkdtempSync, copyFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const path = await import('node:path');
  const { parseConfig } = await import('../src/config/load.ts');
  const { createApp } = await import('../src/http/app.ts');
  const { createLogger } = await import('../src/log.ts');
  const dir = mkdtempSync(path.join(tmpdir(), 'imagegate-bench-masters-'));
  const app = (enabled: boolean) =>
    createApp(
      parseConfig({
        server: { logLevel: 'silent' },
        sources: { local: { type: 'fs', root: dir, access: 'public' } },
        routes: [{ match: '*', source: 'local' }],
        cache: { masters: { enabled }, sourceMetaTtlMs: 0 },
      }),
      { logger: createLogger('silent') },
    );
  const apps = { on: await app(true), off: await app(false) };
  for (const photo of PHOTOS) {
    const ms: Record<'on' | 'off', number[]> = { on: [], off: [] };
    for (let r = 0; r < rounds * 2; r++) {
      for (const which of r % 2 ? (['off', 'on'] as const) : (['on', 'off'] as const)) {
        const name = `${which}-${r}-${path.basename(photo)}`;
        copyFileSync(photo, path.join(dir, name));
        const t0 = performance.now();
        const res = await apps[which].app.request(`/${name}?w=400`);
        await res.arrayBuffer();
        ms[which].push(performance.now() - t0);
        await apps[which].masters.close();
      }
    }
    const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
    const range = (a: number[]) => `${Math.min(...a).toFixed(0)}–${Math.max(...a).toFixed(0)}`;
    console.log(
      `first request, ${path.basename(photo)}: masters on ${median(ms.on).toFixed(0)} ms (${range(ms.on)}), off ${median(ms.off).toFixed(0)} ms (${range(ms.off)}): ${(median(ms.on) / median(ms.off)).toFixed(2)}×`,
    );
  }
  await apps.on.close();
  await apps.off.close();
  rmSync(dir, { recursive: true, force: true });
}
