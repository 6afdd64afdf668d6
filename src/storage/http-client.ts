/**
 * The HTTP client the origin source fetches with. Unless `allowPrivateNetworks` is set, every
 * connection goes through the address guard on the address actually connected to: the DNS answer
 * is resolved by the guard's `lookup` on the Agent (a hostname that resolves to 127.0.0.1, or one
 * that rebinds between two lookups, is refused at connect time), IP literals are checked before
 * the request, and the socket's remote address is checked again once connected. Redirects are
 * followed by hand, up to `maxRedirects`, and each hop goes through the same checks. Bodies are
 * capped while they arrive (`maxBytes`) and the whole fetch, redirects included, has one deadline
 * (`timeoutMs`). Every failure is a ServiceError: 502 `source_error`, 502
 * `source_blocked_address`, 502 `source_too_large` or 504 `source_timeout`.
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { Readable, Transform, pipeline } from 'node:stream';
import type { Socket } from 'node:net';
import { ServiceError, sourceTooLarge } from '../errors.ts';
import { BlockedAddressError, guardedLookup, isBlockedAddress, isBlockedAddressError } from './address-guard.ts';

export interface HttpClientOptions {
  /** Connect to loopback, private and link-local addresses too (origins on the same network). */
  allowPrivateNetworks?: boolean;
  /** Address policy; defaults to `isBlockedAddress`. Tests narrow it to stand a loopback origin in for a public one. */
  isBlockedAddress?: (address: string) => boolean;
  maxBytes: number;
  timeoutMs: number;
  maxRedirects: number;
  /** Headers sent only to this origin (credentials, typically), never to another one a redirect names. */
  origin?: { origin: string; headers: Record<string, string> };
}

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** A 2xx GET's body read whole. */
  body?: Buffer;
  /** A 2xx GET's body streamed, capped at `maxBytes` (when the caller asked for a stream). */
  stream?: Readable;
}

interface FetchOptions {
  method: 'GET' | 'HEAD';
  signal?: AbortSignal;
  /**
   * Stream a 2xx GET body instead of reading it whole when this says yes to the answer's headers.
   * The deadline then covers the headers only; the caller's signal still aborts the body.
   */
  stream?: (headers: http.IncomingHttpHeaders) => boolean;
}

interface HttpClient {
  /** Fetch `url`, following redirects; any answer that is not a redirect resolves, whatever its status. */
  fetch(url: URL, options: FetchOptions): Promise<HttpResponse>;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

export function firstHeader(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** The Content-Length an answer declares, when it is a number. */
export function declaredLength(headers: http.IncomingHttpHeaders): number | undefined {
  const n = Number(firstHeader(headers['content-length']));
  return Number.isFinite(n) ? n : undefined;
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

interface OneResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** A 2xx GET's body, not yet read. */
  res?: http.IncomingMessage;
}

export function createHttpClient(options: HttpClientOptions): HttpClient {
  const blocked = options.isBlockedAddress ?? isBlockedAddress;
  const allowPrivate = options.allowPrivateNetworks ?? false;
  const { maxBytes, timeoutMs, maxRedirects } = options;
  const agentOptions = { keepAlive: true, maxSockets: 64, ...(allowPrivate ? {} : { lookup: guardedLookup(blocked) }) };
  const httpAgent = new http.Agent(agentOptions);
  const httpsAgent = new https.Agent(agentOptions);

  /** One request, no redirects; rejects with BlockedAddressError, abort errors or network errors. */
  function once(url: URL, method: 'GET' | 'HEAD', signal: AbortSignal): Promise<OneResponse> {
    return new Promise((resolve, reject) => {
      const host = url.hostname.replace(/^\[|\]$/g, '');
      if (!allowPrivate && net.isIP(host) && blocked(host)) {
        reject(new BlockedAddressError(host, host));
        return;
      }
      const isHttps = url.protocol === 'https:';
      const req = (isHttps ? https : http).request(url, {
        method,
        agent: isHttps ? httpsAgent : httpAgent,
        signal,
        headers: {
          'user-agent': 'imagegate',
          accept: 'image/*,*/*;q=0.8',
          'accept-encoding': 'identity',
          ...(url.origin === options.origin?.origin ? options.origin.headers : {}),
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

  function checkDeclared(res: http.IncomingMessage): void {
    const declared = declaredLength(res.headers);
    if (declared !== undefined && declared > maxBytes) {
      res.destroy();
      throw sourceTooLarge(maxBytes);
    }
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
        throw sourceTooLarge(maxBytes);
      }
      chunks.push(chunk);
    }
    if (!res.complete) throw new Error('origin closed the connection mid-body');
    return Buffer.concat(chunks, total);
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
        done(total > maxBytes ? sourceTooLarge(maxBytes) : null, chunk);
      },
    });
    pipeline(res, counter, () => undefined);
    return counter;
  }

  async function fetch(start: URL, { method, signal: outer, stream }: FetchOptions): Promise<HttpResponse> {
    let url = start;
    const { signal, stopTimer, release } = fetchDeadline(timeoutMs, outer);
    let streaming = false;
    try {
      for (let hop = 0; ; hop++) {
        const res = await once(url, method, signal);
        if (res.res) {
          if (stream?.(res.headers)) {
            const body = capStream(res.res);
            stopTimer();
            streaming = true;
            body.once('close', release);
            return { status: res.status, headers: res.headers, stream: body };
          }
          return { status: res.status, headers: res.headers, body: await readBody(res.res) };
        }
        const location = REDIRECTS.has(res.status) ? firstHeader(res.headers.location) : undefined;
        if (!location) return { status: res.status, headers: res.headers };
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
      if (isBlockedAddressError(err)) {
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

  return { fetch };
}
