/**
 * Faults in what the service depends on: S3 slower than the deadline, S3 refusing or dropping
 * connections, sources returning garbage, a result-cache folder that cannot be written. Each
 * gives its documented status, and the same app recovers once the fault is gone — no restart.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import sharp from 'sharp';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { get, makeImageFolder, testApp } from '../helpers/app.ts';
import { fakeAwsEnv, freePort, requireCommand, startMoto, startRedis, type RunningService } from '../helpers/services.ts';
import { ADMIN_TOKEN, TEST_KEY, OTHER_KEY } from '../helpers/app.ts';
import { sha256hex } from '../../src/auth/keys.ts';
import type { ImagegateApp } from '../../src/http/app.ts';

async function answer(res: Response): Promise<{ status: number; code?: string }> {
  const text = await res.text();
  let code: string | undefined;
  try {
    code = JSON.parse(text).code;
  } catch {
    /* an image */
  }
  return { status: res.status, code };
}

/**
 * Runs `fn` while forcing garbage collections: a timeout that only a collectable object refers
 * to (Node 20: a timeout signal inside AbortSignal.any) would then never fire, and the request
 * would hang instead of timing out. Such a hang fails the test through its own timeout.
 */
async function underGc<T>(fn: () => Promise<T>): Promise<T> {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const timer = setInterval(gc, 100);
  try {
    return await fn();
  } finally {
    clearInterval(timer);
  }
}

type Mode = 'pass' | 'hang' | 'reset' | 'closed';

/**
 * A TCP proxy in front of moto that can stall every connection, reset it, or stop listening,
 * and come back. Switching mode drops the connections already open (the SDK keeps some alive).
 */
class FaultProxy {
  mode: Mode = 'pass';
  port = 0;
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();

  constructor(private readonly upstreamPort: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  async start(port = 0): Promise<void> {
    this.server = net.createServer((client) => {
      this.sockets.add(client);
      client.on('close', () => this.sockets.delete(client));
      client.on('error', () => {});
      if (this.mode === 'reset') return client.resetAndDestroy();
      if (this.mode === 'hang') return client.resume(); // read everything, answer nothing
      const upstream = net.connect(this.upstreamPort, '127.0.0.1');
      this.sockets.add(upstream);
      upstream.on('close', () => this.sockets.delete(upstream));
      upstream.on('error', () => client.destroy());
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((r) => this.server!.listen(port, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async set(mode: Mode): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    if (mode === 'closed' && this.mode !== 'closed') {
      await new Promise((r) => this.server!.close(r));
    } else if (mode !== 'closed' && this.mode === 'closed') {
      this.mode = mode;
      await this.start(this.port);
    }
    this.mode = mode;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    if (this.mode !== 'closed') await new Promise((r) => this.server?.close(r));
  }
}

describe('S3 faults', () => {
  const skip = requireCommand('moto_server');
  let moto: RunningService;
  let proxy: FaultProxy;
  let ig: ImagegateApp;
  let slowDeadline: ImagegateApp;
  let folder: Awaited<ReturnType<typeof makeImageFolder>>;
  let n = 0;
  /** A new width each time, so no answer comes from the result cache. */
  const fresh = () => `?w=${40 + n++}`;
  /**
   * After a fault is cleared the same app must serve again. A loaded machine can make one
   * healthy call slower than the short timeouts used here, so a few attempts are allowed.
   */
  const recovers = async (app: ImagegateApp, p = '/s3/ok.jpg') => {
    let last = 0;
    for (let i = 0; i < 10 && last !== 200; i++) last = (await get(app, `http://localhost${p}${p.includes('?') ? '' : fresh()}`)).status;
    assert.equal(last, 200, `${p} did not recover`);
  };

  before(async () => {
    if (skip) return;
    fakeAwsEnv();
    moto = await startMoto();
    const s3 = new S3Client({ endpoint: moto.url, forcePathStyle: true, region: 'us-east-1' });
    await s3.send(new CreateBucketCommand({ Bucket: 'faults' }));
    const jpeg = await sharp({ create: { width: 120, height: 80, channels: 3, background: '#aa5500' } }).jpeg().toBuffer();
    await s3.send(new PutObjectCommand({ Bucket: 'faults', Key: 'originals/ok.jpg', Body: jpeg, ContentType: 'image/jpeg' }));
    await s3.send(new PutObjectCommand({ Bucket: 'faults', Key: 'originals/garbage.jpg', Body: randomBytes(4096), ContentType: 'image/jpeg' }));
    await s3.send(
      new PutObjectCommand({ Bucket: 'faults', Key: 'originals/page.jpg', Body: '<html><script>alert(document.domain)</script></html>', ContentType: 'text/html' }),
    );
    s3.destroy();
    proxy = new FaultProxy(moto.port);
    await proxy.start();
    folder = await makeImageFolder();
    const s3Source = (timeoutMs: number) => ({
      sources: {
        s3: { type: 's3', bucket: 'faults', prefix: 'originals/', region: 'us-east-1', endpoint: `http://127.0.0.1:${proxy.port}`, forcePathStyle: true, timeoutMs },
      },
      routes: [{ match: 's3/*', source: 's3', key: '{*}' }],
    });
    ig = await testApp(folder.root, s3Source(1500));
    // S3's own timeout is longer than the request deadline: the deadline must win.
    slowDeadline = await testApp(folder.root, { ...s3Source(60_000), limits: { deadlineMs: 2000 } });
  });
  after(async () => {
    await ig?.close();
    await slowDeadline?.close();
    await proxy?.stop();
    await moto?.stop();
    folder?.cleanup();
  });

  test('healthy: originals and transformations are served through the proxy', { skip }, async () => {
    await recovers(ig, '/s3/ok.jpg?');
    await recovers(ig);
    assert.equal((await get(ig, 'http://localhost/s3/missing.jpg')).status, 404);
  });

  test('S3 slower than its timeout → 504 source_timeout; then recovers', { skip, timeout: 30_000 }, async () => {
    await proxy.set('hang');
    try {
      assert.deepEqual(await answer(await get(ig, `http://localhost/s3/ok.jpg${fresh()}`)), { status: 504, code: 'source_timeout' });
      assert.deepEqual(await answer(await get(ig, 'http://localhost/s3/ok.jpg')), { status: 504, code: 'source_timeout' });
    } finally {
      await proxy.set('pass');
    }
    await recovers(ig);
  });

  test('S3 slower than the request deadline → 504 source_timeout, not a hang; then recovers', { skip, timeout: 30_000 }, async () => {
    await proxy.set('hang');
    try {
      const a = await answer(await get(slowDeadline, `http://localhost/s3/ok.jpg${fresh()}`));
      assert.deepEqual(a, { status: 504, code: 'source_timeout' });
    } finally {
      await proxy.set('pass');
    }
    await recovers(slowDeadline);
  });

  test(
    'S3 dropping connections → 503 source_unavailable; then recovers',
    { skip },
    async () => {
    await proxy.set('reset');
    try {
      assert.deepEqual(await answer(await get(ig, `http://localhost/s3/ok.jpg${fresh()}`)), { status: 503, code: 'source_unavailable' });
    } finally {
      await proxy.set('pass');
    }
    await recovers(ig);
    },
  );

  test('S3 down (nothing listening) → 503 source_unavailable, never a 404; then recovers', { skip }, async () => {
    await proxy.set('closed');
    for (const p of ['/s3/ok.jpg', `/s3/ok.jpg${fresh()}`, '/s3/missing.jpg']) {
      assert.deepEqual(await answer(await get(ig, `http://localhost${p}`)), { status: 503, code: 'source_unavailable' }, p);
    }
    await proxy.set('pass');
    await recovers(ig);
    assert.equal((await get(ig, 'http://localhost/s3/missing.jpg')).status, 404);
  });

  test('an S3 object that is not an image → 415 on a transformation', { skip }, async () => {
    assert.deepEqual(await answer(await get(ig, 'http://localhost/s3/garbage.jpg?w=40')), { status: 415, code: 'unsupported_image' });
    const raw = await get(ig, 'http://localhost/s3/garbage.jpg');
    assert.equal(raw.status, 200, 'without a transformation the bytes are served as stored');
    assert.equal(raw.headers.get('x-content-type-options'), 'nosniff');
  });

  test(
    'an S3 object stored as text/html is never served as an active type',
    { skip },
    async () => {
    const res = await get(ig, 'http://localhost/s3/page.jpg');
    assert.equal(res.status, 200);
    const type = res.headers.get('content-type') ?? '';
    assert.doesNotMatch(type, /html|xml|javascript/i, `served as ${type}`);
    },
  );

  test(
    'the deadline and the S3 timeout still fire after garbage collections (no hang)',
    {
      skip,
      timeout: 15_000,
    },
    async () => {
      await proxy.set('hang');
      try {
        for (const app of [ig, slowDeadline]) {
          const a = await underGc(async () => answer(await get(app, `http://localhost/s3/ok.jpg${fresh()}`)));
          assert.deepEqual(a, { status: 504, code: 'source_timeout' });
        }
      } finally {
        await proxy.set('pass');
      }
      await recovers(ig);
    },
  );
});

describe('sources returning garbage', () => {
  let folder: Awaited<ReturnType<typeof makeImageFolder>>;
  let origin: http.Server;
  let ig: ImagegateApp;
  before(async () => {
    folder = await makeImageFolder();
    const jpeg = await sharp(path.join(folder.root, 'photo.jpg')).toBuffer();
    writeFileSync(path.join(folder.root, 'random.jpg'), randomBytes(8192));
    writeFileSync(path.join(folder.root, 'half.jpg'), jpeg.subarray(0, Math.floor(jpeg.length / 2)));
    writeFileSync(path.join(folder.root, 'empty.png'), Buffer.alloc(0));
    writeFileSync(path.join(folder.root, 'html.jpg'), '<!doctype html><title>502 Bad Gateway</title>');
    // A JPEG header that claims 60000×60000, and nothing after it.
    const header = Buffer.from(jpeg);
    const sof = header.indexOf(Buffer.from([0xff, 0xc0]));
    header.writeUInt16BE(60000, sof + 5);
    header.writeUInt16BE(60000, sof + 7);
    writeFileSync(path.join(folder.root, 'liar-size.jpg'), header.subarray(0, sof + 20));
    origin = http.createServer((req, res) => {
      if (req.url === '/o/random.jpg') {
        res.writeHead(200, { 'content-type': 'image/jpeg' });
        return res.end(randomBytes(8192));
      }
      if (req.url === '/o/html.jpg') {
        res.writeHead(200, { 'content-type': 'image/jpeg' });
        return res.end('<html>maintenance</html>');
      }
      if (req.url === '/o/page.html') {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        return res.end('<html><script>alert(document.domain)</script></html>');
      }
      if (req.url === '/o/ok.jpg') {
        res.writeHead(200, { 'content-type': 'image/jpeg', etag: '"ok"' });
        return res.end(jpeg);
      }
      res.writeHead(404);
      res.end();
    });
    await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
    const port = (origin.address() as AddressInfo).port;
    ig = await testApp(folder.root, {
      sources: {
        local: { type: 'fs', root: folder.root },
        web: { type: 'http', baseUrl: `http://127.0.0.1:${port}/o/`, allowPrivateNetworks: true },
      },
      routes: [
        { match: 'web/*', source: 'web', key: '{*}' },
        { match: '*', source: 'local' },
      ],
    });
  });
  after(async () => {
    await ig?.close();
    await new Promise((r) => origin.close(r));
    folder.cleanup();
  });

  test('random bytes, HTML, an empty file and a truncated JPEG → 4xx with a code, never a 5xx', async () => {
    const expected: Record<string, number[]> = {
      '/random.jpg': [415],
      '/html.jpg': [415],
      '/empty.png': [415, 422],
      '/liar-size.jpg': [422],
      '/web/random.jpg': [415],
      '/web/html.jpg': [415],
    };
    for (const [p, statuses] of Object.entries(expected)) {
      const a = await answer(await get(ig, `http://localhost${p}?w=40`));
      assert.ok(statuses.includes(a.status), `${p}: ${a.status} ${a.code}`);
      assert.match(a.code ?? '', /^(unsupported_image|corrupt_image|image_too_large)$/, p);
    }
    const half = await answer(await get(ig, 'http://localhost/half.jpg?w=40'));
    assert.ok(half.status === 200 || half.status === 422, `half.jpg: ${half.status}`);
  });

  test('an origin page served as text/html is never passed on as an active type', async () => {
    const res = await get(ig, 'http://localhost/web/page.html');
    assert.equal(res.status, 200);
    const type = res.headers.get('content-type') ?? '';
    assert.doesNotMatch(type, /html|xml|javascript/i, `served as ${type}`);
  });

  test('the service keeps answering after garbage', async () => {
    assert.equal((await get(ig, 'http://localhost/photo.jpg?w=33')).status, 200);
    assert.equal((await get(ig, 'http://localhost/web/ok.jpg?w=33')).status, 200);
  });
});

describe('result cache folder not writable', () => {
  let folder: Awaited<ReturnType<typeof makeImageFolder>>;
  let blocker: string;
  before(async () => {
    folder = await makeImageFolder();
    // A regular file where the cache folder's parent should be: no one, root included, can create it.
    blocker = path.join(mkdtempSync(path.join(tmpdir(), 'imagegate-cachefault-')), 'not-a-folder');
    writeFileSync(blocker, 'x');
  });
  after(() => {
    folder.cleanup();
    rmSync(path.dirname(blocker), { recursive: true, force: true });
  });

  test('every request is still a 200, with the memory tier on and off', async () => {
    for (const memory of [true, false]) {
      const ig = await testApp(folder.root, {
        cache: { memory: { enabled: memory }, persistent: { type: 'fs', dir: path.join(blocker, 'cache') }, persistentBackoffMs: 0 },
      });
      for (let i = 0; i < 3; i++) {
        const res = await get(ig, 'http://localhost/photo.jpg?w=50');
        assert.equal(res.status, 200, `memory ${memory}, request ${i}`);
        const meta = await sharp(Buffer.from(await res.arrayBuffer())).metadata();
        assert.equal(meta.width, 50);
      }
      await ig.close();
    }
  });

  test('a persistent tier that starts failing mid-run does not fail requests, and is used again once it works', async () => {
    const dir = path.join(mkdtempSync(path.join(tmpdir(), 'imagegate-cacheflip-')), 'cache');
    const ig = await testApp(folder.root, { cache: { memory: { enabled: false }, persistent: { type: 'fs', dir }, persistentBackoffMs: 0 } });
    assert.equal((await get(ig, 'http://localhost/photo.jpg?w=51')).status, 200);
    // Replace the cache folder by a file: reads and writes now fail.
    rmSync(dir, { recursive: true, force: true });
    writeFileSync(dir, 'x');
    assert.equal((await get(ig, 'http://localhost/photo.jpg?w=52')).status, 200);
    assert.equal((await get(ig, 'http://localhost/photo.jpg?w=51')).status, 200);
    rmSync(dir, { force: true });
    assert.equal((await get(ig, 'http://localhost/photo.jpg?w=53')).status, 200);
    await ig.close();
    rmSync(path.dirname(dir), { recursive: true, force: true });
  });
});

describe('HTTP origin down', () => {
  test('an origin on a closed port → 502 source_error, never a 404; then recovers on the same app', async () => {
    const folder = await makeImageFolder();
    const port = await freePort();
    const ig = await testApp(folder.root, {
      sources: { web: { type: 'http', baseUrl: `http://127.0.0.1:${port}/`, allowPrivateNetworks: true, timeoutMs: 1000 } },
      routes: [{ match: '*', source: 'web' }],
    });
    assert.deepEqual(await answer(await get(ig, 'http://localhost/a.jpg?w=40')), { status: 502, code: 'source_error' });
    const jpeg = await sharp(path.join(folder.root, 'photo.jpg')).toBuffer();
    const origin = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'image/jpeg', etag: '"a"' });
      res.end(jpeg);
    });
    await new Promise<void>((r) => origin.listen(port, '127.0.0.1', r));
    try {
      assert.equal((await get(ig, 'http://localhost/a.jpg?w=40')).status, 200);
    } finally {
      await ig.close();
      await new Promise((r) => origin.close(r));
      folder.cleanup();
    }
  });
});

describe('Redis (usage store) down', () => {
  const skip = requireCommand('redis-server');
  let redis: RunningService;
  let proxy: FaultProxy;
  let folder: Awaited<ReturnType<typeof makeImageFolder>>;
  let openApp: ImagegateApp;
  let closedApp: ImagegateApp;
  const sent = { open: 0, closed: 0 };

  before(async () => {
    if (skip) return;
    redis = await startRedis();
    // The outage is a proxy that stops listening: Redis itself keeps its data throughout.
    proxy = new FaultProxy(redis.port);
    await proxy.start();
    folder = await makeImageFolder();
    const cfg = (onUnavailable: 'failOpen' | 'failClosed') => ({
      keys: [
        { id: 'open-key', sha256: sha256hex(TEST_KEY), plan: 'p' },
        { id: 'closed-key', sha256: sha256hex(OTHER_KEY), plan: 'p' },
      ],
      plans: { p: { rate: 1000, burst: 1000, quota: { limit: 100_000, period: 'day' } } },
      // One store round trip per request (no leases), so the outage shows at the very next one.
      usage: { store: 'redis', url: proxy.url, prefix: 'sec-faults:', onUnavailable, flushIntervalMs: 0, commandTimeoutMs: 300, lease: { maxUnits: 1 } },
    });
    openApp = await testApp(folder.root, cfg('failOpen'));
    closedApp = await testApp(folder.root, cfg('failClosed'));
  });
  after(async () => {
    await openApp?.close();
    await closedApp?.close();
    await proxy?.stop();
    await redis?.stop();
    folder?.cleanup();
  });

  const hit = async (which: 'open' | 'closed') => {
    sent[which]++;
    const app = which === 'open' ? openApp : closedApp;
    return answer(await app.app.request('http://localhost/photo.jpg?w=30', { headers: { 'X-API-Key': which === 'open' ? TEST_KEY : OTHER_KEY } }));
  };
  const requestsRecorded = async (keyId: string): Promise<number> => {
    const res = await openApp.app.request(`http://localhost/_admin/usage?key=${keyId}`, { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(res.status, 200, 'admin usage report');
    return ((await res.json()) as { totals: { requests: number } }).totals.requests;
  };
  const eventually = async (check: () => Promise<boolean>, what: string) => {
    for (let i = 0; i < 150; i++) {
      if (await check()) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.fail(`${what}: not within 15 s`);
  };

  test(
    'failOpen serves, failClosed answers 503; both recover; every request is counted exactly once',
    { skip },
    async () => {
    for (let i = 0; i < 3; i++) {
      assert.equal((await hit('open')).status, 200);
      assert.equal((await hit('closed')).status, 200);
    }
    await proxy.set('closed');
    assert.deepEqual(await hit('closed'), { status: 503, code: 'usage_store_unavailable' });
    for (let i = 0; i < 4; i++) assert.equal((await hit('open')).status, 200, 'failOpen keeps serving');
    await proxy.set('pass');
    await eventually(async () => (await hit('closed')).status === 200, 'failClosed serves again');
    await eventually(async () => (await hit('open')).status === 200, 'failOpen serves');
    // Counted once: the totals reach the number of requests sent and stay there.
    await eventually(async () => (await requestsRecorded('open-key')) >= sent.open, 'failOpen usage written after recovery');
    await eventually(async () => (await requestsRecorded('closed-key')) >= sent.closed, 'failClosed usage written');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(await requestsRecorded('open-key'), sent.open, 'failOpen: counted once, not twice');
    assert.equal(await requestsRecorded('closed-key'), sent.closed, 'failClosed: counted once, not twice');
    },
  );
});
