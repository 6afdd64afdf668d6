import { ServiceError } from '../errors.ts';

export interface LimiterObserver {
  /** Called whenever the number in flight or waiting changes. */
  changed?(state: { active: number; queued: number }): void;
  /** A task refused before it ran: `overloaded` (queue full) or the code of its aborted signal (`deadline_exceeded`, …). */
  shed?(reason: string): void;
}

export interface WorkLimiterOptions {
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
export function abortError(signal: AbortSignal, retryAfter = '1'): ServiceError {
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
const ticks = new Map<number, Set<AbortController>>();

function fireTick(slot: number): void {
  const due = ticks.get(slot);
  ticks.delete(slot);
  if (!due) return;
  const reason = new DOMException('The operation was aborted due to timeout', 'TimeoutError');
  for (const ctl of due) if (!ctl.signal.aborted) ctl.abort(reason);
}

function scheduleAbort(ctl: AbortController, at: number): Set<AbortController> {
  const slot = Math.ceil(at / TICK_MS) * TICK_MS;
  let due = ticks.get(slot);
  if (!due) {
    due = new Set();
    ticks.set(slot, due);
    // unref: a deadline never keeps the process alive on its own (a server's sockets do).
    setTimeout(fireTick, Math.max(0, slot - Date.now()), slot).unref();
  }
  due.add(ctl);
  return due;
}

/**
 * A signal that aborts at `ms` from now (reason: a TimeoutError → 503 `deadline_exceeded`,
 * up to one 100 ms tick late) or when `parent` aborts (e.g. the client went away), whichever
 * comes first.
 *
 * Built without `AbortSignal.timeout` + `AbortSignal.any`: on Node 20 the timeout inside such a
 * composite can be garbage-collected before it fires (nodejs/node#57736), and the pair costs
 * ~50 µs. Here a shared tick holds the controller until the deadline (or until the signal
 * aborts for another reason), so it always fires, for ~1–2 µs. The price is that each call is
 * remembered until its deadline: create deadlines where work starts (a cache miss), not for
 * every request — `lazyDeadline` does that. Reading a Hono request's `c.req.raw.signal` for
 * `parent` also builds a full Request, another reason to do it only on a miss.
 */
export function deadlineSignal(ms: number, parent?: AbortSignal): AbortSignal {
  const ctl = new AbortController();
  if (parent?.aborted) {
    ctl.abort(parent.reason);
    return ctl.signal;
  }
  const due = scheduleAbort(ctl, Date.now() + Math.max(0, ms));
  let onParent: (() => void) | undefined;
  if (parent) {
    onParent = () => ctl.abort(parent.reason);
    parent.addEventListener('abort', onParent, { once: true });
  }
  ctl.signal.addEventListener(
    'abort',
    () => {
      due.delete(ctl);
      if (onParent) parent!.removeEventListener('abort', onParent);
    },
    { once: true },
  );
  return ctl.signal;
}

/**
 * A request's deadline, fixed now, whose signal is built on first use: hits and 304s that never
 * read `.signal` pay nothing. `parent` is read lazily too (pass `() => c.req.raw.signal`).
 */
export function lazyDeadline(ms: number, parent?: () => AbortSignal | undefined): { readonly deadline: number; readonly signal: AbortSignal } {
  const deadline = Date.now() + ms;
  let signal: AbortSignal | undefined;
  return {
    deadline,
    get signal() {
      if (!signal) signal = deadlineSignal(Math.max(1, deadline - Date.now()), parent?.());
      return signal;
    },
  };
}
