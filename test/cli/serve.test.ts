import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { sha256hex } from '../../src/auth/keys.ts';
import { freePort } from '../helpers/services.ts';

const BIN = path.resolve(import.meta.dirname, '..', '..', 'bin', 'imagegate.js');
const SAMPLE = path.resolve(import.meta.dirname, '..', '..', 'examples', 'images');

/** Start `imagegate …`, wait for the listening line, return the URL and a stopper. */
async function start(args: string[], env: Record<string, string> = {}, cwd?: string) {
  const proc = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d) => (out += d));
  proc.stderr.on('data', (d) => (out += d));
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no listening line:\n${out}`)), 20_000);
    proc.stdout.on('data', () => {
      const m = /listening on (http:\/\/[^\s/]+)/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(m[1]);
      }
    });
    proc.on('exit', (code) => reject(new Error(`exited ${code}:\n${out}`)));
  });
  return {
    url,
    output: () => out,
    stop: async () => {
      proc.kill('SIGTERM');
      const [code] = await once(proc, 'exit');
      return code as number;
    },
  };
}

function writeConfig(extra = ''): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'imagegate-cli-'));
  const file = path.join(dir, 'imagegate.yaml');
  writeFileSync(
    file,
    `server: { host: 127.0.0.1, basePath: /dev, logLevel: silent }
sources:
  local: { type: fs, root: ${JSON.stringify(SAMPLE)} }
routes:
  - { match: "*", source: local }
keys:
  - { id: ci, valueFromEnv: TEST_CLI_KEY }
  - { id: dev, sha256: "${sha256hex('hashed-key-value')}" }
${extra}`,
  );
  return file;
}

describe('imagegate serve', () => {
  test('--config and --port: serves the configured folder behind the base path', async () => {
    const port = await freePort();
    const s = await start(['serve', '--config', writeConfig(), '--port', String(port)], { TEST_CLI_KEY: 'from-env-key' });
    try {
      assert.equal(s.url, `http://127.0.0.1:${port}`);
      const res = await fetch(`${s.url}/dev/sample.jpg`, { headers: { 'X-API-Key': 'from-env-key' } });
      assert.equal(res.status, 200);
      assert.ok(Buffer.from(await res.arrayBuffer()).equals(readFileSync(path.join(SAMPLE, 'sample.jpg'))));
      const hashed = await fetch(`${s.url}/dev/logo.png`, { headers: { 'X-API-Key': 'hashed-key-value' } });
      assert.equal(hashed.headers.get('content-type'), 'image/png');
      assert.equal((await fetch(`${s.url}/dev/sample.jpg`)).status, 403);
      assert.ok(!s.output().includes('from-env-key'), 'key values never reach the logs');
    } finally {
      assert.equal(await s.stop(), 0);
    }
  });

  test('IMAGEGATE_CONFIG and PORT work as well', async () => {
    const port = await freePort();
    const s = await start(['serve'], { IMAGEGATE_CONFIG: writeConfig(), PORT: String(port), TEST_CLI_KEY: 'k2' });
    try {
      assert.equal(s.url, `http://127.0.0.1:${port}`);
      assert.equal((await fetch(`${s.url}/_health`)).status, 200);
    } finally {
      await s.stop();
    }
  });

  test('--dev prints a development key that works', async () => {
    const port = await freePort();
    const state = mkdtempSync(path.join(tmpdir(), 'imagegate-state-'));
    const s = await start(['serve', '--dev', '--port', String(port), '--host', '127.0.0.1'], { IMAGEGATE_STATE_DIR: state });
    try {
      const key = /development API key: (\S+)/.exec(s.output())?.[1];
      assert.ok(key && key.length === 30 && /^[A-Za-z0-9]+$/.test(key));
      assert.equal(readFileSync(path.join(state, 'dev-key'), 'utf8').trim(), key);
      const res = await fetch(`${s.url}/sample.jpg`, { headers: { 'X-API-Key': key } });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'image/jpeg');
    } finally {
      await s.stop();
    }
  });

  test('--dev listens on loopback only unless told otherwise, and says so', async () => {
    const port = await freePort();
    const state = mkdtempSync(path.join(tmpdir(), 'imagegate-state-'));
    const s = await start(['serve', '--dev', '--port', String(port)], { IMAGEGATE_STATE_DIR: state });
    try {
      assert.equal(s.url, `http://127.0.0.1:${port}`);
      assert.match(s.output(), new RegExp(`listening on http://127\\.0\\.0\\.1:${port}/\n`));
      const lan = Object.values(networkInterfaces()).flat().find((i) => i && i.family === 'IPv4' && !i.internal);
      if (lan) {
        const reached = await new Promise<boolean>((resolve) => {
          const sock = connect(port, lan.address);
          sock.once('connect', () => (sock.destroy(), resolve(true)));
          sock.once('error', () => resolve(false));
        });
        assert.equal(reached, false, `not reachable on ${lan.address}`);
      }
    } finally {
      await s.stop();
    }
    // Told otherwise: every interface, and the line says so.
    const port2 = await freePort();
    const all = await start(['serve', '--dev', '--port', String(port2)], { IMAGEGATE_STATE_DIR: state, IMAGEGATE_SERVER_HOST: '0.0.0.0' });
    try {
      assert.match(all.output(), new RegExp(`listening on http://0\\.0\\.0\\.0:${port2}/ \\(every interface; from this machine: http://127\\.0\\.0\\.1:${port2}/\\)`));
    } finally {
      await all.stop();
    }
  });

  test('--dev keeps its state in ./.imagegate when it can, else in the per-user state folder, else says what to do', async () => {
    const cwd = mkdtempSync(path.join(tmpdir(), 'imagegate-cwd-'));
    const xdg = mkdtempSync(path.join(tmpdir(), 'imagegate-xdg-'));
    const env = { IMAGEGATE_STATE_DIR: '', XDG_STATE_HOME: xdg };
    const here = await start(['serve', '--dev', '--port', '0'], env, cwd);
    await here.stop();
    assert.match(readFileSync(path.join(cwd, '.imagegate', 'dev-key'), 'utf8'), /^[A-Za-z0-9]{30}\n$/);

    // ./.imagegate cannot be a folder here: the per-user folder is used.
    const blocked = mkdtempSync(path.join(tmpdir(), 'imagegate-cwd-'));
    writeFileSync(path.join(blocked, '.imagegate'), 'a file, not a folder');
    const user = await start(['serve', '--dev', '--port', '0'], env, blocked);
    await user.stop();
    assert.match(user.output(), new RegExp(`kept in ${path.join(xdg, 'imagegate')}`));
    const key = /development API key: (\S+)/.exec(user.output())![1];
    assert.equal(readFileSync(path.join(xdg, 'imagegate', 'dev-key'), 'utf8').trim(), key);

    // Neither: a clear message and exit 1, never a stack trace.
    writeFileSync(path.join(xdg, 'imagegate-blocked'), 'x');
    const proc = spawn(process.execPath, [BIN, 'serve', '--dev'], { cwd: blocked, env: { ...process.env, ...env, XDG_STATE_HOME: path.join(xdg, 'imagegate-blocked') }, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    proc.stderr.on('data', (d) => (err += d));
    const [code] = await once(proc, 'exit');
    assert.equal(code, 1);
    assert.match(err, /cannot keep the development key and admin token \(.*\.imagegate: not a folder; .*imagegate-blocked\/imagegate: not a folder\); set IMAGEGATE_STATE_DIR to a folder you can write/);
    assert.doesNotMatch(err, /\n\s+at /);
  });

  test('a bad config stops start-up with every problem listed (exit 1)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'imagegate-cli-'));
    const file = path.join(dir, 'bad.yaml');
    writeFileSync(file, 'server: { port: -1 }\nsources: {}\nroutes: [{ match: "*", source: nowhere }]\n');
    const proc = spawn(process.execPath, [BIN, 'serve', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    proc.stderr.on('data', (d) => (err += d));
    const [code] = await once(proc, 'exit');
    assert.equal(code, 1);
    assert.match(err, /server\.port:/);
    assert.match(err, /routes\.0\.source \(route '\*'\): unknown source 'nowhere'/);
  });

  test('bad usage exits 2 with help; --help exits 0', async () => {
    const run = async (args: string[]) => {
      const p = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      p.stdout.on('data', (d) => (out += d));
      p.stderr.on('data', (d) => (out += d));
      const [code] = await once(p, 'exit');
      return { code, out };
    };
    const help = await run(['serve', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.out, /Usage: imagegate serve/);
    const bad = await run(['serve', '--nope']);
    assert.equal(bad.code, 2);
    const unknown = await run(['frobnicate']);
    assert.equal(unknown.code, 2);
    const port = await run(['serve', '--config', writeConfig(), '--port', 'abc']);
    assert.equal(port.code, 2);
    assert.match(port.out, /--port: expected an integer/);
  });
});
