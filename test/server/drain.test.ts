/**
 * Graceful drain of the real `imagegate serve` process: a render in flight when SIGTERM arrives
 * is delivered whole, new connections are refused, the process exits 0 within the drain time,
 * and the request log says only what really reached a client.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { once } from 'node:events';
import { readFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { sha256hex } from '../../src/auth/keys.ts';
import { freePort } from '../helpers/services.ts';

const BIN = path.resolve(import.meta.dirname, '..', '..', 'bin', 'imagegate.js');
const SAMPLE = readFileSync(path.resolve(import.meta.dirname, '..', '..', 'examples', 'images', 'sample.jpg'));
const KEY = 'drain-test-key';

/** An HTTP origin that holds every request for /slow/* until `release()`; `seen` resolves at the first of them. */
function slowOrigin() {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let first!: () => void;
  const seen = new Promise<void>((r) => (first = r));
  const server = createServer(async (req, res) => {
    if (req.url?.startsWith('/slow/')) {
      first();
      await released;
    }
    res.writeHead(200, { 'Content-Type': 'image/jpeg', 'Content-Length': SAMPLE.length, ETag: '"sample-1"' });
    res.end(req.method === 'HEAD' ? undefined : SAMPLE);
  });
  return { server, release, seen };
}

interface Proc {
  proc: ChildProcess;
  url: string;
  port: number;
  lines: () => Record<string, unknown>[];
  output: () => string;
  exited: Promise<{ code: number | null; at: number }>;
}

async function serve(origin: Server, extraServer = ''): Promise<Proc> {
  const dir = mkdtempSync(path.join(tmpdir(), 'imagegate-drain-'));
  const file = path.join(dir, 'imagegate.yaml');
  const { port: originPort } = origin.address() as { port: number };
  writeFileSync(
    file,
    `server: { host: 127.0.0.1, logLevel: info ${extraServer} }
sources:
  web: { type: http, baseUrl: "http://127.0.0.1:${originPort}/", allowPrivateNetworks: true }
routes: [{ match: "*", source: web }]
keys: [{ id: drain, sha256: "${sha256hex(KEY)}" }]
cache: { enabled: false }
`,
  );
  const port = await freePort();
  const proc = spawn(process.execPath, [BIN, 'serve', '--config', file, '--port', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exited = once(proc, 'exit').then(([code]) => ({ code: code as number | null, at: performance.now() }));
  after(() => void (proc.exitCode === null && proc.signalCode === null && proc.kill('SIGKILL')));
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no listening line:\n${out}`)), 30_000);
    proc.stdout!.on('data', () => /listening on/.test(out) && (clearTimeout(t), resolve()));
    void exited.then(() => reject(new Error(`exited early:\n${out}`)));
  });
  const lines = () =>
    out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { proc, url: `http://127.0.0.1:${port}`, port, lines, output: () => out, exited };
}

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(false)));
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
  });
}

async function listen(server: Server): Promise<void> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
}

describe('serve: SIGTERM drains', () => {
  test('a render in flight completes with its whole body; new connections are refused; exit 0 within the drain time', async () => {
    const origin = slowOrigin();
    await listen(origin.server);
    try {
      const s = await serve(origin.server, ', drainMs: 60000');
      // An idle keep-alive connection: one answered request, then nothing.
      const idle = connect(s.port, '127.0.0.1');
      idle.write('GET /_health HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n');
      await once(idle, 'data');
      const idleClosed = once(idle, 'close');
      const pending = fetch(`${s.url}/slow/a.jpg?w=120&fm=png`, { headers: { 'X-API-Key': KEY } });
      await origin.seen; // the request is in the server, waiting for its original
      const signalled = performance.now();
      s.proc.kill('SIGTERM');
      await idleClosed; // closed by the server at once, while the render is still held
      // The listener closes at once: poll until a new connection is refused (the server keeps running).
      let isRefused = false;
      for (let i = 0; i < 100 && !isRefused; i++) {
        isRefused = await refused(s.port);
        if (!isRefused) await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(isRefused, 'a new connection after SIGTERM is refused');
      assert.equal(s.proc.exitCode, null, 'still running while a request is in flight');
      origin.release();
      const res = await pending;
      assert.equal(res.status, 200);
      const body = Buffer.from(await res.arrayBuffer());
      assert.equal(body.length, Number(res.headers.get('content-length') ?? body.length));
      const meta = await sharp(body).metadata();
      assert.equal(meta.format, 'png');
      assert.equal(meta.width, 120);
      const { code, at } = await s.exited;
      assert.equal(code, 0, s.output());
      assert.ok(at - signalled < 60_000, 'exited before the drain time');
      const requests = s.lines().filter((l) => l.msg === 'request' && l.path === '/slow/a.jpg');
      assert.equal(requests.length, 1, s.output());
      assert.equal(requests[0].status, 200);
      assert.ok(s.lines().some((l) => /^drained/.test(String(l.msg))), s.output());
    } finally {
      origin.server.close();
    }
  });

  test('a client that went away is logged as aborted, never as a 200 delivered', async () => {
    const origin = slowOrigin();
    await listen(origin.server);
    try {
      const s = await serve(origin.server);
      const ac = new AbortController();
      const pending = fetch(`${s.url}/slow/b.jpg?w=80`, { headers: { 'X-API-Key': KEY }, signal: ac.signal }).catch((e: Error) => e);
      await origin.seen;
      ac.abort();
      assert.ok((await pending) instanceof Error);
      origin.release();
      // The app finishes its side; then the server is stopped and its log read.
      await new Promise((r) => setTimeout(r, 500));
      const ok = await fetch(`${s.url}/slow/c.jpg?w=80`, { headers: { 'X-API-Key': KEY } });
      assert.equal(ok.status, 200);
      await ok.arrayBuffer();
      s.proc.kill('SIGTERM');
      assert.equal((await s.exited).code, 0, s.output());
      const about = (p: string) => s.lines().filter((l) => l.path === p && String(l.msg).startsWith('request'));
      assert.deepEqual(
        about('/slow/b.jpg').map((l) => [l.msg, l.aborted]),
        [['request aborted', true]],
        s.output(),
      );
      assert.deepEqual(about('/slow/c.jpg').map((l) => [l.msg, l.status]), [['request', 200]]);
    } finally {
      origin.server.close();
    }
  });

  test('a second signal exits at once; a drain past server.drainMs cuts the request and exits 1', async () => {
    for (const mode of ['second signal', 'drain time'] as const) {
      const origin = slowOrigin();
      await listen(origin.server);
      try {
        const s = await serve(origin.server, mode === 'drain time' ? ', drainMs: 300' : ', drainMs: 60000');
        const pending = fetch(`${s.url}/slow/d.jpg?w=64`, { headers: { 'X-API-Key': KEY } }).catch((e: Error) => e);
        await origin.seen;
        s.proc.kill('SIGTERM');
        if (mode === 'second signal') {
          await new Promise((r) => setTimeout(r, 200));
          s.proc.kill('SIGTERM');
        }
        const { code } = await s.exited;
        assert.equal(code, 1, `${mode}:\n${s.output()}`);
        assert.ok((await pending) instanceof Error, 'the request was cut, not answered');
        assert.ok(!s.lines().some((l) => l.msg === 'request' && l.path === '/slow/d.jpg'), 'never logged as delivered');
      } finally {
        origin.release();
        origin.server.close();
      }
    }
  });
});

describe('npm start', () => {
  test('SIGTERM to npm reaches the server: it drains and exits, nothing is left listening', async () => {
    const port = await freePort();
    const state = mkdtempSync(path.join(tmpdir(), 'imagegate-state-'));
    const root = path.resolve(import.meta.dirname, '..', '..');
    const npm = spawn('npm', ['start', '--silent'], { cwd: root, env: { ...process.env, PORT: String(port), IMAGEGATE_STATE_DIR: state }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    npm.stdout!.on('data', (d) => (out += d));
    npm.stderr!.on('data', (d) => (out += d));
    const exited = once(npm, 'exit');
    after(() => {
      // Whatever happens, leave no server behind: npm's children by parent id.
      const children = spawnSync('pgrep', ['-P', String(npm.pid)], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
      for (const pid of children) process.kill(Number(pid), 'SIGKILL');
      if (npm.exitCode === null) npm.kill('SIGKILL');
    });
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no listening line:\n${out}`)), 60_000);
      npm.stdout!.on('data', () => /listening on/.test(out) && (clearTimeout(t), resolve()));
    });
    assert.equal((await fetch(`http://127.0.0.1:${port}/_health`)).status, 200);
    npm.kill('SIGTERM');
    await exited;
    assert.match(out, /"msg":"drained: every request in flight finished"/);
    assert.ok(await refused(port), 'the server stopped with npm');
  });
});
