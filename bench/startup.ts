/**
 * Start-up cost of the command: wall time of `imagegate --help` (the built bin, as installed)
 * against `node -e 0` (the floor: Node itself), interleaved in one run so that whatever else
 * the machine does weighs on both alike. Median and best of N runs each; the ratio is of the
 * medians. Target: ≤ 1.5×.
 *
 *   npm run build && node --import tsx bench/startup.ts [--runs 21]
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '21' } } });
const runs = Number(values.runs);
const root = path.resolve(import.meta.dirname, '..');
const bin = path.join(root, 'bin', 'imagegate.js');
if (!existsSync(path.join(root, 'dist', 'cli', 'index.js'))) {
  console.error('dist/ is missing: run npm run build first');
  process.exit(1);
}

const cases: Array<{ name: string; args: string[] }> = [
  { name: 'node -e 0', args: ['-e', '0'] },
  { name: 'imagegate --help', args: [bin, '--help'] },
  { name: 'imagegate --version', args: [bin, '--version'] },
];

const times = new Map<string, number[]>(cases.map((c) => [c.name, []]));
for (let i = 0; i < runs; i++) {
  for (const c of cases) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(process.execPath, c.args, { stdio: 'ignore' });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0) throw new Error(`${c.name} exited ${r.status}`);
    times.get(c.name)!.push(ms);
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};
const floor = median(times.get('node -e 0')!);
console.log(`Node ${process.version}, ${runs} runs each, interleaved`);
console.log('| command | median ms | best ms | × node -e 0 (medians) |');
console.log('| --- | ---: | ---: | ---: |');
for (const c of cases) {
  const xs = times.get(c.name)!;
  console.log(`| ${c.name} | ${median(xs).toFixed(0)} | ${Math.min(...xs).toFixed(0)} | ${(median(xs) / floor).toFixed(2)} |`);
}
