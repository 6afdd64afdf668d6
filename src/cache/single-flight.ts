/**
 * Request coalescing: concurrent calls with the same key share one execution and all receive its
 * result (or the same error). The entry is dropped when the execution settles, so a later call —
 * e.g. after a failure — runs again.
 */
export class SingleFlight {
  private readonly inflight = new Map<string, Promise<unknown>>();
  private readonly onShared?: () => void;

  /** `onShared` is called for every caller that joined an execution already running (for metrics). */
  constructor(opts: { onShared?: () => void } = {}) {
    this.onShared = opts.onShared;
  }

  /** Executions currently running. */
  get size(): number {
    return this.inflight.size;
  }

  has(key: string): boolean {
    return this.inflight.has(key);
  }

  do<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const running = this.inflight.get(key);
    if (running) {
      this.onShared?.();
      return running as Promise<T>;
    }
    // Deferred by a microtask so the entry exists before `fn` runs (even if it throws at once),
    // and removed before any caller resumes, so a caller that retries after an error runs anew.
    const p = Promise.resolve()
      .then(fn)
      .finally(() => {
        this.inflight.delete(key);
      });
    this.inflight.set(key, p);
    return p;
  }
}
