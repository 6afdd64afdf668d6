import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { parse as yamlParse } from 'yaml';
import { parseConfig } from '../../src/config/load.ts';
import { createApp } from '../../src/http/app.ts';
import { sha256hex } from '../../src/auth/keys.ts';
import { planUrls, planWarm, progressLine, run, warm, AUTO_FORMAT_ACCEPTS } from '../../src/cli/warm.ts';
import { compileRoutes, pathForKey } from '../../src/routes/match.ts';
import { Readable } from 'node:stream';
import { createStorages } from '../../src/storage/index.ts';
import { capture, imagegate, tempDir, writeConfig } from './helpers.ts';
import { photoSkip } from '../pipeline/helpers.ts';

const dir = tempDir('imagegate-warm-');
const images = path.join(dir, 'images');
const cacheDir = path.join(dir, 'cache');

function filesUnder(d: string): string[] {
  try {
    return readdirSync(d, { recursive: true }).map(String).filter((f) => statSync(path.join(d, f)).isFile());
  } catch {
    return [];
  }
}

const yaml = (extra = '') => `
server: { basePath: /dev, logLevel: silent }
sources:
  local: { type: fs, root: ./images }
routes:
  - { match: "products/:id.jpg", source: local, key: "catalog/{id}.jpg" }
  - { match: "*", source: local }
keys:
  - { id: dev, sha256: "${sha256hex('dev-key')}" }
cache: { persistent: { type: fs, dir: ${JSON.stringify(cacheDir)} } }
${extra}`;

before(async () => {
  mkdirSync(path.join(images, 'catalog'), { recursive: true });
  mkdirSync(path.join(images, 'other'), { recursive: true });
  for (const [i, color] of ['#c00', '#0a0', '#00c'].entries()) {
    await sharp({ create: { width: 800, height: 600, channels: 3, background: color } }).jpeg().toFile(path.join(images, 'catalog', `${i + 1}.jpg`));
  }
  await sharp({ create: { width: 300, height: 300, channels: 4, background: '#ff000080' } }).png().toFile(path.join(images, 'other', 'a.png'));
  // not an image: a derivative of it must fail
  writeFileSync(path.join(images, 'catalog', 'broken.jpg'), 'this is not a jpeg at all');
});

describe('warm', () => {
  test('route inversion: templated routes and the catch-all', () => {
    const cfg = parseConfig(yamlParse(yaml()), { baseDir: dir });
    const compiled = compileRoutes(cfg.routes);
    assert.equal(pathForKey(compiled, 'local', 'catalog/7.jpg'), 'products/7.jpg');
    assert.equal(pathForKey(compiled, 'local', 'other/a.png'), 'other/a.png');
    // the catch-all would map catalog/x.png to itself
    assert.equal(pathForKey(compiled, 'local', 'catalog/x.png'), 'catalog/x.png');
    // a key the first route would produce, but whose path the same route does not match back
    const only = compileRoutes([{ match: 'p/:id.jpg', source: 'local', key: 'c/{id}.jpg' }]);
    assert.equal(pathForKey(only, 'local', 'c/a/b.jpg'), undefined);
    assert.equal(pathForKey(only, 'other', 'c/1.jpg'), undefined);
  });

  test('plans one request per object, per derivative and per Accept variant for auto=format', async () => {
    const cfg = parseConfig(yamlParse(yaml()), { baseDir: dir });
    const storages = await createStorages(cfg.sources);
    const plan = await planWarm(cfg, storages.local, { source: 'local', prefixes: ['catalog/'], params: ['w=200&auto=format', 'w=100&fm=png'] });
    assert.equal(plan.objects, 4);
    assert.equal(plan.jobs.length, 4 * (AUTO_FORMAT_ACCEPTS.length + 1));
    assert.ok(plan.jobs.some((j) => j.target === '/dev/products/1.jpg?w=200&auto=format' && j.accept === 'image/avif,image/webp,*/*'));
    assert.ok(plan.jobs.some((j) => j.target === '/dev/products/1.jpg?w=100&fm=png' && j.accept === '*/*'));
  });

  test('Accept variants follow the query as the server reads it: base64 forms, unknown members, a repeated parameter', () => {
    const cfg = parseConfig(yamlParse(yaml()), { baseDir: dir });
    const accepts = (params: string) => planUrls(cfg, ['/dev/products/1.jpg'], { params: [params] }).jobs.map((j) => j.accept);
    const b64 = (s: string) => Buffer.from(s).toString('base64url');
    assert.deepEqual(accepts('auto=compress,format'), AUTO_FORMAT_ACCEPTS);
    assert.deepEqual(accepts(`auto64=${b64('format')}`), ['*/*'], 'auto has no base64 form');
    assert.deepEqual(accepts('auto=formats'), ['*/*'], 'an unknown auto member is dropped');
    assert.deepEqual(accepts(`auto=format&fm64=${b64('png')}`), ['*/*'], 'fm in its base64 form fixes the format');
    assert.deepEqual(accepts('auto=format&fm=bogus'), AUTO_FORMAT_ACCEPTS, 'an fm the server ignores leaves the choice to Accept');
    assert.deepEqual(accepts('auto=format&auto=compress'), ['*/*'], 'the last auto wins, as on the server');
    assert.deepEqual(accepts('w=10'), ['*/*']);
  });

  test('renders into the persistent tier; a fresh app then serves them without rendering; failures are summarised', async () => {
    const cfg = parseConfig(yamlParse(yaml()), { baseDir: dir });
    const lines: string[] = [];
    const summary = await warm({ config: cfg, source: 'local', prefixes: ['catalog'], params: ['w=200&fm=webp'], concurrency: 2, tty: false, log: (l) => lines.push(l) });
    assert.equal(summary.objects, 4);
    assert.equal(summary.requests, 4);
    assert.equal(summary.ok, 3);
    assert.equal(summary.rendered, 3);
    assert.equal(summary.failed.length, 1);
    assert.match(summary.failed[0].job.target, /broken\.jpg/);
    assert.ok(summary.failed[0].status >= 400 && summary.failed[0].status < 500, `status ${summary.failed[0].status}`);
    assert.ok(lines.some((l) => /^\[\s*\d\/4\] ok {3}200 \/dev\/products\/\d\.jpg\?w=200&fm=webp image\/webp/.test(l)), lines.join('\n'));
    assert.ok(lines.some((l) => /FAIL 4\d\d \/dev\/products\/broken\.jpg/.test(l)));
    assert.ok(filesUnder(cacheDir).length >= 3, 'derivatives written to the fs tier');

    // A new app (empty memory tier) answers from the persistent tier: no transformation runs.
    let transforms = 0;
    const fresh = await createApp(cfg, { onTransform: () => void transforms++ });
    const res = await fresh.app.request('/dev/products/2.jpg?w=200&fm=webp', { headers: { 'X-API-Key': 'dev-key' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'image/webp');
    assert.equal((await sharp(Buffer.from(await res.arrayBuffer())).metadata()).width, 200);
    assert.equal(transforms, 0, 'served from the warmed cache');
    await fresh.close();

    // Warming again renders nothing new.
    const again = await warm({ config: cfg, source: 'local', prefixes: ['catalog/1.jpg'], params: ['w=200&fm=webp'], concurrency: 1, tty: false, log: () => {} });
    assert.equal(again.ok, 1);
    assert.equal(again.rendered, 0);
  });

  test('progress line: count, percentage, rate, ETA', () => {
    assert.equal(progressLine(25, 100, 0, 5, 10), '[###-------]  25/100  25% · 5.0/s · ETA 0:15');
    assert.equal(progressLine(100, 100, 2, 10, 10), '[##########] 100/100 100% · 10.0/s · ETA 0:00 · 2 failed');
  });

  test('command: exit 1 with a failure summary, usage errors exit 2, no persistent tier refused', async () => {
    const file = writeConfig(dir, yaml());
    const r = await capture(() => run(['--config', file, '--source', 'local', '--prefix', 'catalog/', '--params', 'w=120&fm=png', '--concurrency', '2']));
    assert.equal(r.code, 1, r.err);
    assert.match(r.out, /warmed 3\/4 derivatives of 4 objects/);
    assert.match(r.out, /1 failed:\n\s+4\d\d \/dev\/products\/broken\.jpg\?w=120&fm=png: /);

    const okRun = await capture(() => run(['--config', file, '--source', 'local', '--prefix', 'other/', '--params', 'w=50']));
    assert.equal(okRun.code, 0, okRun.out + okRun.err);

    assert.equal((await capture(() => run(['--config', file, '--params', 'w=1']))).code, 2);
    assert.equal((await capture(() => run(['--config', file, '--source', 'local']))).code, 2);
    const zero = await capture(() => run(['--config', file, '--source', 'local', '--params', 'w=1', '--concurrency', '0']));
    assert.equal(zero.code, 2);
    assert.match(zero.err, /--concurrency: expected a positive integer, got '0'/);
    assert.match((await capture(() => run(['--config', file, '--source', 'local', '--params', 'w=1', '--limit', '2x']))).err, /--limit: expected a positive integer, got '2x'/);
    assert.equal((await capture(() => run(['--help']))).code, 0);

    const memOnly = writeConfig(dir, yaml().replace(/^cache:.*$/m, ''), 'mem.yaml');
    const refused = await capture(() => run(['--config', memOnly, '--source', 'local', '--params', 'w=10']));
    assert.equal(refused.code, 1);
    assert.match(refused.err, /no persistent cache tier/);
  });

  test('through the imagegate binary: plain lines when not a TTY; no request log lines, warnings still shown', () => {
    const file = writeConfig(dir, yaml().replace('logLevel: silent', 'logLevel: info'));
    const r = imagegate(['warm', '--config', file, '--source', 'local', '--prefix', 'other/', '--params', 'w=64&fm=webp']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\[1\/1\] ok {3}200 \/dev\/other\/a\.png\?w=64&fm=webp image\/webp/);
    assert.match(r.stdout, /warmed 1\/1 derivatives of 1 objects/);
    assert.doesNotMatch(r.stdout + r.stderr, /"msg":"request"/);
    // A source that fails (5xx) is still logged, on standard error.
    const broken = writeConfig(dir, yaml().replace('logLevel: silent', 'logLevel: info').replace('root: ./images }', 'root: ./images }\n  web: { type: http, baseUrl: "http://127.0.0.1:9/", allowPrivateNetworks: true, timeoutMs: 1000 }').replace('  - { match: "*", source: local }', '  - { match: "web/*", source: web }\n  - { match: "*", source: local }'), 'broken.yaml');
    const f = imagegate(['warm', '--config', broken, '/dev/web/x.jpg?w=10']);
    assert.equal(f.code, 1);
    assert.match(f.stdout, /FAIL 50\d \/dev\/web\/x\.jpg\?w=10/);
    assert.match(f.stderr, /"level":40/);
    assert.doesNotMatch(f.stdout + f.stderr, /"msg":"request"/);
  });

  test('URLs as arguments, from --file and from standard input; repeated --prefix and --params accumulate', async () => {
    const file = writeConfig(dir, yaml());
    const list = path.join(dir, 'urls.txt');
    writeFileSync(list, '# launch list\n/dev/products/2.jpg?w=90&fm=png\n\nproducts/3.jpg?w=90&fm=png\n');
    const lines: string[] = [];
    const r = await capture(() =>
      run(['--config', file, '--dry-run', '/dev/products/1.jpg?w=90&fm=png', 'http://cdn.example/dev/other/a.png?w=5', '--file', list, '-', '/dev/nowhere/../x.jpg'], Readable.from(['/dev/other/a.png?w=7\n'])),
    );
    assert.equal(r.code, 0, r.err);
    lines.push(...r.out.split('\n'));
    for (const t of ['/dev/products/1.jpg?w=90&fm=png', '/dev/other/a.png?w=5', '/dev/products/2.jpg?w=90&fm=png', '/dev/products/3.jpg?w=90&fm=png', '/dev/other/a.png?w=7']) {
      assert.ok(lines.includes(t), `${t} in:\n${r.out}`);
    }
    assert.match(r.out, /skipped \/dev\/nowhere\/\.\.\/x\.jpg: /);

    const prefixes = await capture(() => run(['--config', file, '--dry-run', '--source', 'local', '--prefix', 'catalog/1.jpg', '--prefix', 'other/', '--params', 'w=10', '--params', 'w=20']));
    assert.equal(prefixes.code, 0, prefixes.err);
    const targets = prefixes.out.split('\n').filter((l) => l.startsWith('/dev/')).sort();
    assert.deepEqual(targets, ['/dev/other/a.png?w=10', '/dev/other/a.png?w=20', '/dev/products/1.jpg?w=10', '/dev/products/1.jpg?w=20']);

    // A flag that does not repeat is refused when repeated, not silently overridden.
    const twice = await capture(() => run(['--config', file, '--source', 'local', '--source', 'other', '--params', 'w=1']));
    assert.equal(twice.code, 2);
    assert.match(twice.err, /--source given more than once/);
  });

  test('--masters builds each original\'s master with progress; a fresh app then renders from it', { skip: photoSkip() }, async () => {
    // A real 9.4 MP photo (a master is made for originals of 1.5 × longEdge and more) beside the
    // small generated images (too small: none).
    mkdirSync(path.join(images, 'photos'), { recursive: true });
    copyFileSync('/usr/share/backgrounds/Fossa_by_Jasper_Roks.jpg', path.join(images, 'photos', 'fossa.jpg'));
    await sharp({ create: { width: 640, height: 480, channels: 3, background: '#357' } }).jpeg().toFile(path.join(images, 'photos', 'small.jpg'));
    const file = writeConfig(dir, yaml(), 'masters.yaml');

    const dry = await capture(() => run(['--config', file, '--source', 'local', '--prefix', 'photos/', '--masters', '--params', 'w=300', '--dry-run']));
    assert.equal(dry.code, 0, dry.err);
    assert.deepEqual(dry.out.split('\n').filter((l) => l.includes('/dev/photos/')), ['master /dev/photos/fossa.jpg', '/dev/photos/fossa.jpg?w=300', 'master /dev/photos/small.jpg', '/dev/photos/small.jpg?w=300']);

    const r = await capture(() => run(['--config', file, '--source', 'local', '--prefix', 'photos/', '--masters']));
    assert.equal(r.code, 0, r.out + r.err);
    assert.match(r.out, /\[[12]\/2\] ok {3}master \/dev\/photos\/fossa\.jpg made \d+(\.\d+)? (KiB|MiB) \d+ ms/);
    assert.match(r.out, /\[[12]\/2\] ok {3}master \/dev\/photos\/small\.jpg ineligible 0 B/);
    assert.match(r.out, /warmed 2\/2 masters and derivatives of 2 objects/);
    assert.match(r.out, /masters: 1 made now, 0 already stored, 1 not needed/);

    // A new app (empty memory tier) finds the master in the persistent tier: the first render
    // of a size no one asked for yet decodes the master, not the original.
    const cfg = parseConfig(yamlParse(yaml()), { baseDir: dir });
    const fresh = await createApp(cfg);
    try {
      const res = await fresh.app.request('/dev/photos/fossa.jpg?w=480&fm=webp', { headers: { 'X-API-Key': 'dev-key' } });
      assert.equal(res.status, 200);
      assert.equal((await sharp(Buffer.from(await res.arrayBuffer())).metadata()).width, 480);
      const count = async (c: { get(): Promise<{ values: Array<{ value: number }> }> }) => (await c.get()).values[0]?.value ?? 0;
      assert.equal(await count(fresh.metrics.masterHits), 1, 'rendered from the warmed master');
      assert.equal(await count(fresh.metrics.rendersFromOriginal), 0);
      assert.equal(await count(fresh.metrics.mastersMade), 0);
    } finally {
      await fresh.close();
    }

    // Again: already stored. With masters off in the config, --masters is refused.
    const again = await capture(() => run(['--config', file, '--source', 'local', '--prefix', 'photos/fossa.jpg', '--masters', '--params', 'w=200']));
    assert.equal(again.code, 0, again.out + again.err);
    assert.match(again.out, /masters: 0 made now, 1 already stored, 0 not needed/);
    assert.match(again.out, /ok {3}200 \/dev\/photos\/fossa\.jpg\?w=200 image\/jpeg/);
    const off = writeConfig(dir, yaml().replace(/^cache: \{ /m, 'cache: { masters: { enabled: false }, '), 'masters-off.yaml');
    const refused = await capture(() => run(['--config', off, '--source', 'local', '--prefix', 'photos/', '--masters']));
    assert.equal(refused.code, 1);
    assert.match(refused.err, /masters are off/);
  });

  test('URLs render through the routes and the signing of their source', async () => {
    process.env.WARM_TEST_TOKEN = 'warm-signing-token';
    const cfg = parseConfig(yamlParse(yaml().replace('root: ./images }', 'root: ./images, signing: { tokenFromEnv: WARM_TEST_TOKEN } }')), { baseDir: dir });
    const plan = planUrls(cfg, ['products/1.jpg?w=50'], { params: ['fm=webp'] });
    assert.equal(plan.jobs.length, 1);
    assert.match(plan.jobs[0].target, /^\/dev\/products\/1\.jpg\?w=50&fm=webp&s=[0-9a-f]{32}$/);
    assert.equal(plan.jobs[0].key, 'catalog/1.jpg');
    const summary = await warm({ config: cfg, urls: ['/dev/products/1.jpg?w=50&fm=webp'], concurrency: 1, tty: false, log: () => {} });
    assert.equal(summary.ok, 1, JSON.stringify(summary.failed));
  });
});

