/**
 * Bounded memory for originals: an original served untouched is streamed (HEAD reads its first
 * bytes only), every source kind refuses objects over `limits.maxOriginalBytes`, and bytes held
 * in memory count against `limits.maxBytesInFlight`. Twelve concurrent GETs and twelve HEADs of
 * a 200 MB original keep a real server process under 512 MiB of RSS, and every byte is right,
 * from a local folder and from an HTTP origin (of which a HEAD reads only the first bytes).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import sharp from 'sharp';
import { get, makeImageFolder, testApp } from '../helpers/app.ts';
import { ByteBudget } from '../../src/cache/limiter.ts';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createS3Storage } from '../../src/storage/s3.ts';
import { fakeAwsEnv, requireCommand, startMoto, type RunningService } from '../helpers/services.ts';

const BIN = path.resolve(import.meta.dirname, '..', '..', 'bin', 'imagegate.js');
const KEY = 'large-originals-key-0123456789ab';
const MiB = 1024 * 1024;

/** A valid JPEG header followed by padding up to `size` bytes; resolves to its SHA-256. */
async function writeBigOriginal(file: string, size: number): Promise<string> {
  const jpeg = await sharp({ create: { width: 16, height: 16, channels: 3, background: '#369' } }).jpeg().toBuffer();
  const hash = createHash('sha256');
  const out = createWriteStream(file);
  const write = async (b: Buffer) => {
    hash.update(b);
    if (!out.write(b)) await once(out, 'drain');
  };
  await write(jpeg);
  const block = randomBytes(MiB);
  for (let left = size - jpeg.length, i = 0; left > 0; i++) {
    const b = Buffer.from(block.subarray(0, Math.min(MiB, left)));
    b.writeUInt32BE(i, 0); // every block differs: a repeated or dropped block changes the hash
    await write(b);
    left -= b.length;
  }
  out.end();
  await once(out, 'finish');
  return hash.digest('hex');
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

describe('originals are streamed within a memory budget (server process)', () => {
  let dir: string;
  let digest: string;
  let proc: ChildProcess;
  let base: string;
  let origin: http.Server;
  /** Body bytes the HTTP origin handed to each request (by path), once its connection closed. */
  const sent: { path: string; bytes: number }[] = [];
  const SIZE = 200 * 1000 * 1000;
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'imagegate-large-'));
    mkdirSync(path.join(dir, 'img'));
    const file = path.join(dir, 'img', 'big.jpg');
    digest = await writeBigOriginal(file, SIZE);
    // An HTTP origin on loopback serving the same file, counting the body bytes it sends.
    origin = http.createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': SIZE, etag: '"big-1"' });
      if (req.method === 'HEAD') return void res.end();
      let n = 0;
      const body = createReadStream(file, { highWaterMark: 64 * 1024 });
      body.on('data', (c) => {
        n += c.length;
        if (!res.write(c)) body.pause();
      });
      res.on('drain', () => body.resume());
      body.on('end', () => res.end());
      res.on('close', () => {
        body.destroy();
        sent.push({ path: req.url ?? '', bytes: n });
      });
    });
    await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
    const originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}/`;
    const config = path.join(dir, 'imagegate.yaml');
    writeFileSync(
      config,
      `server: { host: 127.0.0.1, logLevel: silent }
sources:
  local: { type: fs, root: ${JSON.stringify(path.join(dir, 'img'))} }
  origin: { type: http, baseUrl: ${JSON.stringify(originUrl)}, allowPrivateNetworks: true, maxBytes: ${256 * MiB}, timeoutMs: 30000 }
routes:
  - { match: "remote/*", source: origin, key: "{*}" }
  - { match: "*", source: local }
keys:
  - { id: ci, valueFromEnv: LARGE_ORIGINALS_KEY }
limits: { maxOriginalBytes: ${256 * MiB} }
`,
    );
    proc = spawn(process.execPath, [BIN, 'serve', '--config', config, '--port', '0'], {
      env: { ...process.env, LARGE_ORIGINALS_KEY: KEY, MALLOC_ARENA_MAX: '2' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    proc.stderr!.on('data', (d) => (out += d));
    base = await new Promise<string>((resolve, reject) => {
      proc.stdout!.on('data', (d) => {
        out += d;
        const m = /listening on (http:\/\/[^\s/]+)/.exec(out);
        if (m) resolve(m[1]!);
      });
      proc.once('exit', (code) => reject(new Error(`server exited ${code}:\n${out}`)));
    });
  });
  after(async () => {
    if (proc && proc.exitCode === null) {
      proc.kill('SIGTERM');
      await once(proc, 'exit');
    }
    origin?.closeAllConnections();
    await new Promise((resolve) => origin?.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  /** 12 GETs and 12 HEADs of `url` at once; resolves to the peak RSS of the server process. */
  async function concurrently(url: string): Promise<number> {
    let peak = rssMiB(proc.pid!);
    const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(proc.pid!))), 25);
    try {
      const gets = Array.from({ length: 12 }, async () => {
        const res = await fetch(url, { headers: { 'X-API-Key': KEY } });
        assert.equal(res.status, 200);
        assert.equal(res.headers.get('content-type'), 'image/jpeg');
        assert.equal(res.headers.get('content-length'), String(SIZE));
        const h = createHash('sha256');
        let n = 0;
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          h.update(chunk);
          n += chunk.length;
        }
        assert.equal(n, SIZE);
        return h.digest('hex');
      });
      const heads = Array.from({ length: 12 }, async () => {
        const res = await fetch(url, { method: 'HEAD', headers: { 'X-API-Key': KEY } });
        assert.equal(res.status, 200);
        assert.equal(res.headers.get('content-length'), String(SIZE));
        assert.equal(res.headers.get('content-type'), 'image/jpeg');
      });
      const [hashes] = await Promise.all([Promise.all(gets), Promise.all(heads)]);
      for (const h of hashes) assert.equal(h, digest);
    } finally {
      clearInterval(sampler);
    }
    return peak;
  }

  test('12 GETs and 12 HEADs of a 200 MB original at once: RSS under 512 MiB, every byte right', async (t) => {
    const peak = await concurrently(`${base}/big.jpg`);
    t.diagnostic(`peak RSS ${Math.round(peak)} MiB`);
    assert.ok(peak < 512, `peak RSS ${Math.round(peak)} MiB`);
  });

  test('the same from an HTTP origin: streamed through, RSS under 512 MiB, every byte right', async (t) => {
    const peak = await concurrently(`${base}/remote/big.jpg`);
    t.diagnostic(`peak RSS ${Math.round(peak)} MiB`);
    assert.ok(peak < 512, `peak RSS ${Math.round(peak)} MiB`);
  });

  test('a HEAD of an HTTP original reads only its first bytes from the origin', async (t) => {
    // Any path on the origin serves the same file: this one is asked for by this HEAD alone.
    const probe = () => sent.filter((s) => s.path === '/head-probe.jpg');
    const res = await fetch(`${base}/remote/head-probe.jpg`, { method: 'HEAD', headers: { 'X-API-Key': KEY } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-length'), String(SIZE));
    assert.equal(res.headers.get('content-type'), 'image/jpeg');
    // The origin notices the closed connection as soon as its socket buffers fill.
    for (let i = 0; i < 200 && probe().length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(probe().length, 1, 'one request reached the origin and it was closed');
    const bytes = probe()[0]!.bytes;
    t.diagnostic(`origin sent ${bytes} of ${SIZE} bytes`);
    assert.ok(bytes < 32 * MiB, `origin sent ${bytes} bytes for a HEAD`);
  });
});

describe('byte caps and the byte budget', () => {
  let folder: Awaited<ReturnType<typeof makeImageFolder>>;
  before(async () => {
    folder = await makeImageFolder();
  });
  after(() => folder.cleanup());

  test('an original over limits.maxOriginalBytes is 502 source_too_large, served untouched or rendered, GET or HEAD', async () => {
    const size = readFileSync(path.join(folder.root, 'photo.jpg')).length;
    const ig = await testApp(folder.root, { limits: { maxOriginalBytes: size - 1 } });
    for (const [url, method] of [['photo.jpg', 'GET'], ['photo.jpg', 'HEAD'], ['photo.jpg?w=50', 'GET']] as const) {
      const res = await get(ig, `http://localhost/${url}`, {}, method);
      assert.equal(res.status, 502, `${method} ${url}`);
      if (method === 'GET') assert.equal(((await res.json()) as { code: string }).code, 'source_too_large');
    }
    assert.equal((await get(ig, 'http://localhost/alpha.png')).status, 200, 'smaller originals are served');
    await ig.close();
  });

  test('the fs source itself refuses files over its cap, before reading them', async () => {
    const { createFsStorage } = await import('../../src/storage/fs.ts');
    const fs = createFsStorage({ root: folder.root, maxBytes: 100 });
    for (const read of [() => fs.get('photo.jpg'), () => fs.stream!('photo.jpg'), () => fs.open!('photo.jpg')]) {
      await assert.rejects(read(), (e: { code?: string }) => e.code === 'source_too_large');
    }
  });

  test('ByteBudget: waits in order when full, sheds past its queue, leaves on abort, never starves a big request', async () => {
    const budget = new ByteBudget({ maxBytes: 100, queue: 2 });
    const a = await budget.acquire(60);
    const order: string[] = [];
    const b = budget.acquire(60).then((r) => (order.push('b'), r));
    const ctl = new AbortController();
    const c = budget.acquire(10, ctl.signal);
    await assert.rejects(budget.acquire(1), (e: { status?: number; code?: string }) => e.status === 503 && e.code === 'overloaded');
    ctl.abort(new DOMException('late', 'TimeoutError'));
    await assert.rejects(c, (e: { code?: string }) => e.code === 'deadline_exceeded');
    assert.equal(budget.inFlight, 60);
    a();
    const rb = await b;
    assert.deepEqual(order, ['b']);
    rb();
    rb(); // releasing twice frees once
    assert.equal(budget.inFlight, 0);
    const huge = await budget.acquire(10_000);
    assert.equal(budget.inFlight, 100, 'over the whole budget: granted alone, counted as the whole budget');
    huge();
  });
});

describe('S3 originals: streamed and capped (moto_server)', { skip: requireCommand('moto_server') }, () => {
  let moto: RunningService;
  let folder: Awaited<ReturnType<typeof makeImageFolder>>;
  const big = randomBytes(300_000);
  let jpeg: Buffer;
  before(async () => {
    fakeAwsEnv();
    moto = await startMoto();
    folder = await makeImageFolder();
    const admin = new S3Client({ endpoint: moto.url, forcePathStyle: true, region: 'us-east-1' });
    await admin.send(new CreateBucketCommand({ Bucket: 'caps' }));
    jpeg = Buffer.concat([readFileSync(path.join(folder.root, 'photo.jpg')), big]);
    await admin.send(new PutObjectCommand({ Bucket: 'caps', Key: 'o/photo.jpg', Body: jpeg }));
  });
  after(async () => {
    await moto?.stop();
    folder?.cleanup();
  });
  const source = (maxBytes?: number) =>
    createS3Storage({ bucket: 'caps', prefix: 'o/', endpoint: moto.url, forcePathStyle: true, region: 'us-east-1', timeoutMs: 5000, maxBytes });

  test('get and stream refuse an object over the cap on its length; under it stream gives every byte', async () => {
    const small = source(jpeg.length - 1);
    await assert.rejects(small.get('photo.jpg'), (e: { code?: string }) => e.code === 'source_too_large');
    await assert.rejects(small.stream!('photo.jpg'), (e: { code?: string }) => e.code === 'source_too_large');
    const obj = await source(jpeg.length).stream!('photo.jpg');
    const chunks: Buffer[] = [];
    for await (const c of obj!.body) chunks.push(c as Buffer);
    assert.ok(Buffer.concat(chunks).equals(jpeg));
    assert.equal(obj!.meta.size, jpeg.length);
  });

  test('through the app: an untouched S3 original is served byte for byte; over limits.maxOriginalBytes it is 502', async () => {
    const s3 = { type: 's3', bucket: 'caps', prefix: 'o/', endpoint: moto.url, forcePathStyle: true, region: 'us-east-1' };
    const ig = await testApp(folder.root, { sources: { s3 }, routes: [{ match: '*', source: 's3' }] });
    const res = await get(ig, 'http://localhost/photo.jpg');
    assert.equal(res.status, 200);
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(jpeg));
    const head = await get(ig, 'http://localhost/photo.jpg', {}, 'HEAD');
    assert.equal(head.headers.get('content-length'), String(jpeg.length));
    assert.equal(head.headers.get('content-type'), 'image/jpeg');
    await ig.close();
    const capped = await testApp(folder.root, { sources: { s3 }, routes: [{ match: '*', source: 's3' }], limits: { maxOriginalBytes: 1000 } });
    const refused = await get(capped, 'http://localhost/photo.jpg?w=10');
    assert.equal(refused.status, 502);
    assert.equal(((await refused.json()) as { code: string }).code, 'source_too_large');
    await capped.close();
  });
});
