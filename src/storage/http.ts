/**
 * HTTP origin source: originals fetched from `baseUrl + key`.
 *
 * The service fetches URLs on behalf of callers, so this module is where server-side request
 * forgery is stopped. Unless `allowPrivateNetworks` is set, every connection is checked against
 * loopback, link-local, private and reserved ranges on the address actually connected to: the
 * DNS answer is resolved by our own `lookup` on the Agent and checked there (a hostname that
 * resolves to 127.0.0.1, or one that rebinds between two lookups, is refused at connect time),
 * IP literals are checked before the request, and the socket's remote address is checked again
 * once connected. Redirects are followed by hand, up to `maxRedirects`, and each hop goes
 * through the same checks. Bodies are capped while streaming (`maxBytes`) and the whole fetch,
 * redirects included, has one deadline (`timeoutMs`).
 */
import http from 'node:http';
import https from 'node:https';
import dns from 'node:dns';
import net from 'node:net';
import { createHash } from 'node:crypto';
import { Readable, Transform, pipeline } from 'node:stream';
import type { LookupFunction, Socket } from 'node:net';
import { ServiceError } from '../errors.ts';
import type { SourceConfig } from '../config/schema.ts';
import type { ObjectMeta, Storage, StoredObject, StreamedObject } from './types.ts';

export type HttpSourceConfig = Extract<SourceConfig, { type: 'http' }>;

const BLOCKED_CODE = 'ERR_IMAGEGATE_BLOCKED_ADDRESS';

const blockList = new net.BlockList();
for (const [subnet, prefix] of [
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8], // RFC 1918
  ['100.64.0.0', 10], // carrier-grade NAT (RFC 6598)
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local, cloud metadata (169.254.169.254)
  ['172.16.0.0', 12], // RFC 1918
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // TEST-NET-1
  ['192.88.99.0', 24], // 6to4 relay anycast
  ['192.168.0.0', 16], // RFC 1918
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // TEST-NET-2
  ['203.0.113.0', 24], // TEST-NET-3
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
] as const) {
  blockList.addSubnet(subnet, prefix, 'ipv4');
}
for (const [subnet, prefix] of [
  ['::', 128], // unspecified
  ['::1', 128], // loopback
  ['::', 96], // IPv4-compatible (deprecated)
  ['64:ff9b:1::', 48], // local-use NAT64
  ['100::', 64], // discard
  ['2001:db8::', 32], // documentation
  ['fc00::', 7], // unique local (ULA)
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated)
  ['ff00::', 8], // multicast
] as const) {
  blockList.addSubnet(subnet, prefix, 'ipv6');
}

/** The eight 16-bit groups of an IPv6 literal (dotted IPv4 tail allowed), or undefined. */
function ipv6Groups(v6: string): number[] | undefined {
  let lower = v6.toLowerCase();
  const dotted = /:(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(lower);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number);
    lower = `${lower.slice(0, dotted.index)}:${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const parts = lower.split('::');
  if (parts.length > 2) return undefined;
  const h = parts[0] ? parts[0].split(':') : [];
  const t = parts.length === 2 && parts[1] ? parts[1].split(':') : [];
  const fill = parts.length === 2 ? 8 - h.length - t.length : 0;
  if (fill < 0) return undefined;
  const groups = [...h, ...Array(fill).fill('0'), ...t].map((g) => parseInt(g, 16));
  return groups.length === 8 && groups.every((g) => g >= 0 && g <= 0xffff) ? groups : undefined;
}

function v4FromGroups(hi: number, lo: number): string {
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/**
 * True when `address` (an IP literal) is loopback, link-local, private, carrier-grade NAT,
 * unique-local, multicast or otherwise not a public unicast address. IPv4-mapped IPv6
 * (`::ffff:127.0.0.1`) and NAT64 (`64:ff9b::a.b.c.d`) addresses are judged by the IPv4 address
 * they carry. Anything that is not an IP literal is reported as blocked.
 */
export function isBlockedAddress(address: string): boolean {
  const bare = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const family = net.isIP(bare);
  if (family === 4) return blockList.check(bare, 'ipv4');
  if (family !== 6) return true;
  const g = ipv6Groups(bare);
  if (!g) return true;
  const mapped = g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff;
  const nat64 = g[0] === 0x64 && g[1] === 0xff9b && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0;
  if (mapped || nat64) return blockList.check(v4FromGroups(g[6], g[7]), 'ipv4');
  // 6to4 (2002::/16) carries an IPv4 address in bits 16–47.
  if (g[0] === 0x2002 && blockList.check(v4FromGroups(g[1], g[2]), 'ipv4')) return true;
  return blockList.check(bare, 'ipv6');
}

class BlockedAddressError extends Error {
  readonly code = BLOCKED_CODE;
  constructor(
    readonly host: string,
    readonly address: string,
  ) {
    super(`refused to connect to ${host} (${address}): not a public address`);
  }
}

/**
 * A `lookup` for http(s).Agent that resolves the name itself and refuses the connection when
 * any answer is not a public address, so the address checked is the address connected to.
 */
export function guardedLookup(blocked: (address: string) => boolean = isBlockedAddress): LookupFunction {
  return (hostname, options, callback) => {
    dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return (callback as (e: Error) => void)(err);
      const list = addresses as dns.LookupAddress[];
      const bad = list.find((a) => blocked(a.address));
      if (bad || list.length === 0) {
        return (callback as (e: Error) => void)(new BlockedAddressError(hostname, bad?.address ?? 'no address'));
      }
      if ((options as dns.LookupOptions).all) {
        (callback as (e: null, a: dns.LookupAddress[]) => void)(null, list);
      } else {
        (callback as (e: null, a: string, f: number) => void)(null, list[0].address, list[0].family);
      }
    });
  };
}

/**
 * One deadline for a whole fetch, linked to the caller's signal. Built from a plain timer and
 * controller on purpose: on Node 20 a timeout signal combined with `AbortSignal.any` can be
 * garbage-collected before it fires, and the fetch then never times out.
 */
function fetchDeadline(timeoutMs: number, outer?: AbortSignal): { signal: AbortSignal; stopTimer(): void; release(): void } {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(new DOMException('The origin did not answer in time', 'TimeoutError')), timeoutMs);
  const onOuterAbort = () => ctl.abort(outer!.reason);
  if (outer?.aborted) ctl.abort(outer.reason);
  else outer?.addEventListener('abort', onOuterAbort, { once: true });
  return {
    signal: ctl.signal,
    stopTimer() {
      clearTimeout(timer);
    },
    release() {
      clearTimeout(timer);
      outer?.removeEventListener('abort', onOuterAbort);
    },
  };
}

/** Path-safe join of a storage key onto the base URL: each segment encoded, no dot segments. */
function keyUrl(base: URL, key: string): URL {
  const segments = key.replace(/^\/+/, '').split('/');
  if (segments.length === 0 || segments.some((s) => s === '' || s === '.' || s === '..')) {
    throw new ServiceError(400, 'invalid_path', 'Invalid image path');
  }
  if (segments.some((s) => s.includes('\0'))) {
    throw new ServiceError(400, 'invalid_path', 'Invalid image path');
  }
  const url = new URL(base.href);
  const basePath = url.pathname.endsWith('/') ? url.pathname : `${url.pathname}/`;
  url.pathname = basePath + segments.map((s) => encodeURIComponent(s)).join('/');
  return url;
}

interface OriginResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** A 2xx GET's body, not yet read. */
  res?: http.IncomingMessage;
  /** The body read whole (`get`, and `stream` where the origin cannot be streamed). */
  body?: Buffer;
  /** The body streamed, capped at `maxBytes` (`stream` only). */
  stream?: Readable;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** The origin's Content-Type when it names a passive image type; undefined otherwise. */
function imageType(value: string | undefined): string | undefined {
  const t = value?.split(';')[0].trim().toLowerCase();
  return t && /^image\/[a-z0-9.+-]+$/.test(t) && !t.includes('svg') ? t : undefined;
}

function firstHeader(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

export interface HttpStorageOptions {
  /** Address policy; defaults to `isBlockedAddress`. Tests narrow it to stand a loopback origin in for a public one. */
  isBlockedAddress?: (address: string) => boolean;
}

/**
 * Create a `Storage` over an HTTP(S) origin. `head` and `get` resolve to `undefined` for
 * 404/410; any other failure rejects with ServiceError 502 `source_error`,
 * 502 `source_blocked_address`, 502 `source_too_large` or 504 `source_timeout`.
 */
export function createHttpStorage(cfg: HttpSourceConfig, options: HttpStorageOptions = {}): Storage {
  const blocked = options.isBlockedAddress ?? isBlockedAddress;
  const base = new URL(cfg.baseUrl);
  if (base.protocol !== 'http:' && base.protocol !== 'https:') {
    throw new Error(`sources: http baseUrl must be http(s), got ${base.protocol}`);
  }
  const allowPrivate = cfg.allowPrivateNetworks ?? false;
  const maxBytes = cfg.maxBytes ?? 50 * 1024 * 1024;
  const timeoutMs = cfg.timeoutMs ?? 10_000;
  const maxRedirects = cfg.maxRedirects ?? 3;
  const configuredHeaders = cfg.headers ?? {};
  const agentOptions = { keepAlive: true, maxSockets: 64, ...(allowPrivate ? {} : { lookup: guardedLookup(blocked) }) };
  const httpAgent = new http.Agent(agentOptions);
  const httpsAgent = new https.Agent(agentOptions);

  /** One request, no redirects; rejects with BlockedAddressError, abort errors or network errors. */
  function once(url: URL, method: 'GET' | 'HEAD', signal: AbortSignal): Promise<OriginResponse> {
    return new Promise((resolve, reject) => {
      const host = url.hostname.replace(/^\[|\]$/g, '');
      if (!allowPrivate && net.isIP(host) && blocked(host)) {
        reject(new BlockedAddressError(host, host));
        return;
      }
      const isHttps = url.protocol === 'https:';
      // Configured headers (credentials, typically) only go to the configured origin.
      const sameOrigin = url.origin === base.origin;
      const req = (isHttps ? https : http).request(url, {
        method,
        agent: isHttps ? httpsAgent : httpAgent,
        signal,
        headers: {
          'user-agent': 'imagegate',
          accept: 'image/*,*/*;q=0.8',
          'accept-encoding': 'identity',
          ...(sameOrigin ? configuredHeaders : {}),
        },
      });
      let settled = false;
      const fail = (err: unknown) => {
        if (settled) return;
        settled = true;
        req.destroy();
        reject(err);
      };
      req.on('error', fail);
      if (!allowPrivate) {
        // Defence in depth: check the peer of the socket actually used (new or reused).
        req.on('socket', (socket: Socket) => {
          const check = () => {
            const addr = socket.remoteAddress;
            if (addr && blocked(addr)) fail(new BlockedAddressError(host, addr));
          };
          if (socket.connecting) socket.once('connect', check);
          else check();
        });
      }
      req.on('response', (res) => {
        settled = true;
        const status = res.statusCode ?? 0;
        if (method === 'HEAD' || REDIRECTS.has(status) || status < 200 || status >= 300) {
          res.resume();
          resolve({ status, headers: res.headers });
          return;
        }
        resolve({ status, headers: res.headers, res });
      });
      req.end();
    });
  }

  function tooLarge(): ServiceError {
    return new ServiceError(502, 'source_too_large', `Source image is larger than ${maxBytes} bytes`);
  }

  /** The whole body, capped at `maxBytes` while it arrives (the declared length is checked first). */
  async function readBody(res: http.IncomingMessage): Promise<Buffer> {
    checkDeclared(res);
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of res as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > maxBytes) {
        res.destroy();
        throw tooLarge();
      }
      chunks.push(chunk);
    }
    if (!res.complete) throw new Error('origin closed the connection mid-body');
    return Buffer.concat(chunks, total);
  }

  function checkDeclared(res: http.IncomingMessage): void {
    const declared = Number(firstHeader(res.headers['content-length']));
    if (Number.isFinite(declared) && declared > maxBytes) {
      res.destroy();
      throw tooLarge();
    }
  }

  /**
   * The body as a stream that fails past `maxBytes` or when the origin closes it short; destroying
   * it (a client gone, or a HEAD that has its first bytes) closes the origin connection.
   */
  function capStream(res: http.IncomingMessage): Readable {
    checkDeclared(res);
    let total = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        total += chunk.length;
        done(total > maxBytes ? tooLarge() : null, chunk);
      },
    });
    pipeline(res, counter, () => undefined);
    return counter;
  }

  /**
   * Follow redirects by hand, each hop re-checked; maps every failure to a ServiceError. A 2xx GET
   * body is read whole (`mode` 'read', under the deadline) or, for 'stream' when the origin names
   * the length and an identity (ETag or Last-Modified), streamed: the deadline then covers the
   * answer's headers, and the caller's signal still aborts the body.
   */
  async function fetchKey(key: string, method: 'GET' | 'HEAD', outer?: AbortSignal, mode: 'read' | 'stream' = 'read'): Promise<OriginResponse> {
    let url = keyUrl(base, key);
    const { signal, stopTimer, release } = fetchDeadline(timeoutMs, outer);
    let streaming = false;
    try {
      for (let hop = 0; ; hop++) {
        const res = await once(url, method, signal);
        if (res.res) {
          if (mode === 'stream' && streamable(res.headers)) {
            const stream = capStream(res.res);
            stopTimer();
            streaming = true;
            stream.once('close', release);
            return { status: res.status, headers: res.headers, stream };
          }
          return { status: res.status, headers: res.headers, body: await readBody(res.res) };
        }
        if (!REDIRECTS.has(res.status)) return res;
        const location = firstHeader(res.headers.location);
        if (!location) return res;
        if (hop >= maxRedirects) {
          throw new ServiceError(502, 'source_error', 'Source failed: too many redirects');
        }
        const next = new URL(location, url);
        if (next.protocol !== 'http:' && next.protocol !== 'https:') {
          throw new ServiceError(502, 'source_error', 'Source failed: redirect to an unsupported scheme');
        }
        url = next;
      }
    } catch (err) {
      if (err instanceof ServiceError) throw err;
      if ((err as { code?: string })?.code === BLOCKED_CODE) {
        throw new ServiceError(502, 'source_blocked_address', 'Source refused: origin address is not public', {
          cause: err,
        });
      }
      if (signal.aborted) {
        const reason = outer?.aborted ? outer.reason : undefined;
        if (reason instanceof ServiceError) throw reason;
        throw new ServiceError(504, 'source_timeout', 'Source did not answer in time', { cause: err });
      }
      throw new ServiceError(502, 'source_error', 'Source failed', { cause: err });
    } finally {
      if (!streaming) release();
    }
  }

  /** A body can be streamed when its length and identity are known before it is read. */
  function streamable(headers: http.IncomingHttpHeaders): boolean {
    return Number.isFinite(Number(firstHeader(headers['content-length']))) && metaFrom(headers, 0) !== undefined;
  }

  function checkStatus(res: OriginResponse): 'missing' | 'ok' {
    if (res.status === 404 || res.status === 410) return 'missing';
    if (res.status >= 200 && res.status < 300) return 'ok';
    throw new ServiceError(502, 'source_error', `Source failed: origin answered ${res.status}`);
  }

  function metaFrom(headers: http.IncomingHttpHeaders, size: number, body?: Buffer): ObjectMeta | undefined {
    const lm = firstHeader(headers['last-modified']);
    const lastModified = lm && !Number.isNaN(Date.parse(lm)) ? new Date(lm) : undefined;
    let etag = firstHeader(headers.etag);
    if (!etag && lastModified) {
      etag = `"lm-${lastModified.getTime().toString(36)}-${size.toString(36)}"`;
    }
    if (!etag && body) etag = `"sha1-${createHash('sha1').update(body).digest('hex')}"`;
    if (!etag) return undefined;
    return {
      etag,
      size,
      lastModified,
      // Only an image type is worth passing on: an origin's HTML error page must never be
      // served as HTML from the image service's origin.
      contentType: imageType(firstHeader(headers['content-type'])),
      cacheControl: firstHeader(headers['cache-control']),
    };
  }

  async function get(key: string, signal?: AbortSignal): Promise<StoredObject | undefined> {
    const res = await fetchKey(key, 'GET', signal);
    if (checkStatus(res) === 'missing') return undefined;
    const body = res.body ?? Buffer.alloc(0);
    const meta = metaFrom(res.headers, body.length, body)!;
    return { meta, body };
  }

  async function head(key: string, signal?: AbortSignal): Promise<ObjectMeta | undefined> {
    const res = await fetchKey(key, 'HEAD', signal);
    // Origins that do not support HEAD, or say too little to identify the object: use GET.
    if (res.status === 405 || res.status === 501) return (await get(key, signal))?.meta;
    if (checkStatus(res) === 'missing') return undefined;
    const length = Number(firstHeader(res.headers['content-length']));
    if (Number.isFinite(length) && length > maxBytes) throw tooLarge();
    const meta = Number.isFinite(length) ? metaFrom(res.headers, length) : undefined;
    if (meta) return meta;
    return (await get(key, signal))?.meta;
  }

  /**
   * An untouched original, streamed from the origin: the byte cap holds while it streams, and
   * reading only its first bytes (a HEAD) then destroying it closes the origin connection, so
   * the rest is never fetched. An origin that sends no Content-Length, or neither ETag nor
   * Last-Modified, is read whole (capped) since its size or identity needs the whole body.
   */
  async function stream(key: string, signal?: AbortSignal): Promise<StreamedObject | undefined> {
    const res = await fetchKey(key, 'GET', signal, 'stream');
    if (checkStatus(res) === 'missing') return undefined;
    if (res.stream) {
      const size = Number(firstHeader(res.headers['content-length']));
      return { meta: metaFrom(res.headers, size)!, body: res.stream };
    }
    const body = res.body ?? Buffer.alloc(0);
    return { meta: metaFrom(res.headers, body.length, body)!, body: Readable.from([body]) };
  }

  return { head, get, stream };
}
