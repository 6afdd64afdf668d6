import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { sha256hex } from '../../src/auth/keys.ts';
import { freePort } from '../helpers/services.ts';

const BIN = path.resolve(import.meta.dirname, '..', '..', 'bin', 'imagegate.js');
const SAMPLE = path.resolve(import.meta.dirname, '..', '..', 'examples', 'images');

/** Start `imagegate …`, wait for the listening line, return the URL and a stopper. */
async function start(args: string[], env: Record<string, string> = {}) {
  const proc = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
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
