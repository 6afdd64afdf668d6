/**
 * The Node server's listener (src/http/node.ts): image requests (GET and HEAD outside /_) run the
 * image route on a context built over the IncomingMessage and are written from the parts the
 * route built, never through `app.fetch`; everything else goes through Hono as before. The
 * answers are the ones `app.fetch` gives, and the request's bookkeeping runs after the answer
 * was written.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { makeImageFolder, testApp, TEST_KEY } from '../helpers/app.ts';
import { nodeListener } from '../../src/http/node.ts';
import type { ImagegateApp } from '../../src/http/app.ts';

interface Answer {
  status: number;
  headers: Record<string, string>;
  /** Header names as written on the wire, in order. */
  rawNames: string[];
  body: Buffer;
}

function request(base: string, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}${path}`, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode!,
          headers: res.headers as Record<string, string>,
          rawNames: res.rawHeaders.filter((_, i) => i % 2 === 0),
          body: Buffer.concat(chunks),
        }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

/** The headers that do not change per request or per second, lower-cased. */
function stable(h: Record<string, string> | Headers): Record<string, string> {
  const entries = h instanceof Headers ? [...h] : Object.entries(h);
  const out: Record<string, string> = {};
  for (const [k, v] of entries) if (!['x-request-id', 'date', 'connection', 'keep-alive'].includes(k.toLowerCase())) out[k.toLowerCase()] = v;
  return out;
}

describe('Node listener', () => {
  let folder: Awaited<ReturnType<typeof makeImageFolder>>;
  let ig: ImagegateApp;
  let server: http.Server;
  let base: string;
  /** Requests that went through `app.fetch`. */
  const viaFetch: string[] = [];
  /** Per request path: whether the response had ended when its usage record was taken. */
  const endedAtRecord: boolean[] = [];
  let current: ServerResponse | undefined;

  before(async () => {
    folder = await makeImageFolder();
    ig = await testApp(folder.root);
    const fetch = ig.app.fetch;
    ig.app.fetch = (req: Request, ...rest: unknown[]) => {
      viaFetch.push(new URL(req.url).pathname);
      return (fetch as (...a: unknown[]) => Response | Promise<Response>)(req, ...rest);
    };
    const record = ig.usage.record.bind(ig.usage);
    ig.usage.record = (key, delta) => {
      endedAtRecord.push(current?.writableEnded === true);
      record(key, delta);
    };
    const listener = nodeListener(ig);
    server = http.createServer((req: IncomingMessage, res: ServerResponse) => {
      current = res;
      if (req.headers['x-refuse-headers']) {
        // As node:http refuses a header value it cannot send: the first writeHead throws.
        const writeHead = res.writeHead;
        let refused = false;
        res.writeHead = function (this: ServerResponse, ...args: unknown[]) {
          if (!refused) {
            refused = true;
            throw new TypeError('Invalid character in header content');
          }
          return (writeHead as (...a: unknown[]) => ServerResponse).apply(this, args);
        } as typeof res.writeHead;
      }
      listener(req, res);
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise((done) => server.close(done));
    await ig.close();
    folder.cleanup();
  });

  test('image requests never go through app.fetch, and answer what app.fetch answers', async () => {
    const key = { 'X-API-Key': TEST_KEY };
    const url = '/photo.jpg?w=64&fm=webp';
    const miss = await request(base, url, key);
    const hit = await request(base, url, key);
    const head = await request(base, url, key, 'HEAD');
    const original = await request(base, '/photo.jpg', key);
    const refused = await request(base, url);
    const missing = await request(base, '/nothing.jpg', key);
    assert.deepEqual(viaFetch, [], 'no image request reached app.fetch');

    const fetched = await ig.app.request(url, { headers: key });
    const fetchedBody = Buffer.from(await fetched.arrayBuffer());
    assert.equal(miss.status, 200);
    assert.ok(miss.body.equals(fetchedBody) && hit.body.equals(fetchedBody));
    assert.deepEqual(stable(hit.headers), stable(fetched.headers));
    assert.deepEqual(stable(miss.headers), stable(fetched.headers));
    // The parts respond() built are written as they are: the header names keep their case.
    assert.ok(hit.rawNames.includes('ETag') && hit.rawNames.includes('Content-Length'), hit.rawNames.join());

    // HEAD: the GET's headers (its length included), no body, from the same chain.
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
    assert.deepEqual(stable(head.headers), stable(fetched.headers));
    assert.ok(head.rawNames.includes('ETag'), 'a HEAD hit is written from its parts too');

    // Answers that are not plain parts go through the adapter: a streamed original, the errors.
    assert.equal(original.status, 200);
    assert.equal(original.headers['content-type'], 'image/jpeg');
    assert.equal(original.body.length, Number(original.headers['content-length']));
    assert.equal(refused.status, 403);
    assert.deepEqual(JSON.parse(refused.body.toString()), { message: 'Forbidden' });
    assert.equal(missing.status, 404);
    assert.equal(JSON.parse(missing.body.toString()).code, 'not_found');
  });

  test('every other request goes through Hono: /_ paths (also percent-encoded), other methods', async () => {
    viaFetch.length = 0;
    assert.equal((await request(base, '/_health')).status, 200);
    assert.equal((await request(base, '/%5Fhealth')).status, 200);
    const post = await request(base, '/photo.jpg', { 'X-API-Key': TEST_KEY }, 'POST');
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, 'GET, HEAD');
    assert.deepEqual(viaFetch, ['/_health', '/%5Fhealth', '/photo.jpg']);
  });

  test('a throw the chain did not answer (sync or async) is a 500 with the app\'s error body', async () => {
    const catchAll = ig.catchAll;
    try {
      for (const fail of [() => { throw 'boom'; }, () => Promise.reject(new Error('late'))]) {
        ig.catchAll = fail as typeof ig.catchAll;
        const res = await request(base, '/photo.jpg?w=16', { 'X-API-Key': TEST_KEY });
        assert.equal(res.status, 500);
        assert.deepEqual(JSON.parse(res.body.toString()), { message: 'Internal server error', code: 'internal_error' });
      }
    } finally {
      ig.catchAll = catchAll;
    }
    assert.equal((await request(base, '/photo.jpg?w=16', { 'X-API-Key': TEST_KEY })).status, 200);
    // An answer node:http will not write: a 500, and the server goes on.
    const refused = await request(base, '/photo.jpg?w=16', { 'X-API-Key': TEST_KEY, 'X-Refuse-Headers': '1' });
    assert.equal(refused.status, 500);
    assert.equal(JSON.parse(refused.body.toString()).code, 'internal_error');
    assert.equal((await request(base, '/photo.jpg?w=16', { 'X-API-Key': TEST_KEY })).status, 200);
  });

  test('a cache hit is written before its usage record is taken', async () => {
    const url = '/photo.jpg?w=32';
    await request(base, url, { 'X-API-Key': TEST_KEY });
    endedAtRecord.length = 0;
    await request(base, url, { 'X-API-Key': TEST_KEY });
    await request(base, url, { 'X-API-Key': TEST_KEY }, 'HEAD');
    assert.deepEqual(endedAtRecord, [true, true]);
  });
});
