import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import {
  buildUrl,
  fetchImage,
  ImagegateError,
  PARAMETER_NAMES,
  retryAfterMs,
  signTarget,
  srcset,
  widthLadder,
  type ImageParams,
} from '../../src/client/index.ts';
import { generate, generatedFiles, GENERATED_FILE } from '../../src/client/generate.ts';
import { PARAMETERS } from '../../src/request/parameters.ts';

describe('buildUrl', () => {
  test('path segments encoded, values kept readable, base URL prefix kept', () => {
    const url = buildUrl('/photos/a b.jpg', { w: 400, fit: 'crop', crop: ['top', 'left'], rect: [0, 0, 100, 50] }, { baseUrl: 'https://img.example.com/dev/' });
    assert.equal(url, 'https://img.example.com/dev/photos/a%20b.jpg?w=400&fit=crop&crop=top,left&rect=0,0,100,50');
  });

  test('relative target without baseUrl; undefined values skipped; booleans spelled out', () => {
    assert.equal(buildUrl('x.png', { w: undefined, invert: true, q: 50 }), '/x.png?invert=true&q=50');
    assert.equal(buildUrl('x.png'), '/x.png');
  });

  test('…64 parameters are base64url-encoded for the caller', () => {
    const url = buildUrl('x.png', { txt64: 'Héllo, wörld?' });
    const value = new URL(url, 'http://h').searchParams.get('txt64')!;
    assert.match(value, /^[A-Za-z0-9_-]+$/);
    assert.equal(Buffer.from(value, 'base64url').toString('utf8'), 'Héllo, wörld?');
  });

  test("imgix's published signature vectors (token FOO123bar)", () => {
    const token = 'FOO123bar';
    assert.equal(buildUrl('/users/1.png', {}, { signWith: token }), '/users/1.png?s=6797c24146142d5b40bde3141fd3600c');
    assert.equal(buildUrl('/users/1.png', { w: 400, h: 300 }, { signWith: token }), '/users/1.png?w=400&h=300&s=c7b86f666a832434dd38577e38cf86d1');
    assert.equal(buildUrl('/users/1.png', { h: 300, w: 400 }, { signWith: { token } }), '/users/1.png?h=300&w=400&s=1a4e48641614d1109c6a7af51be23d18');
    assert.equal(
      buildUrl('http://avatars.com/john-smith.png', {}, { signWith: token }),
      '/http%3A%2F%2Favatars.com%2Fjohn-smith.png?s=493a52f008c91416351f8b33d4883135',
    );
    assert.equal(signTarget('/users/1.png?w=400&h=300', token), '/users/1.png?w=400&h=300&s=c7b86f666a832434dd38577e38cf86d1');
  });

  test('signing covers the stage prefix of baseUrl and puts expires before s', () => {
    const url = buildUrl('a.jpg', { w: 10 }, { baseUrl: 'http://h:1/dev', signWith: { token: 't', expires: new Date(2_000_000_000_000) } });
    const target = url.slice('http://h:1'.length);
    assert.match(target, /^\/dev\/a\.jpg\?w=10&expires=2000000000&s=[0-9a-f]{32}$/);
    assert.equal(signTarget(target.replace(/&s=.*$/, ''), 't'), target);
  });

  test('parameter names are typed from the table (compile-time checks)', () => {
    // @ts-expect-error an unknown parameter name is a type error
    const bad: ImageParams = { wdith: 100 };
    // @ts-expect-error a keyword outside the table's values is a type error
    const badFit: ImageParams = { fit: 'stretch' };
    const ok: ImageParams = { w: 100, width: 100, 'fp-x': 0.5, auto: ['format', 'compress'], chromasub: 444, orient: 90 };
    assert.ok(bad && badFit && ok);
  });
});

describe('generated parameter types', () => {
  test('parameters.generated.ts and the generated doc sections are up to date with the server table', () => {
    assert.equal(readFileSync(GENERATED_FILE, 'utf8'), generate(), 'run: node --import tsx src/client/generate.ts');
    const files = generatedFiles();
    assert.equal(files.length, 3, 'the client types, docs/url-api.md and docs/migrate.md');
    for (const { file, text } of files) assert.equal(readFileSync(file, 'utf8'), text, `${file} is stale: node --import tsx src/client/generate.ts`);
  });

  test('every table parameter but the signature is a client name', () => {
    const expected = PARAMETERS.filter((p) => p.type !== 'signature').map((p) => p.name);
    assert.deepEqual([...PARAMETER_NAMES], expected);
    assert.ok(PARAMETER_NAMES.includes('w') && PARAMETER_NAMES.includes('mark-align'));
  });
});

describe('srcset', () => {
  test('width descriptors by default, from the imgix ladder', () => {
    const ladder = widthLadder();
    assert.equal(ladder[0], 100);
    assert.equal(ladder.at(-1), 8192);
    assert.ok(ladder.every((w, i) => i === 0 || w > ladder[i - 1]));
    const set = srcset('p.jpg', { widths: [320, 640], params: { fm: 'webp' }, baseUrl: 'https://i.example' });
    assert.equal(set, 'https://i.example/p.jpg?fm=webp&w=320 320w,\nhttps://i.example/p.jpg?fm=webp&w=640 640w');
  });

  test('DPR descriptors with variable quality when the width is fixed', () => {
    const set = srcset('p.jpg', { params: { w: 300 }, dprs: [1, 2] });
    assert.equal(set, '/p.jpg?w=300&dpr=1&q=75 1x,\n/p.jpg?w=300&dpr=2&q=50 2x');
    const fixedQ = srcset('p.jpg', { params: { w: 300, q: 90 }, dprs: [3] });
    assert.equal(fixedQ, '/p.jpg?w=300&q=90&dpr=3 3x');
  });
});

describe('retryAfterMs', () => {
  test('seconds and HTTP dates', () => {
    assert.equal(retryAfterMs('2'), 2000);
    assert.equal(retryAfterMs('Thu, 01 Jan 2026 00:00:10 GMT', Date.parse('Thu, 01 Jan 2026 00:00:00 GMT')), 10_000);
    assert.equal(retryAfterMs(null), undefined);
    assert.equal(retryAfterMs('soon'), undefined);
  });
});

describe('fetchImage against a scripted HTTP server', () => {
  async function withServer(
    handler: (req: IncomingMessage, res: ServerResponse, n: number) => void,
    fn: (base: string, seen: IncomingMessage[]) => Promise<void>,
  ) {
    const seen: IncomingMessage[] = [];
    const srv = createServer((req, res) => {
      seen.push(req);
      handler(req, res, seen.length);
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    try {
      await fn(`http://127.0.0.1:${(srv.address() as AddressInfo).port}`, seen);
    } finally {
      await new Promise((r) => srv.close(r));
    }
  }

  test('sends X-API-Key, retries 429 and 503 honouring Retry-After, returns bytes and type', async () => {
    await withServer(
      (_req, res, n) => {
        if (n === 1) return res.writeHead(429, { 'Retry-After': '0', 'Content-Type': 'application/json' }).end('{"message":"slow down"}');
        if (n === 2) return res.writeHead(503, { 'Retry-After': '0' }).end();
        res.writeHead(200, { 'Content-Type': 'image/png' }).end(Buffer.from([1, 2, 3]));
      },
      async (base, seen) => {
        const img = await fetchImage('/a.png', { baseUrl: base, params: { w: 5 }, apiKey: 'k-123' });
        assert.equal(img.status, 200);
        assert.equal(img.contentType, 'image/png');
        assert.deepEqual([...img.bytes], [1, 2, 3]);
        assert.equal(img.attempts, 3);
        assert.equal(seen.length, 3);
        assert.ok(seen.every((r) => r.headers['x-api-key'] === 'k-123' && r.url === '/a.png?w=5'));
      },
    );
  });

  test('the wait is bounded by maxRetryDelayMs, and the last failure throws with the code', async () => {
    await withServer(
      (_req, res) => res.writeHead(429, { 'Retry-After': '3600', 'Content-Type': 'application/json' }).end('{"message":"quota used up","code":"quota_exceeded"}'),
      async (base, seen) => {
        const err = await fetchImage(`${base}/a.png`, { retries: 2, maxRetryDelayMs: 5 }).catch((e) => e);
        assert.ok(err instanceof ImagegateError);
        assert.equal(err.status, 429);
        assert.equal(err.code, 'quota_exceeded');
        assert.equal(err.message, 'quota used up');
        assert.equal(seen.length, 3);
      },
    );
  });

  test('other errors are not retried', async () => {
    await withServer(
      (_req, res) => res.writeHead(403, { 'Content-Type': 'application/json' }).end('{"message":"Forbidden"}'),
      async (base, seen) => {
        await assert.rejects(fetchImage(`${base}/a.png`), (e: ImagegateError) => e.status === 403 && e.message === 'Forbidden');
        assert.equal(seen.length, 1);
      },
    );
  });

  test('an abort during the retry wait rejects', async () => {
    await withServer(
      (_req, res) => res.writeHead(503, { 'Retry-After': '30' }).end(),
      async (base) => {
        const ac = new AbortController();
        const p = fetchImage(`${base}/a.png`, { signal: ac.signal, maxRetryDelayMs: 60_000 });
        setTimeout(() => ac.abort(new Error('stop')), 50);
        await assert.rejects(p, /stop/);
      },
    );
  });
});
