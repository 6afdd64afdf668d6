/**
 * The image route's middlewares and handler, run as one Hono handler. Hono composes a route's
 * middlewares with one async function per layer, so every request, however little it awaits,
 * pays a promise per layer and reaches the Node adapter as a promise. Here the same layers run
 * in the same order with the same semantics as Hono's compose — each layer's `next` runs the
 * rest; an Error thrown by a layer (or a rejected promise) is answered by `onError` there and
 * the layers outside it carry on with that answer — but a layer that answers at once (a cache
 * hit: key known, no plan to ask, metadata and result in memory) is not made to wait: when
 * every layer answers at once the Response is returned synchronously, which the Node adapter
 * writes out without a promise of its own.
 *
 * The layers are written so: do the work before `next`, call it, and do the work after it at
 * once or when its promise settles (see `afterNext`). Mounted with Hono (`app.use`), where `next`
 * always returns a promise, the same layers behave as before.
 */
import type { Context, MiddlewareHandler } from 'hono';
import type { AppEnv } from './context.ts';

/** What `next` returns: nothing when the rest of the chain finished at once, else its promise. */
export type Next = () => void | Promise<void>;
/** A middleware or handler of a chain: a Hono middleware whose `next` may have finished at once. */
export type Layer = (c: Context<AppEnv>, next: Next) => Response | void | Promise<Response | void>;
type ErrorHandler = (err: Error, c: Context<AppEnv>) => Response | Promise<Response>;

export function isPromise<T>(v: T | Promise<T>): v is Promise<T> {
  return typeof (v as { then?: unknown } | undefined)?.then === 'function';
}

/** `then(value)` now, or when `value` resolves. */
export function whenReady<T, R>(value: T | Promise<T>, then: (v: T) => R | Promise<R>): R | Promise<R> {
  return isPromise(value) ? value.then(then) : then(value);
}

/** A layer's work after the rest of the chain (`done`), at once or when `next()`'s promise settles. */
export function afterNext(next: Next, done: () => void): void | Promise<void> {
  const rest = next();
  if (isPromise(rest)) return rest.then(done);
  done();
}

const later: Array<() => void> = [];
function runLater(): void {
  // Work queued while this runs (an answer in between) joins the same pass.
  for (let i = 0; i < later.length; i++) later[i]!();
  later.length = 0;
}

/**
 * Bookkeeping that need not hold an answer back (metrics, usage records, the request line): run
 * in one microtask for everything queued meanwhile, once the code that answered has returned —
 * by then the Node server has written a synchronous answer out (it writes before it returns), so
 * the client does not wait for it. `work` must not throw: each caller catches what it could throw.
 */
export function afterAnswer(work: () => void): void {
  if (later.push(work) === 1) queueMicrotask(runLater);
}

/** A layer as Hono mounts it (it awaits whatever a layer returns). */
export function asMiddleware(layer: Layer): MiddlewareHandler<AppEnv> {
  return layer as unknown as MiddlewareHandler<AppEnv>;
}

/** The layers as one handler (see above); `onError` is the app's error handler. */
export function chain(layers: Layer[], onError: ErrorHandler): (c: Context<AppEnv>) => Response | Promise<Response> {
  const settle = (c: Context<AppEnv>, res: Response | void) => {
    if (res && !c.finalized) c.res = res;
  };
  const failed = (c: Context<AppEnv>, err: unknown): void | Promise<void> => {
    if (!(err instanceof Error)) throw err;
    c.error = err;
    const res = onError(err, c);
    if (isPromise(res)) return res.then((r) => void (c.res = r));
    c.res = res;
  };
  const run = (c: Context<AppEnv>, i: number): void | Promise<void> => {
    const layer = layers[i];
    if (!layer) return;
    let res: ReturnType<Layer>;
    try {
      res = layer(c, () => run(c, i + 1));
    } catch (err) {
      return failed(c, err);
    }
    if (isPromise(res)) return res.then((r) => settle(c, r), (err) => failed(c, err));
    settle(c, res);
  };
  return (c) => {
    const done = run(c, 0);
    return isPromise(done) ? done.then(() => c.res) : c.res;
  };
}
