import { ServiceError } from '../errors.ts';

export interface LimiterObserver {
  /** Called whenever the number in flight or waiting changes. */
  changed?(state: { active: number; queued: number }): void;
  /** A task refused before it ran: `overloaded` (queue full) or the code of its aborted signal (`deadline_exceeded`, …). */
  shed?(reason: string): void;
}

interface WorkLimiterOptions {
  /** Tasks in flight at most. */
  concurrency: number;
  /** Tasks waiting (FIFO) behind those in flight; past it `run` rejects at once with 503 `overloaded`. */
  queue: number;
  /** `Retry-After` on 503s, seconds (default 1). */
  retryAfterSeconds?: number;
  observer?: LimiterObserver;
}

interface Waiter {
  start: () => void;
  reject: (err: unknown) => void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

/**
 * Bounded work: at most `concurrency` tasks run, up to `queue` wait in order, and anything past
 * that is shed with an immediate 503 + Retry-After instead of growing memory and latency.
 * A task whose signal aborts while it waits leaves the queue without running.
 */
export class WorkLimiter {
  private readonly concurrency: number;
  private readonly maxQueue: number;
  private readonly retryAfter: string;
  private readonly observer?: LimiterObserver;
  private readonly waiting: Waiter[] = [];
  private running = 0;

  constructor(opts: WorkLimiterOptions) {
    if (!Number.isInteger(opts.concurrency) || opts.concurrency < 1) throw new RangeError('concurrency must be an integer ≥ 1');
    if (!Number.isInteger(opts.queue) || opts.queue < 0) throw new RangeError('queue must be an integer ≥ 0');
    this.concurrency = opts.concurrency;
    this.maxQueue = opts.queue;
    this.retryAfter = String(opts.retryAfterSeconds ?? 1);
    this.observer = opts.observer;
  }

  /** Tasks running now. */
  get active(): number {
    return this.running;
  }

  /** Tasks waiting for a slot. */
  get queued(): number {
    return this.waiting.length;
  }

  run<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(abortError(signal, this.retryAfter));
    return new Promise<T>((resolve, reject) => {
      const start = () => {
        this.running++;
        this.notify();
        let p: Promise<T>;
        try {
          p = Promise.resolve(fn());
        } catch (err) {
          p = Promise.reject(err);
        }
        // The slot is released before the caller resumes, so a caller that awaits one task and
        // submits the next never finds its own finished task still counted.
        const release = () => {
          this.running--;
          this.next();
        };
        p.then(
          (v) => {
            release();
            resolve(v);
          },
          (err) => {
            release();
            reject(err);
          },
        );
      };
      if (this.running < this.concurrency) {
        start();
        return;
      }
      if (this.waiting.length >= this.maxQueue) {
        this.observer?.shed?.('overloaded');
        reject(
          new ServiceError(503, 'overloaded', 'the service is busy; retry shortly', {
            headers: { 'Retry-After': this.retryAfter },
          }),
        );
        return;
      }
      const waiter: Waiter = { start, reject, signal };
      if (signal) {
        waiter.onAbort = () => {
          const i = this.waiting.indexOf(waiter);
          if (i >= 0) {
            this.waiting.splice(i, 1);
            this.notify();
          }
          const err = abortError(signal, this.retryAfter);
          this.observer?.shed?.(err.code);
          reject(err);
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.waiting.push(waiter);
      this.notify();
    });
  }

  private next(): void {
    while (this.running < this.concurrency && this.waiting.length > 0) {
      const w = this.waiting.shift()!;
      if (w.signal && w.onAbort) w.signal.removeEventListener('abort', w.onAbort);
      w.start();
    }
    this.notify();
  }

  private notify(): void {
    this.observer?.changed?.({ active: this.running, queued: this.waiting.length });
  }
}

/** The error for a task whose signal aborted: the signal's own ServiceError, a deadline 503, or a cancellation. */
function abortError(signal: AbortSignal, retryAfter = '1'): ServiceError {
  const reason: unknown = signal.reason;
  if (reason instanceof ServiceError) return reason;
  if ((reason as { name?: string } | undefined)?.name === 'TimeoutError') {
    return new ServiceError(503, 'deadline_exceeded', 'the request did not finish within its deadline', {
      cause: reason,
      headers: { 'Retry-After': retryAfter },
    });
  }
  return new ServiceError(503, 'request_aborted', 'the request was cancelled before it ran', { cause: reason });
}

/** Deadlines fire on shared 100 ms ticks: one timer per tick, not one per request. */
const TICK_MS = 100;
interface Tick {
  /** Signals only their holders care about: collected with them, never kept alive by the tick. */
  weak: Set<WeakRef<AbortController>>;
  /** Signals someone listens to: kept until the deadline, so a listener-only waiter still fires. */
  strong: Set<AbortController>;
}
const ticks = new Map<number, Tick>();
const kController = Symbol('imagegate.deadlineController');
const addListener = EventTarget.prototype.addEventListener;

function fireTick(slot: number): void {
  const due = ticks.get(slot);
  ticks.delete(slot);
  if (!due) return;
  const reason = new DOMException('The operation was aborted due to timeout', 'TimeoutError');
  for (const ref of due.weak) {
    const ctl = ref.deref();
    if (ctl && !ctl.signal.aborted) ctl.abort(reason);
  }
  for (const ctl of due.strong) if (!ctl.signal.aborted) ctl.abort(reason);
}

function tickFor(at: number): Tick {
  const slot = Math.ceil(at / TICK_MS) * TICK_MS;
  let due = ticks.get(slot);
  if (!due) {
    due = { weak: new Set(), strong: new Set() };
    ticks.set(slot, due);
    // unref: a deadline never keeps the process alive on its own (a server's sockets do).
    setTimeout(fireTick, Math.max(0, slot - Date.now()), slot).unref();
  }
  return due;
}

/**
 * A signal that aborts at `ms` from now (reason: a TimeoutError → 503 `deadline_exceeded`,
 * up to one 100 ms tick late) or when `parent` aborts (e.g. the client went away), whichever
 * comes first.
 *
 * Built without `AbortSignal.timeout` + `AbortSignal.any`: on Node 20 the timeout inside such a
 * composite can be garbage-collected before it fires (nodejs/node#57736), and the pair costs
 * twice as much. Here the signal holds its controller, a shared tick holds it weakly, and once
 * anyone adds an abort listener the tick holds it strongly until the deadline: it fires for
 * every holder and every listener, and a finished request that nobody listened to (a cache hit)
 * leaves nothing behind but a small weak reference until its tick. Reading a Hono request's
 * `c.req.raw.signal` for `parent` builds a full Request: do that only where work starts (a cache
 * miss), e.g. via `lazyDeadline`.
 */
export function deadlineSignal(ms: number, parent?: AbortSignal): AbortSignal {
  const ctl = new AbortController();
  const signal = ctl.signal as AbortSignal & { [kController]?: AbortController };
  signal[kController] = ctl;
  if (parent?.aborted) {
    ctl.abort(parent.reason);
    return signal;
  }
  const due = tickFor(Date.now() + Math.max(0, ms));
  due.weak.add(new WeakRef(ctl));
  let pinned = false;
  signal.addEventListener = function (this: AbortSignal, type: string, listener: unknown, options?: unknown) {
    if (type === 'abort' && !pinned && !ctl.signal.aborted) {
      pinned = true;
      due.strong.add(ctl);
    }
    return (addListener as (...a: unknown[]) => void).call(this, type, listener, options);
  } as AbortSignal['addEventListener'];
  let onParent: (() => void) | undefined;
  if (parent) {
    onParent = () => ctl.abort(parent.reason);
    parent.addEventListener('abort', onParent, { once: true });
  }
  addListener.call(
    signal,
    'abort',
    () => {
      due.strong.delete(ctl);
      if (onParent) parent!.removeEventListener('abort', onParent);
    },
    { once: true },
  );
  return signal;
}

interface ByteWaiter {
  bytes: number;
  grant: (release: () => void) => void;
  reject: (err: unknown) => void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

/**
 * A process-wide budget for bytes held in memory (originals being read or sent). `acquire(n)`
 * resolves to a release function once `n` more bytes fit; requests wait in FIFO order, leave
 * when their signal aborts (its error: 503 `deadline_exceeded`, …) and are shed at once with
 * 503 `overloaded` + Retry-After when `queue` are already waiting. An amount over the whole
 * budget is granted when nothing else is held, so it waits but never starves.
 */
export class ByteBudget {
  private readonly max: number;
  private readonly maxQueue: number;
  private readonly retryAfter: string;
  private readonly waiting: ByteWaiter[] = [];
  private used = 0;

  constructor(opts: { maxBytes: number; queue: number; retryAfterSeconds?: number }) {
    if (!(opts.maxBytes > 0)) throw new RangeError('maxBytes must be > 0');
    this.max = opts.maxBytes;
    this.maxQueue = opts.queue;
    this.retryAfter = String(opts.retryAfterSeconds ?? 1);
  }

  /** Bytes granted and not yet released. */
  get inFlight(): number {
    return this.used;
  }

  acquire(bytes: number, signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(abortError(signal, this.retryAfter));
    const want = Math.min(Math.max(0, bytes), this.max);
    if (this.waiting.length === 0 && this.used + want <= this.max) return Promise.resolve(this.grant(want));
    if (this.waiting.length >= this.maxQueue) {
      return Promise.reject(new ServiceError(503, 'overloaded', 'the service is busy; retry shortly', { headers: { 'Retry-After': this.retryAfter } }));
    }
    return new Promise((grant, reject) => {
      const w: ByteWaiter = { bytes: want, grant, reject, signal };
      if (signal) {
        w.onAbort = () => {
          const i = this.waiting.indexOf(w);
          if (i >= 0) this.waiting.splice(i, 1);
          reject(abortError(signal, this.retryAfter));
          this.drain();
        };
        signal.addEventListener('abort', w.onAbort, { once: true });
      }
      this.waiting.push(w);
    });
  }

  private grant(bytes: number): () => void {
    this.used += bytes;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.used -= bytes;
      this.drain();
    };
  }

  private drain(): void {
    while (this.waiting.length > 0 && this.used + this.waiting[0]!.bytes <= this.max) {
      const w = this.waiting.shift()!;
      if (w.signal && w.onAbort) w.signal.removeEventListener('abort', w.onAbort);
      w.grant(this.grant(w.bytes));
    }
  }
}
