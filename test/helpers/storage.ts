/**
 * A storage wrapper for tests: counts head/get/open calls, full reads into memory and closes of
 * opened files; can hold every source read (get or open) until released; runs `afterOpen`
 * between an open and the render. `open` is offered only when the wrapped storage has it, so
 * the app takes the same path it takes in production.
 */
import type { ObjectMeta, OpenedObject, Storage, StoredObject } from '../../src/storage/types.ts';

export class CountingStorage implements Storage {
  heads = 0;
  gets = 0;
  opens = 0;
  /** Whole files read into memory through an opened handle. */
  fileReads = 0;
  closes = 0;
  open?: Storage['open'];
  private gate?: Promise<void>;
  private release?: () => void;

  constructor(
    private readonly inner: Storage,
    hooks: { afterOpen?: (key: string) => void } = {},
  ) {
    const innerOpen = inner.open?.bind(inner);
    if (innerOpen) {
      this.open = async (key, signal): Promise<OpenedObject | undefined> => {
        this.opens++;
        if (this.gate) await this.gate;
        const opened = await innerOpen(key, signal);
        if (!opened) return undefined;
        hooks.afterOpen?.(key);
        return {
          ...opened,
          read: () => {
            this.fileReads++;
            return opened.read();
          },
          close: () => {
            this.closes++;
            return opened.close();
          },
        };
      };
    }
  }

  /** Source reads of either kind. */
  get reads(): number {
    return this.gets + this.opens;
  }

  hold(): void {
    this.gate = new Promise((r) => (this.release = r));
  }

  unhold(): void {
    this.release?.();
    this.gate = undefined;
  }

  async head(key: string, signal?: AbortSignal): Promise<ObjectMeta | undefined> {
    this.heads++;
    return this.inner.head(key, signal);
  }

  async get(key: string, signal?: AbortSignal): Promise<StoredObject | undefined> {
    this.gets++;
    if (this.gate) await this.gate;
    return this.inner.get(key, signal);
  }
}
