import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { ServiceError } from '../errors.ts';
import { sha256hex } from '../digest.ts';
import type { KeyInfo, KeyStore } from './store.ts';
import {
  addSecret,
  checkId,
  exists,
  keyInfo,
  signingKey,
  newKeyValue,
  newStoredKey,
  notFound,
  revoked,
  revokeSecret,
  rotateStored,
  secretInfo,
  TOUCH_EVERY_MS,
  type SecretInfo,
  type StoredKey,
} from './stored-key.ts';
import type { KeyRecord, SigningKey } from './types.ts';

/** The file's keys by id: a Map, so an id such as `constructor` or `__proto__` is an id like any other. */
type Keys = Map<string, StoredKey>;

interface IndexEntry {
  id: string;
  plan?: string;
  expires?: number;
}

/**
 * A JSON file `{version: 1, keys: {id: …}}` (mode 0600) written whole through a temporary file
 * and a rename, under a lock file, so a reader never sees half a file and two writers never
 * lose each other's change. Last-used times go to a separate `<file>.last-used.json`, so serving
 * never rewrites the keys.
 */
export class FileKeyStore implements KeyStore {
  private index = new Map<string, IndexEntry>();
  /** Key id → live signing secrets (keys that have any). */
  private signers = new Map<string, SigningKey>();
  private stamp = '';
  private checkedAt = -Infinity;
  private loading: Promise<void> | undefined;
  private readonly used = new Map<string, number>();
  private readonly written = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly file: string,
    private readonly clock: () => number,
  ) {}

  private async read(): Promise<Keys> {
    let text: string;
    try {
      text = await fsp.readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
      throw err;
    }
    let data: { keys?: unknown };
    try {
      data = JSON.parse(text);
    } catch {
      throw new Error(`key store ${this.file}: not valid JSON`);
    }
    if (!data || typeof data !== 'object' || !data.keys || typeof data.keys !== 'object') throw new Error(`key store ${this.file}: not a key store file`);
    // JSON.parse makes every id an own property (`__proto__` included); Object.entries reads exactly those.
    return new Map(Object.entries(data.keys as Record<string, StoredKey>));
  }

  private async write(keys: Keys): Promise<void> {
    // Object.fromEntries defines own properties, so `__proto__` is written as a key, not a prototype.
    await writeAtomic(this.file, JSON.stringify({ version: 1, keys: Object.fromEntries(keys) }, null, 2) + '\n');
  }

  private async refresh(): Promise<void> {
    const now = Date.now();
    if (now - this.checkedAt < 250) return;
    if (this.loading) return this.loading;
    this.loading = (async () => {
      const st = await fsp.stat(this.file).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return undefined;
        throw err;
      });
      const stamp = st ? `${st.ino}:${st.mtimeMs}:${st.size}` : 'none';
      if (stamp !== this.stamp) {
        const index = new Map<string, IndexEntry>();
        const signers = new Map<string, SigningKey>();
        for (const [id, k] of await this.read()) {
          if (k.revoked) continue;
          for (const h of k.hashes) index.set(h.sha256, { id, plan: k.plan, expires: h.expires ? Date.parse(h.expires) : undefined });
          const signer = signingKey(id, k);
          if (signer) signers.set(id, signer);
        }
        this.index = index;
        this.signers = signers;
        this.stamp = stamp;
      }
      this.checkedAt = Date.now();
    })().finally(() => (this.loading = undefined));
    return this.loading;
  }

  async findByHash(sha256: string): Promise<KeyRecord | undefined> {
    try {
      await this.refresh();
    } catch (err) {
      throw new ServiceError(503, 'key_store_unavailable', 'API keys cannot be checked right now', { cause: err });
    }
    const hit = this.index.get(sha256.toLowerCase());
    if (!hit || (hit.expires !== undefined && hit.expires <= this.clock())) return undefined;
    this.touch(hit.id);
    return hit.plan ? { id: hit.id, plan: hit.plan } : { id: hit.id };
  }

  async findSigningKey(id: string): Promise<SigningKey | undefined> {
    try {
      await this.refresh();
    } catch (err) {
      throw new ServiceError(503, 'key_store_unavailable', 'API keys cannot be checked right now', { cause: err });
    }
    const hit = this.signers.get(id);
    if (hit) this.touch(id);
    return hit;
  }

  async createSecret(id: string): Promise<{ id: string; secretId: string; secret: string }> {
    return this.withLock((keys) => {
      const k = keys.get(id);
      if (!k) throw notFound(id);
      return { result: addSecret(id, k, this.clock()), write: true };
    });
  }

  async listSecrets(id: string): Promise<SecretInfo[]> {
    const k = (await this.read()).get(id);
    if (!k) throw notFound(id);
    return secretInfo(k);
  }

  async revokeSecret(id: string, secretId: string): Promise<void> {
    await this.withLock((keys) => {
      const k = keys.get(id);
      if (!k) throw notFound(id);
      return { result: undefined, write: revokeSecret(id, k, secretId, this.clock()) };
    });
  }

  /** Runs `fn` on the current keys under the lock; writes them back when it says so. */
  private async withLock<T>(fn: (keys: Keys) => { result: T; write: boolean }): Promise<T> {
    const lock = `${this.file}.lock`;
    await fsp.mkdir(path.dirname(this.file), { recursive: true });
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        const h = await fsp.open(lock, 'wx');
        await h.writeFile(String(process.pid));
        await h.close();
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const st = await fsp.stat(lock).catch(() => undefined);
        if (st && Date.now() - st.mtimeMs > 30_000) await fsp.rm(lock, { force: true });
        if (Date.now() > deadline) throw new Error(`key store ${this.file}: locked by another process (${lock})`);
        await new Promise((r) => setTimeout(r, 25));
      }
    }
    try {
      const keys = await this.read();
      const { result, write } = fn(keys);
      if (write) await this.write(keys);
      this.checkedAt = -Infinity;
      return result;
    } finally {
      await fsp.rm(lock, { force: true });
    }
  }

  async create(input: { id: string; plan?: string }): Promise<{ id: string; key: string }> {
    checkId(input.id);
    const key = newKeyValue();
    return this.withLock((keys) => {
      if (keys.has(input.id)) throw exists(input.id);
      keys.set(input.id, newStoredKey(input.plan, sha256hex(key), this.clock()));
      return { result: { id: input.id, key }, write: true };
    });
  }

  async list(): Promise<KeyInfo[]> {
    const keys = await this.read();
    const used = await this.readUsed();
    const now = this.clock();
    return [...keys].map(([id, k]) => keyInfo(id, k, now, used.get(id))).sort((a, b) => a.id.localeCompare(b.id));
  }

  async revoke(id: string): Promise<void> {
    await this.withLock((keys) => {
      const k = keys.get(id);
      if (!k) throw notFound(id);
      if (k.revoked) return { result: undefined, write: false };
      k.revoked = new Date(this.clock()).toISOString();
      return { result: undefined, write: true };
    });
  }

  async rotate(id: string, graceMs: number): Promise<{ id: string; key: string; previousValidUntil: string }> {
    const key = newKeyValue();
    return this.withLock((keys) => {
      const k = keys.get(id);
      if (!k) throw notFound(id);
      if (k.revoked) throw revoked(id);
      const until = rotateStored(k, sha256hex(key), graceMs, this.clock());
      return { result: { id, key, previousValidUntil: until }, write: true };
    });
  }

  private get usedFile(): string {
    return `${this.file}.last-used.json`;
  }

  private async readUsed(): Promise<Map<string, string>> {
    try {
      return new Map(Object.entries(JSON.parse(await fsp.readFile(this.usedFile, 'utf8')) as Record<string, string>));
    } catch {
      return new Map();
    }
  }

  touch(id: string): void {
    const now = this.clock();
    this.used.set(id, now);
    if (now - (this.written.get(id) ?? -Infinity) >= TOUCH_EVERY_MS && !this.timer) {
      this.timer = setTimeout(() => void this.writeUsed(), 1000);
      this.timer.unref();
    }
  }

  private async writeUsed(): Promise<void> {
    this.timer = undefined;
    if (this.used.size === 0) return;
    const batch = new Map(this.used);
    this.used.clear();
    try {
      const current = await this.readUsed();
      for (const [id, t] of batch) {
        const iso = new Date(t).toISOString();
        const before = current.get(id);
        if (!before || before < iso) current.set(id, iso);
        this.written.set(id, t);
      }
      await writeAtomic(this.usedFile, JSON.stringify(Object.fromEntries(current), null, 2) + '\n');
    } catch {
      // Last-used times are advisory; the next use tries again.
      for (const [id, t] of batch) if (!this.used.has(id)) this.used.set(id, t);
    }
  }

  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    await this.writeUsed();
  }
}

async function writeAtomic(file: string, text: string): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  await fsp.writeFile(tmp, text, { mode: 0o600 });
  await fsp.rename(tmp, file);
}
