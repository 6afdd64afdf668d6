/**
 * `node --import tsx bench/coldstart.ts`: the Lambda bundle's cold start, as a ratio to
 * importing sharp alone, on this machine in one run.
 *
 * Builds the x86_64 bundle exactly as `cdk synth` does (infra/lib/bundle.ts, configs generated
 * from cdk.json's context), then alternates fresh Node processes that each time one `import()`:
 * sharp from the bundle's node_modules, or the bundle's index.mjs (which imports sharp too).
 * Reports medians and the ratio; the target is ≤ 1.5×. Also timed, for the whole
 * picture: import plus the first invocation (`GET /_health`, which creates the app from a local
 * config: no AWS call), since what the module does not load at import it loads there.
 * `--runs N` (default 15).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { bundleLambda } from '../infra/lib/bundle.ts';
import { generateLambdaConfig } from '../infra/lib/lambda-config.ts';
import { ENVIRONMENTS, readSettings } from '../infra/lib/settings.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '15' } } });
const runs = Number(values.runs);

const infra = path.resolve(import.meta.dirname, '../infra');
const context = (JSON.parse(readFileSync(path.join(infra, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> }).context;
const settings = readSettings((k) => (k === 'imagegate:architecture' ? 'x86_64' : context[k]));
const configs = Object.fromEntries(
  ENVIRONMENTS.map((env) => [env, generateLambdaConfig({ name: settings.name, env: settings.environments[env], baseFile: settings.configFile[env] })]),
);
const outDir = path.join(os.tmpdir(), `imagegate-coldstart-${process.pid}`);
const bundle = bundleLambda({ entry: settings.entry, configs, projectRoot: settings.projectRoot, architecture: 'x86_64', outDir });

// A config the first invocation can load without AWS: a local folder, a key by its hash.
const localConfig = path.join(bundle.dir, 'coldstart.yaml');
writeFileSync(
  localConfig,
  `sources: { local: { type: fs, root: ${JSON.stringify(path.resolve(import.meta.dirname, '../examples/images'))} } }\nroutes: [{ match: '*', source: local }]\nkeys: [{ id: k, sha256: '${'0'.repeat(64)}' }]\nserver: { logLevel: silent }\n`,
);
const healthEvent = { httpMethod: 'GET', path: '/_health', headers: {}, requestContext: { stage: 'dev', path: '/dev/_health' }, body: null, isBase64Encoded: false };

/** One fresh process importing `target` (and with `invoke`, calling its handler once); wall time in ms. */
function importMs(target: string, invoke = false): number {
  const call = invoke ? `const r = await m.handler(${JSON.stringify(healthEvent)}, {}); if (r.statusCode !== 200) throw new Error(JSON.stringify(r));` : '';
  const code = `const t = performance.now(); const m = await import(${JSON.stringify(target)}); ${call} process.stdout.write(String(performance.now() - t));`;
  const res = spawnSync(process.execPath, ['--input-type=module', '-e', code], {
    cwd: bundle.dir,
    encoding: 'utf8',
    env: { PATH: process.env.PATH, IMAGEGATE_CONFIG: localConfig, MALLOC_ARENA_MAX: '2' },
  });
  if (res.status !== 0) throw new Error(`import of ${target} failed:\n${res.stderr}`);
  return Number(res.stdout);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const sharpEntry = 'sharp'; // resolved from the bundle's own node_modules (cwd)
const handlerEntry = pathToFileURL(path.join(bundle.dir, 'index.mjs')).href;
const sharpTimes: number[] = [];
const bundleTimes: number[] = [];
const firstTimes: number[] = [];
try {
  importMs(handlerEntry, true); // warm the file cache once
  for (let i = 0; i < runs; i++) {
    sharpTimes.push(importMs(sharpEntry));
    bundleTimes.push(importMs(handlerEntry));
    firstTimes.push(importMs(handlerEntry, true));
  }
} finally {
  rmSync(outDir, { recursive: true, force: true });
}
const s = median(sharpTimes);
const b = median(bundleTimes);
console.log(`runs: ${runs} each, alternating, fresh process per import (${os.cpus().length} cores, load ${os.loadavg()[0]!.toFixed(2)})`);
console.log(`import sharp alone:     median ${s.toFixed(1)} ms`);
console.log(`import the bundle:      median ${b.toFixed(1)} ms`);
console.log(`ratio bundle / sharp:   ${(b / s).toFixed(2)}× (target ≤ 1.5×)`);
const f = median(firstTimes);
console.log(`import + first request: median ${f.toFixed(1)} ms (${(f / s).toFixed(2)}× sharp)`);
