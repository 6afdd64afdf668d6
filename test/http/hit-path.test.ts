/**
 * The image route's chain (src/http/chain.ts): a cache hit whose every layer answers at once is
 * answered synchronously by `app.fetch`, with the same status, headers and body as the answers
 * that had to wait, and with the same records: the access decision, one usage record, the
 * metrics and one request log line per request.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { Hono, type Context } from 'hono';
import pino from 'pino';
import { makeImageFolder, testApp, TEST_KEY } from '../helpers/app.ts';
import { sha256hex } from '../../src/auth/keys.ts';
import { LOG_SETTINGS } from '../../src/log.ts';
import { chain, type Layer } from '../../src/http/chain.ts';
import type { AppEnv } from '../../src/http/context.ts';
import { signTarget } from '../../src/request/signature.ts';
import type { ImagegateApp } from '../../src/http/app.ts';
import type { UsageCounters } from '../../src/usage/types.ts';

/** The app's answer as it comes: a Response when answered synchronously, else a promise. */
function fetchNow(ig: ImagegateApp, url: string, headers: Record<string, string> = {}, method = 'GET'): Response | Promise<Response> {
  return ig.app.fetch(new Request(`http://localhost${url}`, { method, headers }));
}

/** Every header but the request id, lower-cased, sorted. */
function headersOf(res: Response): Array<[string, string]> {
  return [...res.headers].filter(([k]) => k !== 'x-request-id').sort();
}

function captureLog() {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info', ...LOG_SETTINGS }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  return { logger, lines };
}

function metric(text: string, name: string, labels: Record<string, string>): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.split(' ').at(-1));
  }
  return 0;
}

describe('cache-hit path', () => {
  let folder: Awaited<ReturnType<typeof makeImageFolder>>;
  before(async () => {
    folder = await makeImageFolder();
  });
  after(() => folder.cleanup());

  test('a memory hit is answered synchronously, with the headers and bytes of the rendered answer, and recorded as every request is', async () => {
    const log = captureLog();
    const ig = await testApp(folder.root, { server: { logLevel: 'info' } }, { logger: log.logger });
    const records: Array<[string, Partial<UsageCounters>]> = [];
    const record = ig.usage.record.bind(ig.usage);
    ig.usage.record = (key, delta) => {
      records.push([key, { ...delta }]);
      record(key, delta);
    };
    try {
      const url = '/photo.jpg?w=40&auto=format&ch=Width,DPR';
      const headers = { 'X-API-Key': TEST_KEY, Accept: 'image/webp,*/*', 'Sec-CH-Width': '120' };
      const first = fetchNow(ig, url, headers);
      assert.ok(first instanceof Promise, 'a render has to wait');
      const miss = await first;
      assert.equal(miss.status, 200);
      const missBody = Buffer.from(await miss.arrayBuffer());

      const hits: Response[] = [];
      for (let i = 0; i < 3; i++) {
        const res = fetchNow(ig, url, headers);
        assert.ok(res instanceof Response, 'a memory hit is answered at once');
        hits.push(res);
      }
      for (const hit of hits) {
        assert.equal(hit.status, 200);
        assert.deepEqual(headersOf(hit), headersOf(miss));
        assert.ok(Buffer.from(await hit.arrayBuffer()).equals(missBody));
        assert.match(hit.headers.get('x-request-id') ?? '', /^[a-z0-9]+-[a-z0-9]+$/);
      }
      assert.equal(miss.headers.get('vary'), 'Accept, Sec-CH-DPR, DPR, Sec-CH-Width, Width');
      assert.equal(miss.headers.get('accept-ch'), 'Sec-CH-DPR, DPR, Sec-CH-Width, Width');

      // A conditional request: 304 at once (before any cache lookup), with the same validators.
      const etag = miss.headers.get('etag')!;
      const notModified = fetchNow(ig, url, { ...headers, 'If-None-Match': etag });
      assert.ok(notModified instanceof Response);
      assert.equal(notModified.status, 304);
      assert.equal(notModified.headers.get('etag'), etag);
      assert.equal(notModified.headers.get('vary'), miss.headers.get('vary'));

      // Auth still decides each request: an unknown key is refused, at once too.
      const refused = await fetchNow(ig, url, { ...headers, 'X-API-Key': `${TEST_KEY}x` });
      assert.equal(refused.status, 403);
      assert.deepEqual(await refused.json(), { message: 'Forbidden' });
      assert.equal((await fetchNow(ig, url, { Accept: 'image/webp' })).status, 403);

      // One usage record per keyed request: the miss, three hits, the 304; none for the refusals.
      const len = missBody.length;
      assert.deepEqual(records, [
        ['test', { transformations: 1, requests: 1, bytes: len, s2xx: 1 }],
        ...Array.from({ length: 3 }, () => ['test', { cacheHits: 1, requests: 1, bytes: len, s2xx: 1 }]),
        ['test', { requests: 1, bytes: 0, s3xx: 1 }],
      ]);

      const text = await (await ig.internal.request('/_metrics')).text();
      assert.equal(metric(text, 'imagegate_http_requests_total', { route: 'image', cache: 'memory', status: '200' }), 3);
      assert.equal(metric(text, 'imagegate_http_requests_total', { route: 'image', cache: 'none', status: '304' }), 1);
      assert.equal(metric(text, 'imagegate_http_requests_total', { route: 'image', cache: 'miss', status: '200' }), 1);
      assert.equal(metric(text, 'imagegate_cache_lookups_total', { tier: 'memory', result: 'hit' }), 3);
      // The miss looks up its result, and the render its original's master: two misses, as before.
      assert.equal(metric(text, 'imagegate_cache_lookups_total', { tier: 'memory', result: 'miss' }), 2);

      const requestLines = log.lines.filter((l) => l.msg === 'request' && l.path === '/photo.jpg');
      assert.deepEqual(
        requestLines.map((l) => [l.status, l.cache, l.keyId, l.query]),
        [
          [200, undefined, 'test', 'w=40&auto=format&ch=Width,DPR'],
          [200, 'memory', 'test', 'w=40&auto=format&ch=Width,DPR'],
          [200, 'memory', 'test', 'w=40&auto=format&ch=Width,DPR'],
          [200, 'memory', 'test', 'w=40&auto=format&ch=Width,DPR'],
          [304, undefined, 'test', 'w=40&auto=format&ch=Width,DPR'],
          [403, undefined, undefined, 'w=40&auto=format&ch=Width,DPR'],
          [403, undefined, undefined, 'w=40&auto=format&ch=Width,DPR'],
        ],
      );
    } finally {
      await ig.close();
    }
  });

  test("a plan's rate-limit fields, CORS and a public source: the hit carries what the miss carried", async () => {
    const ig = await testApp(folder.root, {
      sources: {
        local: { type: 'fs', root: folder.root, cors: { origins: ['https://a.example'] } },
        open: { type: 'fs', root: folder.root, access: 'public' },
      },
      routes: [
        { match: 'open/*', source: 'open', key: '{*}' },
        { match: '*', source: 'local' },
      ],
      plans: { small: { rate: 100, burst: 50, quota: { limit: 1000, period: 'day' } } },
      keys: [{ id: 'test', sha256: sha256hex(TEST_KEY), plan: 'small' }],
    });
    try {
      const cases: Array<[string, Record<string, string>]> = [
        ['/photo.jpg?w=41&auto=format', { 'X-API-Key': TEST_KEY, Origin: 'https://a.example', Accept: 'image/webp' }],
        ['/open/photo.jpg?w=42', {}],
      ];
      for (const [url, headers] of cases) {
        const miss = await fetchNow(ig, url, headers);
        assert.equal(miss.status, 200, url);
        const hit = await fetchNow(ig, url, headers);
        assert.equal(hit.status, 200, url);
        // The rate-limit fields count down: compare them apart.
        const strip = (h: Array<[string, string]>) => h.filter(([k]) => k !== 'ratelimit');
        assert.deepEqual(strip(headersOf(hit)), strip(headersOf(miss)), url);
      }
      const now = fetchNow(ig, cases[0][0], cases[0][1]);
      assert.ok(now instanceof Response, 'a keyed hit whose plan the memory store checks is answered at once');
      const keyed = await now;
      assert.equal(keyed.headers.get('access-control-allow-origin'), 'https://a.example');
      assert.equal(keyed.headers.get('vary'), 'Accept, Origin');
      assert.equal(keyed.headers.get('ratelimit-policy'), '"burst";q=50;w=1, "day";q=1000;w=86400');
      assert.match(keyed.headers.get('ratelimit') ?? '', /"day";r=997;/);
      const open = await fetchNow(ig, cases[1][0]);
      assert.ok(open instanceof Response, 'an anonymous hit on a public source without a plan is answered at once');
      assert.equal(open.headers.get('cache-control'), 'public, max-age=31536000');
    } finally {
      await ig.close();
    }
  });

  test('a watermarked URL: the hit is answered at once while the mark\'s metadata is known', async () => {
    const ig = await testApp(folder.root, { cache: { sourceMetaTtlMs: 60_000 } });
    const mark = path.join(folder.root, 'mark.png');
    try {
      await sharp({ create: { width: 20, height: 20, channels: 4, background: '#ff000080' } }).png().toFile(mark);
      const url = '/photo.jpg?w=45&mark=/mark.png';
      const headers = { 'X-API-Key': TEST_KEY };
      const miss = await fetchNow(ig, url, headers);
      assert.equal(miss.status, 200);
      const hit = fetchNow(ig, url, headers);
      assert.ok(hit instanceof Response, 'a watermarked hit is answered at once');
      assert.equal(hit.headers.get('etag'), miss.headers.get('etag'));
    } finally {
      await ig.close();
      rmSync(mark, { force: true });
    }
  });

  test('a URL signed with its source\'s token: the hit is answered at once, and a tampered one still gets 403', async () => {
    const token = 'hit-path-signing-token';
    const ig = await testApp(folder.root, {
      sources: { ix: { type: 'fs', root: folder.root, access: 'signed', signing: { token } } },
      routes: [{ match: 'ix/*', source: 'ix', key: '{*}' }],
    });
    try {
      const url = signTarget('/ix/photo.jpg?w=43', token);
      assert.equal((await fetchNow(ig, url)).status, 200);
      const hit = fetchNow(ig, url);
      assert.ok(hit instanceof Response, 'a signed hit is answered at once');
      assert.equal(hit.status, 200);
      const tampered = await fetchNow(ig, url.replace('w=43', 'w=44'));
      assert.equal(tampered.status, 403);
    } finally {
      await ig.close();
    }
  });
});

describe('chain', () => {
  /** A chain as one Hono handler, with the layers' order and what each saw after the rest. */
  function app(layers: Layer[], seen: string[]) {
    const h = new Hono<AppEnv>();
    const handler = chain(layers, (err, c) => {
      seen.push(`onError ${err.message}`);
      return c.json({ message: err.message }, 418);
    });
    h.all('*', handler);
    return h;
  }
  const around =
    (name: string, seen: string[], wait = false): Layer =>
    (c, next) => {
      seen.push(`${name} before`);
      const after = () => void seen.push(`${name} after ${c.res.status}${c.error ? ` (${c.error.message})` : ''}`);
      if (wait) return (async () => {
        await new Promise((r) => setTimeout(r, 1));
        await next();
        after();
      })();
      const rest = next();
      if (rest instanceof Promise) return rest.then(after);
      after();
    };

  test('layers run in order and finish in reverse; all synchronous, the response is returned synchronously', () => {
    const seen: string[] = [];
    const res = app([around('a', seen), around('b', seen), (c: Context<AppEnv>) => c.text('ok', 201)], seen).fetch(new Request('http://x/p'));
    assert.ok(res instanceof Response);
    assert.equal(res.status, 201);
    assert.deepEqual(seen, ['a before', 'b before', 'b after 201', 'a after 201']);
  });

  test('one layer that waits makes the answer a promise; the layers outside it still finish after it', async () => {
    const seen: string[] = [];
    const res = app([around('a', seen), around('b', seen, true), (c: Context<AppEnv>) => c.text('ok')], seen).fetch(new Request('http://x/p'));
    assert.ok(res instanceof Promise);
    assert.equal((await res).status, 200);
    assert.deepEqual(seen, ['a before', 'b before', 'b after 200', 'a after 200']);
  });

  test("an Error thrown or rejected is answered by onError where it happens, and the outer layers see that answer (Hono's compose)", async () => {
    for (const fail of [
      (): Response => {
        throw new Error('thrown');
      },
      async (): Promise<Response> => {
        throw new Error('rejected');
      },
    ]) {
      const seen: string[] = [];
      const res = await app([around('a', seen), around('b', seen), fail as Layer], seen).fetch(new Request('http://x/p'));
      assert.equal(res.status, 418);
      const message = (await res.json()).message;
      assert.deepEqual(seen, ['a before', 'b before', `onError ${message}`, `b after 418 (${message})`, `a after 418 (${message})`]);
    }
    // Thrown by a middleware before its `next`: the layers inside it never run.
    const seen: string[] = [];
    const res = await app(
      [
        around('a', seen),
        () => {
          throw new Error('refused');
        },
        around('never', seen),
      ],
      seen,
    ).fetch(new Request('http://x/p'));
    assert.equal(res.status, 418);
    assert.deepEqual(seen, ['a before', 'onError refused', 'a after 418 (refused)']);
  });
});
