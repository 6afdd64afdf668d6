/**
 * The Node server's request listener. A GET or HEAD outside `/_` — an image request — runs the
 * app's catch-all (the image route's chain, app.ts) on a Hono context built straight over the
 * IncomingMessage, and an answer the image route built from plain parts (a cache hit, a render,
 * a 304: see `plainAnswer`) is written with `writeHead` and `end`. Every other request, and every
 * other answer (errors, streamed originals), goes through @hono/node-server as before.
 *
 * On a cache hit this leaves out the adapter's Request and the Headers it builds from the raw
 * headers, Hono's router, and the adapter reading the Response back, and a HEAD hit is answered
 * at once (Hono answers HEAD as an asynchronous GET). The figures are in bench/RESULTS.md.
 */
import type { IncomingHttpHeaders, IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import type { AppEnv } from './context.ts';
import type { ImagegateApp } from './app.ts';
import { isPromise } from './chain.ts';
import { plainAnswer } from './image/respond.ts';
import { INTERNAL_ERROR } from '../errors.ts';

type ContextClass = new (req: Request, options: { env: NodeEnv; path: string }) => Context<AppEnv>;
type NodeEnv = { incoming: IncomingMessage; outgoing: ServerResponse };

const ANSWER = Symbol('imagegate.answer');
type Answered = IncomingMessage & { [ANSWER]?: Response };

const INTERNAL_ERROR_BODY = JSON.stringify(INTERNAL_ERROR);

const SLASH = 0x2f;
const UNDERSCORE = 0x5f;
const PERCENT = 0x25;

export function nodeListener(ig: ImagegateApp): RequestListener {
  const viaHono = getRequestListener(ig.app.fetch);
  // An answer that is not plain parts, written by the adapter as it writes any Response.
  const viaAdapter = getRequestListener((_req, env) => (env.incoming as Answered)[ANSWER]!);
  const Ctx = honoContextClass();
  const getPath = ig.app.getPath;

  const write = (incoming: IncomingMessage, outgoing: ServerResponse, res: Response): void => {
    const plain = plainAnswer(res);
    if (!plain) {
      (incoming as Answered)[ANSWER] = res;
      void viaAdapter(incoming, outgoing);
      return;
    }
    try {
      outgoing.writeHead(plain.status, plain.headers);
      outgoing.end(plain.body);
    } catch (err) {
      // A header node:http refuses (the adapter answers the same way): never a throw out of the listener.
      failed(outgoing, err, 'response not written');
    }
  };
  // A throw the chain did not answer (it answers every Error itself), or an answer that could not be written: the app's 500.
  const failed = (outgoing: ServerResponse, err: unknown, msg = 'unhandled error'): void => {
    ig.logger.error({ err }, msg);
    if (outgoing.headersSent) return void outgoing.destroy(err instanceof Error ? err : undefined);
    outgoing.writeHead(500, { 'Content-Type': 'application/json' });
    outgoing.end(INTERNAL_ERROR_BODY);
  };

  return (incoming, outgoing) => {
    const url = incoming.url;
    const method = incoming.method;
    // Hono's own routes are all under /_ (after decoding, hence %); an absolute-form target goes to Hono too.
    if ((method !== 'GET' && method !== 'HEAD') || !url || url.charCodeAt(0) !== SLASH || url.charCodeAt(1) === UNDERSCORE || url.charCodeAt(1) === PERCENT) {
      void viaHono(incoming, outgoing);
      return;
    }
    const req = new NodeRequest(incoming, outgoing) as unknown as Request;
    const env: NodeEnv = { incoming, outgoing };
    let res: Response | Promise<Response>;
    try {
      res = ig.catchAll(new Ctx(req, { env, path: getPath(req, { env }) }));
    } catch (err) {
      return failed(outgoing, err);
    }
    if (isPromise(res)) {
      res.then(
        (r) => write(incoming, outgoing, r),
        (err: unknown) => failed(outgoing, err),
      );
    } else write(incoming, outgoing, res);
  };
}

/**
 * The request as Hono's context reads it — `url`, `method`, `headers.get`, `signal` — over the
 * IncomingMessage, its headers read where Node parsed them. The URL's host is fixed: nothing on
 * the image route reads it (the target comes from `incoming.url`, see target.ts), and a Host
 * header is the client's to make up.
 */
class NodeRequest {
  #url: string | undefined;
  #headers: NodeHeaders | undefined;
  #abort: AbortController | undefined;

  constructor(
    private readonly incoming: IncomingMessage,
    private readonly outgoing: ServerResponse,
  ) {}

  get method(): string {
    return this.incoming.method!;
  }

  get url(): string {
    return (this.#url ??= `http://localhost${this.incoming.url}`);
  }

  get headers(): NodeHeaders {
    return (this.#headers ??= new NodeHeaders(this.incoming.headers));
  }

  /** Aborted when the response closes before it was written out (the client went away). */
  get signal(): AbortSignal {
    if (!this.#abort) {
      const abort = (this.#abort = new AbortController());
      const outgoing = this.outgoing;
      if (outgoing.closed) {
        if (!outgoing.writableFinished) abort.abort();
      } else outgoing.once('close', () => outgoing.writableFinished || abort.abort());
    }
    return this.#abort.signal;
  }
}

/** `get` as Headers answers it (any case; repeated fields joined with ", "), from Node's parsed headers. */
class NodeHeaders {
  constructor(private readonly parsed: IncomingHttpHeaders) {}

  get(name: string): string | null {
    const v = this.parsed[name.toLowerCase()];
    return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
  }
}

/** Hono's Context class, which the package does not export: the class of a context Hono built itself. */
function honoContextClass(): ContextClass {
  let found: ContextClass | undefined;
  const probe = new Hono();
  probe.get('/', (c) => {
    found = c.constructor as ContextClass;
    return c.body(null);
  });
  void probe.fetch(new Request('http://localhost/'));
  if (!found) throw new Error('could not find Hono’s Context class');
  return found;
}
