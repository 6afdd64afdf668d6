/**
 * Signatures are checked over the bytes as sent: URLs signed by imgix's own JavaScript client
 * (`@imgix/js-core`) with awkward characters, with and without `ixlib`, sent over a real socket
 * to the Node server (raw request lines through node:http, which sends the path as given) with
 * any Host header, and as Lambda events (API Gateway REST payload 1.0, HTTP API payload 2.0).
 * Dot segments are refused before anything folds them, and `expires` holds on every URL with
 * imgix's status, no cache keeping the answer past it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { copyFileSync } from 'node:fs';
import path from 'node:path';
import imgixJsCore from '@imgix/js-core';
import sharp from 'sharp';
import { createApp } from '../../src/http/app.ts';
import { createLambdaHandler, type HttpApiEvent, type LambdaResult, type RestApiEvent } from '../../src/lambda.ts';
import { createLogger } from '../../src/log.ts';
import { startServer, type RunningServer } from '../../src/server.ts';
import { makeImageFolder, testConfig, TEST_KEY } from '../helpers/app.ts';

// The package is CommonJS (`module.exports = ImgixClient`) while its types declare a default export.
const ImgixClient = imgixJsCore as unknown as typeof imgixJsCore.default;

const TOKEN = 'raw-sign-token-5d1c9e7a3b2f';
const HOSTS = ['img.example.com', 'Img.Example.COM', 'IMG.EXAMPLE.COM:8443', '127.0.0.1:1'];
/** Files named with characters clients and proxies like to rewrite. */
const NAMES = ['photo.jpg', 'a b.jpg', "it's!(x)*.jpg", 'a+b.jpg', 'café ü 写真.jpg'];
/** Parameter values likewise: `'`, `!`, `*`, `(`, `)`, `+`, spaces, unicode, `%2F` and `/`. */
const TXT = "it's (1)! *ok* + 50% a/b %2F 写真 ✓";

interface Sent {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** GET over a real socket; `target` goes on the request line byte for byte. */
function send(port: number, target: string, headers: Record<string, string> = {}): Promise<Sent> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: target, method: 'GET', headers: { 'X-API-Key': TEST_KEY, ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Path and query of a URL, as written (never through `new URL()`). */
function targetOf(url: string): string {
  return url.replace(/^https?:\/\/[^/]+/, '');
}

const codeOf = (body: Buffer | string) => JSON.parse(body.toString()).code as string;
const widthOf = async (body: Buffer) => (await sharp(body).metadata()).width;

/** Seconds of freshness a Cache-Control value allows, per directive. */
function lifetimes(cc: string | undefined): Record<string, number> {
  return Object.fromEntries([...(cc ?? '').matchAll(/(max-age|s-maxage|stale-while-revalidate|stale-if-error)=(\d+)/g)].map((m) => [m[1]!, Number(m[2])]));
}

let folder: Awaited<ReturnType<typeof makeImageFolder>>;
let server: RunningServer;
let handler: ReturnType<typeof createLambdaHandler>;

before(async () => {
  folder = await makeImageFolder();
  for (const name of NAMES.slice(1)) copyFileSync(path.join(folder.root, 'photo.jpg'), path.join(folder.root, name));
  // `afterBasePath`: js-core signs the path without any stage (there is no base path here).
  const config = testConfig(folder.root, {
    sources: {
      signed: { type: 'fs', root: folder.root, signing: { token: TOKEN, path: 'afterBasePath' } },
      open: { type: 'fs', root: folder.root, cacheControl: 'public, max-age=86400, s-maxage=31536000, stale-while-revalidate=600' },
    },
    routes: [
      { match: 'open/*', source: 'open', key: '{*}' },
      { match: '*', source: 'signed' },
    ],
  });
  server = await startServer(config, { port: 0, host: '127.0.0.1' }, { logger: createLogger('silent') });
  handler = createLambdaHandler(() => createApp(config, { logger: createLogger('silent') }));
});

after(async () => {
  await server?.close();
  folder?.cleanup();
});

/** Every signed URL of the matrix: each file, with and without `ixlib`, with awkward parameters. */
function signedUrls(): { name: string; url: string; w: number }[] {
  const out: { name: string; url: string; w: number }[] = [];
  for (const includeLibraryParam of [true, false]) {
    const client = new ImgixClient({ domain: 'img.example.com', secureURLToken: TOKEN, includeLibraryParam });
    NAMES.forEach((name, i) => {
      const w = 40 + i;
      out.push({ name, w, url: client.buildURL(`/${name}`, { w, txt: TXT, 'x-note': "a/b%2Fc (d)+e!*'" }) });
      out.push({ name, w: 640, url: client.buildURL(`/${name}`, {}) });
    });
  }
  return out;
}

describe('Node server: signatures over the request line as sent', () => {
  test('js-core URLs with awkward characters verify under any Host, with and without ixlib, and render what they say', async () => {
    const urls = signedUrls();
    assert.ok(urls.some((u) => u.url.includes("'") && u.url.includes('%')), 'the matrix has the case the URL parser re-escapes');
    for (const { name, url, w } of urls) {
      for (const host of HOSTS) {
        const res = await send(server.port, targetOf(url), { Host: host });
        assert.equal(res.status, 200, `${name} via Host ${host}: ${url} → ${res.body.toString().slice(0, 120)}`);
        assert.equal(await widthOf(res.body), w, url);
      }
    }
  });

  test('a changed byte is refused: the signature covers the bytes, not a decoding of them', async () => {
    const client = new ImgixClient({ domain: 'img.example.com', secureURLToken: TOKEN });
    const target = targetOf(client.buildURL('/a b.jpg', { w: 50, txt: "it's" }));
    assert.equal((await send(server.port, target)).status, 200);
    // The same request, spelled the way `new URL()` would rebuild it: `'` → `%27`.
    for (const respelled of [target.replace("'", '%27'), target.replace('%20', '+'), target.replace('w=50', 'w=51'), target.replace('/a%20b', '/a%20B')]) {
      assert.notEqual(respelled, target);
      const res = await send(server.port, respelled, { Host: 'Img.Example.com' });
      assert.equal(res.status, 403, respelled);
      assert.equal(codeOf(res.body), 'invalid_signature');
    }
  });

  test('dot segments are refused with 400 invalid_path before anything folds them, signed or not', async () => {
    const client = new ImgixClient({ domain: 'img.example.com', secureURLToken: TOKEN, includeLibraryParam: false });
    for (const dots of ['x/../', 'x/%2e%2e/', 'x/%2E./', 'x/.%2E/', './', '%2e/', 'x/..%2f']) {
      for (const host of ['img.example.com', 'Img.Example.com']) {
        // Unsigned, on a source without signing: each folds to a file that exists.
        const open = await send(server.port, `/open/${dots}photo.jpg?w=30`, { Host: host });
        assert.equal(open.status, 400, `/open/${dots}photo.jpg via ${host}: ${open.status}`);
        assert.equal(codeOf(open.body), 'invalid_path');
        // Correctly signed over the dotted path: the signature holds, the path is still refused.
        const signed = await send(server.port, targetOf(client.buildURL(`/${dots}photo.jpg`, { w: 30 }, { disablePathEncoding: true })), { Host: host });
        assert.equal(signed.status, 400, `signed /${dots}photo.jpg via ${host}: ${signed.status}`);
        assert.equal(codeOf(signed.body), 'invalid_path');
      }
    }
  });
});

describe('expires, on every URL', () => {
  const now = () => Math.floor(Date.now() / 1000);

  test('in the past: 404 expired (imgix\'s status), signed or not, before any source is read', async () => {
    const client = new ImgixClient({ domain: 'img.example.com', secureURLToken: TOKEN });
    const signed = await send(server.port, targetOf(client.buildURL('/photo.jpg', { w: 30, expires: now() - 5 })));
    assert.equal(signed.status, 404);
    assert.equal(codeOf(signed.body), 'expired');
    const open = await send(server.port, `/open/photo.jpg?w=30&expires=${now() - 5}`);
    assert.equal(open.status, 404);
    assert.equal(codeOf(open.body), 'expired');
    // Pushing an unsigned expiry forward is the caller's choice (imgix: sign URLs to prevent it);
    // pushing a signed one forward breaks the signature.
    assert.equal((await send(server.port, `/open/photo.jpg?w=30&expires=${now() + 60}`)).status, 200);
    const replay = targetOf(client.buildURL('/photo.jpg', { w: 30, expires: now() - 5 })).replace(/expires=\d+/, `expires=${now() + 60}`);
    assert.equal((await send(server.port, replay)).status, 403);
    const bad = await send(server.port, '/open/photo.jpg?w=30&expires=tomorrow');
    assert.equal(bad.status, 400);
    assert.match(JSON.parse(bad.body.toString()).message, /^expires:/);
  });

  test('in the future: served, and no cache keeps it longer (max-age, s-maxage, stale-while-revalidate), 304 too', async () => {
    const open = await send(server.port, `/open/photo.jpg?w=30&expires=${now() + 90}`);
    assert.equal(open.status, 200);
    const l = lifetimes(open.headers['cache-control']);
    assert.ok(l['max-age']! <= 90 && l['max-age']! >= 80, String(open.headers['cache-control']));
    assert.ok(l['s-maxage']! <= 90, String(open.headers['cache-control']));
    assert.ok(l['max-age']! + l['stale-while-revalidate']! <= 90, String(open.headers['cache-control']));
    // Without expires the source's own value stands.
    assert.equal((await send(server.port, '/open/photo.jpg?w=30')).headers['cache-control'], 'public, max-age=86400, s-maxage=31536000, stale-while-revalidate=600');
    const again = await send(server.port, `/open/photo.jpg?w=30&expires=${now() + 90}`, { 'If-None-Match': open.headers.etag! });
    assert.equal(again.status, 304);
    assert.ok(lifetimes(again.headers['cache-control'])['s-maxage']! <= 90);

    const client = new ImgixClient({ domain: 'img.example.com', secureURLToken: TOKEN });
    const signed = await send(server.port, targetOf(client.buildURL('/photo.jpg', { w: 30, expires: now() + 45 })));
    assert.equal(signed.status, 200);
    const s = lifetimes(signed.headers['cache-control']);
    assert.ok(s['max-age']! <= 45 && s['max-age']! >= 35, String(signed.headers['cache-control']));
  });
});

// ------------------------------------------------------------------------------------ Lambda

/** An API Gateway REST event (payload 1.0): the path as sent, the parameters parsed and decoded. */
function restEvent(target: string, host: string): RestApiEvent {
  const q = target.indexOf('?');
  const p = q < 0 ? target : target.slice(0, q);
  const multi: Record<string, string[]> = {};
  for (const pair of q < 0 ? [] : target.slice(q + 1).split('&')) {
    const eq = pair.indexOf('=');
    const k = decodeURIComponent(eq < 0 ? pair : pair.slice(0, eq));
    (multi[k] ??= []).push(eq < 0 ? '' : decodeURIComponent(pair.slice(eq + 1)));
  }
  return {
    httpMethod: 'GET',
    path: p,
    resource: '/{proxy+}',
    headers: { 'X-API-Key': TEST_KEY, Host: host },
    multiValueHeaders: { 'X-API-Key': [TEST_KEY], Host: [host] },
    queryStringParameters: q < 0 ? null : Object.fromEntries(Object.entries(multi).map(([k, v]) => [k, v.at(-1)])),
    multiValueQueryStringParameters: q < 0 ? null : multi,
    pathParameters: { proxy: p.slice(1) },
    requestContext: { stage: 'prod', path: `/prod${p}`, domainName: host.toLowerCase() },
    body: null,
    isBase64Encoded: false,
  };
}

/** An HTTP API event (payload 2.0, `$default` stage): API Gateway hands `rawPath` over decoded, the query raw. */
function httpApiEvent(target: string, host: string): HttpApiEvent {
  const q = target.indexOf('?');
  const p = q < 0 ? target : target.slice(0, q);
  return {
    version: '2.0',
    rawPath: decodeURIComponent(p),
    rawQueryString: q < 0 ? '' : target.slice(q + 1),
    headers: { 'x-api-key': TEST_KEY, host },
    requestContext: { stage: '$default', domainName: host.toLowerCase(), http: { method: 'GET', path: decodeURIComponent(p) } },
    isBase64Encoded: false,
  };
}

/** The handler's answer as the adapter builds it (these bodies are far below Lambda's payload limit). */
async function invoke(event: RestApiEvent | HttpApiEvent): Promise<LambdaResult> {
  return (await handler(event)) as LambdaResult;
}

const lambdaWidth = async (r: LambdaResult) => widthOf(Buffer.from(r.body, 'base64'));

describe('Lambda: signatures over the event as received', () => {
  for (const [kind, event] of [['REST (payload 1.0)', restEvent], ['HTTP API (payload 2.0)', httpApiEvent]] as const) {
    test(`${kind}: js-core URLs with awkward characters verify, with and without ixlib, under any Host`, async () => {
      for (const { name, url, w } of signedUrls()) {
        for (const host of ['abc.execute-api.eu-west-1.amazonaws.com', 'Img.Example.COM']) {
          const r = await invoke(event(targetOf(url), host));
          assert.equal(r.statusCode, 200, `${kind} ${name}: ${url} → ${r.body.slice(0, 120)}`);
          assert.equal(await lambdaWidth(r), w, url);
        }
      }
      const tampered = await invoke(event(targetOf(new ImgixClient({ domain: 'img.example.com', secureURLToken: TOKEN }).buildURL('/a b.jpg', { w: 50 })).replace('w=50', 'w=51'), 'img.example.com'));
      assert.equal(tampered.statusCode, 403);
    });

    test(`${kind}: expires holds (404 expired) and bounds Cache-Control; dot segments are 400 invalid_path`, async () => {
      const now = Math.floor(Date.now() / 1000);
      const client = new ImgixClient({ domain: 'img.example.com', secureURLToken: TOKEN });
      const past = await invoke(event(targetOf(client.buildURL('/photo.jpg', { w: 30, expires: now - 5 })), 'img.example.com'));
      assert.equal(past.statusCode, 404);
      assert.equal(codeOf(past.body), 'expired');
      const open = await invoke(event(`/open/photo.jpg?w=30&expires=${now + 60}`, 'img.example.com'));
      assert.equal(open.statusCode, 200);
      const l = lifetimes(open.headers['cache-control']);
      assert.ok(l['max-age']! <= 60 && l['s-maxage']! <= 60, String(open.headers['cache-control']));
      const dots = await invoke(event('/open/x/%2e%2e/photo.jpg?w=30', 'img.example.com'));
      assert.equal(dots.statusCode, 400, dots.body);
      assert.equal(codeOf(dots.body), 'invalid_path');
    });
  }
});
