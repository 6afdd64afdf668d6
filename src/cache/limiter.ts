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

/**
 * A signal that aborts after `ms` (reason: TimeoutError → 503 `deadline_exceeded`) or when
 * `parent` aborts (e.g. the client went away), whichever comes first.
 *
 * Not free: a timer plus AbortSignal.any cost ~50 µs, and reading a Hono request's
 * `c.req.raw.signal` builds a full Request — together more than the rest of a cache hit.
 * Create it only where work starts (a cache miss), e.g. through `lazyDeadline`.
 */
export function deadlineSignal(ms: number, parent?: AbortSignal): AbortSignal {
  const timeout = AbortSignal.timeout(ms);
  return parent ? AbortSignal.any([parent, timeout]) : timeout;
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
