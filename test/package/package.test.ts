/**
 * The package as a user gets it: `npm pack`, then install the tarball into an empty folder as a
 * non-root user (as root, the test drops to `nobody`), make the installed package read-only,
 * and use it the ways the README says: `npx imagegate --help`, `npx imagegate serve --dev`
 * answering an image, `imagegate/client` from a plain .mjs (and bundled for a browser), and a
 * `module: nodenext` TypeScript project type-checking against both entries.
 *
 * The install reaches the npm registry for the package's dependencies (and TypeScript and
 * @types/node for the consumer project), as a user's install does.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type SpawnOptions } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';
import sharp from 'sharp';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const require = createRequire(import.meta.url);
const asRoot = process.getuid?.() === 0;
const NOBODY = 65534;

const work = mkdtempSync(path.join(tmpdir(), 'imagegate-package-'));
const home = path.join(work, 'home');
const app = path.join(work, 'app');

/** The environment of a user's shell: no npm lifecycle variables of this run, their own HOME. */
function userEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    // The global npmrc (registry, CA file) is the machine's; everything else npm set is this run's.
    if (/^npm_/i.test(k) && !/^npm_config_(globalconfig|registry|cafile)$/i.test(k)) continue;
    if (k === 'NODE_ENV' || k === 'INIT_CWD' || k === 'NODE_OPTIONS') continue;
    env[k] = v;
  }
  env.HOME = home;
  env.npm_config_update_notifier = 'false';
  env.PATH = `${path.dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`;
  return env;
}

/** Command and arguments run as the non-root user (this user when not root). */
function asUser(cmd: string, args: string[]): [string, string[]] {
  return asRoot ? ['setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--', cmd, ...args]] : [cmd, args];
}

function run(cmd: string, args: string[], opts: SpawnOptions & { input?: string } = {}) {
  const [c, a] = asUser(cmd, args);
  const r = spawnSync(c, a, { cwd: app, env: userEnv(), encoding: 'utf8', timeout: 600_000, ...opts });
  return { code: r.status, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? ''), error: r.error };
}

function ok(r: ReturnType<typeof run>, what: string) {
  assert.equal(r.code, 0, `${what} failed (${r.code}) ${r.error ?? ''}\n${r.stdout}\n${r.stderr}`);
  return r;
}

let packed: { filename: string; files: Array<{ path: string }> };

before(() => {
  for (const dir of [home, app]) mkdirSync(dir);
  writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  // `npm pack` runs the build (prepare), so the tarball holds what src/ says now.
  const r = spawnSync('npm', ['pack', '--json', '--pack-destination', work], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });
  assert.equal(r.status, 0, `npm pack failed\n${r.stdout}\n${r.stderr}`);
  packed = JSON.parse(r.stdout.slice(r.stdout.indexOf('[')))[0];
  if (asRoot) {
    for (const p of [work, home, app, path.join(app, 'package.json'), path.join(work, packed.filename)]) chownSync(p, NOBODY, NOBODY);
  }
  const tsVersion = require(path.join(ROOT, 'node_modules', 'typescript', 'package.json')).version;
  ok(
    run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', path.join(work, packed.filename), `typescript@${tsVersion}`, '@types/node@22']),
    'npm install of the tarball',
  );
  // The installed package is read-only to its user: nothing may write into it at run time.
  ok(run('chmod', ['-R', 'a-w', path.join(app, 'node_modules', 'imagegate')]), 'chmod');
});

after(() => {
  spawnSync('chmod', ['-R', 'u+w', work]);
  rmSync(work, { recursive: true, force: true });
});

describe('the npm package', () => {
  test('ships the built code, the sample images and docs; no tests, benches, infra or CI', () => {
    const files = packed.files.map((f) => f.path);
    for (const f of ['bin/imagegate.js', 'dist/index.js', 'dist/index.d.ts', 'dist/index.js.map', 'dist/client/index.js', 'dist/client/index.d.ts', 'dist/cli/index.js', 'examples/images/sample.jpg', 'LICENSE', 'README.md', 'CHANGELOG.md', 'package.json']) {
      assert.ok(files.includes(f), `${f} missing from the tarball`);
    }
    const unwanted = files.filter((f) => /^(src|test|bench|infra|\.ci|scripts|node_modules)\//.test(f) || f.endsWith('.ts') && !f.endsWith('.d.ts'));
    assert.deepEqual(unwanted, []);
    const pkg = JSON.parse(readFileSync(path.join(app, 'node_modules', 'imagegate', 'package.json'), 'utf8'));
    assert.equal(pkg.private, undefined);
    for (const entry of Object.values(pkg.exports) as Array<Record<string, string>>) {
      for (const file of Object.values(entry)) assert.ok(statSync(path.join(app, 'node_modules', 'imagegate', file)).isFile(), `${file} is exported but missing`);
    }
    const bin = statSync(path.join(app, 'node_modules', 'imagegate', 'bin', 'imagegate.js'));
    assert.equal(bin.mode & 0o222, 0, 'the installed package should be read-only for the rest of this test');
    const lock = JSON.parse(readFileSync(path.join(app, 'package-lock.json'), 'utf8'));
    assert.equal(lock.packages['node_modules/tsx'], undefined, 'tsx is installed for users although nothing at run time needs it');
  });

  test('npx imagegate --help runs the built command', () => {
    const r = ok(run('npx', ['--no-install', 'imagegate', '--help']), 'npx imagegate --help');
    assert.match(r.stdout, /Usage: imagegate <command>/);
    assert.match(r.stdout, /serve\s+run the HTTP server/);
    const v = ok(run('npx', ['--no-install', 'imagegate', '--version']), 'npx imagegate --version');
    assert.equal(v.stdout.trim(), JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version);
  });

  test('npx imagegate serve --dev answers an image from the read-only package', async () => {
    const [c, a] = asUser('npx', ['--no-install', 'imagegate', 'serve', '--dev', '--port', '0', '--host', '127.0.0.1']);
    // The development key and admin token go to the working directory's .imagegate/ (the
    // user's own folder here), never into the read-only package.
    const proc = spawn(c, a, { cwd: app, env: userEnv(), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    proc.stdout!.on('data', (d) => (out += d));
    proc.stderr!.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no listening line within 60 s:\n${out}`)), 60_000);
        proc.stdout!.on('data', () => {
          const m = /listening on (http:\/\/[^\s/]+)/.exec(out);
          if (m && /development API key: (\S+)/.test(out)) {
            clearTimeout(t);
            resolve(m[1]);
          }
        });
        void exited.then((code) => reject(new Error(`exited ${code}:\n${out}`)));
      });
      const key = /development API key: (\S+)/.exec(out)![1];
      const res = await fetch(`${url}/sample.jpg?w=64`, { headers: { 'X-API-Key': key } });
      assert.equal(res.status, 200, await res.clone().text());
      assert.equal(res.headers.get('content-type'), 'image/jpeg');
      const meta = await sharp(Buffer.from(await res.arrayBuffer())).metadata();
      assert.equal(meta.width, 64);
      const denied = await fetch(`${url}/sample.jpg?w=64`);
      assert.ok([401, 403].includes(denied.status), `without a key: ${denied.status}`);
      assert.ok(existsSync(path.join(app, '.imagegate')), 'the state folder is the working directory\'s .imagegate/');
      assert.ok(!existsSync(path.join(app, 'node_modules', 'imagegate', '.imagegate')), 'serve --dev wrote into the package folder');
    } finally {
      try {
        process.kill(-proc.pid!, 'SIGTERM');
      } catch {
        /* already gone */
      }
      const t = setTimeout(() => {
        try {
          process.kill(-proc.pid!, 'SIGKILL');
        } catch {
          /* gone */
        }
      }, 20_000);
      await exited;
      clearTimeout(t);
    }
  });

  test('a plain .mjs imports imagegate/client and builds a URL', () => {
    writeFileSync(
      path.join(app, 'client.mjs'),
      `import { buildUrl, srcset } from 'imagegate/client';
console.log(buildUrl('products/a b.jpg', { w: 400, fit: 'crop', crop: ['top', 'left'] }, { baseUrl: 'https://img.example.com/dev' }));
console.log(JSON.stringify(srcset('a.jpg', { widths: [320, 640] })));
`,
    );
    const r = ok(run(process.execPath, ['client.mjs']), 'node client.mjs');
    assert.deepEqual(r.stdout.trim().split('\n'), [
      'https://img.example.com/dev/products/a%20b.jpg?w=400&fit=crop&crop=top,left',
      JSON.stringify('/a.jpg?w=320 320w,\n/a.jpg?w=640 640w'),
    ]);
  });

  test('imagegate/client bundles for a browser: no Node built-ins, nothing from the server', async () => {
    const result = await build({
      stdin: { contents: `import { buildUrl } from 'imagegate/client'; console.log(buildUrl('a.jpg', { w: 1 }));`, resolveDir: app },
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    const inputs = Object.keys(result.metafile.inputs).filter((f) => f !== '<stdin>');
    assert.ok(inputs.length > 0);
    for (const f of inputs) assert.match(f, /node_modules\/imagegate\/dist\/client\//);
  });

  test('a module: nodenext TypeScript project type-checks against both entries', () => {
    writeFileSync(
      path.join(app, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true, noEmit: true, types: ['node'] }, include: ['*.ts'] }),
    );
    writeFileSync(
      path.join(app, 'main.ts'),
      `import { createApp, startServer, handler, loadConfigFile, parseConfig, ConfigError, type Config, type ImagegateApp } from 'imagegate';
import { buildUrl, type ImageParams } from 'imagegate/client';

const config: Config = parseConfig({ sources: { local: { type: 'fs', root: '.' } }, routes: [{ match: '*', source: 'local' }] });
const port: number = config.server.port;
// @ts-expect-error: not a server setting
config.server.prot;
const params: ImageParams = { w: 400, fit: 'crop' };
// @ts-expect-error: misspelled parameter
buildUrl('a.jpg', { wdith: 400 });
// @ts-expect-error: not a fit mode
buildUrl('a.jpg', { fit: 'stretch' });
export async function main(): Promise<string> {
  const app: ImagegateApp = await createApp(config);
  const server = await startServer(config, { port: 0 });
  await server.close();
  await app.close();
  void handler;
  void loadConfigFile;
  return new ConfigError('x', []).message + buildUrl('a.jpg', params) + port;
}
`,
    );
    ok(run(path.join(app, 'node_modules', '.bin', 'tsc'), ['-p', '.']), 'tsc -p . in the consumer project');
  });
});
