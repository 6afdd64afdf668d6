import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp, type Stats } from 'node:fs';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { createRedisClient, waitReady } from '../redis.ts';
import type { Config } from '../config/schema.ts';
import { ServiceError } from '../errors.ts';
import type { KeyLookup, KeyRecord } from './types.ts';

/**
 * Keys managed at run time by `imagegate keys …`, in a JSON file or in Redis. Only the SHA-256
 * of a key value is stored; the value is shown once, when created or rotated. A revocation is
 * seen by every replica within a second: the file store re-reads the file when it changes, the
 * Redis store caches a look-up for at most 500 ms.
 */

export const KEY_ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
/** How long a look-up result may be reused before the store is asked again. */
const LOOKUP_CACHE_MS = 500;
/** Last-used times are written at most this often per key. */
const TOUCH_EVERY_MS = 60_000;

export interface KeyInfo {
  id: string;
  plan?: string;
  created: string;
  lastUsed?: string;
  revoked?: string;
  /** Key values that currently open the door (2 during a rotation's grace). */
  activeValues: number;
  /** While rotating: when the previous value stops working. */
  graceUntil?: string;
}

export interface KeyStore extends KeyLookup {
  /** Creates a key; the returned value is shown once and never stored. */
  create(input: { id: string; plan?: string }): Promise<{ id: string; key: string }>;
  /** Ids, plans, dates; never key values or hashes. */
  list(): Promise<KeyInfo[]>;
  /** Stops every value of the key at once. */
  revoke(id: string): Promise<void>;
  /** A new value; the current ones keep working for `graceMs` (0: stop now). */
  rotate(id: string, graceMs: number): Promise<{ id: string; key: string; previousValidUntil: string }>;
  /** Notes that the key was used (throttled; never waits on the store). */
  touch(id: string): void;
  close(): Promise<void>;
}

/** A refused key-store operation (unknown id, existing id, revoked key): exit 1 in the CLI. */
export class KeyStoreError extends Error {
  constructor(
    readonly code: 'not_found' | 'exists' | 'revoked' | 'invalid',
    message: string,
  ) {
    super(message);
    this.name = 'KeyStoreError';
  }
}

interface StoredHash {
  sha256: string;
  created: string;
  /** ISO time after which this value no longer works (set by rotate). */
  expires?: string;
}

interface StoredKey {
  plan?: string;
  created: string;
  revoked?: string;
  hashes: StoredHash[];
}

export function newKeyValue(): string {
  return `ig_${randomBytes(32).toString('base64url')}`;
}

const sha256hex = (v: string) => createHash('sha256').update(v, 'utf8').digest('hex');

function checkId(id: string): void {
  if (!KEY_ID_PATTERN.test(id)) throw new KeyStoreError('invalid', `key id '${id}': use letters, digits, _ . - (1 to 64)`);
}

function info(id: string, k: StoredKey, now: number, lastUsed?: string): KeyInfo {
  const live = k.revoked ? [] : k.hashes.filter((h) => !h.expires || Date.parse(h.expires) > now);
  const expiring = live.filter((h) => h.expires).map((h) => h.expires!).sort();
  return {
    id,
    ...(k.plan ? { plan: k.plan } : {}),
    created: k.created,
    ...(lastUsed ? { lastUsed } : {}),
    ...(k.revoked ? { revoked: k.revoked } : {}),
    activeValues: live.length,
    ...(expiring.length ? { graceUntil: expiring[expiring.length - 1] } : {}),
  };
}

function rotateStored(k: StoredKey, hash: string, graceMs: number, now: number): string {
  const until = new Date(now + Math.max(0, graceMs)).toISOString();
  for (const h of k.hashes) {
    if (!h.expires || Date.parse(h.expires) > now + graceMs) h.expires = until;
  }
  k.hashes = k.hashes.filter((h) => Date.parse(h.expires!) > now);
  k.hashes.push({ sha256: hash, created: new Date(now).toISOString() });
  return until;
}

/** Opens the key store from config `keyStore:`. */
export function openKeyStore(cfg: NonNullable<Config['keyStore']>, options: { clock?: () => number } = {}): KeyStore {
  const clock = options.clock ?? Date.now;
  return cfg.type === 'file' ? new FileKeyStore(cfg.path, clock) : new RedisKeyStore(cfg.url, cfg.prefix, clock);
}

// ---------------------------------------------------------------------------------------------

interface FileShape {
  version: 1;
  keys: Record<string, StoredKey>;
}

/**
 * A JSON file (mode 0600) written whole through a temporary file and a rename, under a lock
 * file, so a reader never sees half a file and two writers never lose each other's change.
 * Last-used times go to a separate `<file>.last-used.json`, so serving never rewrites the keys.
 */
class FileKeyStore implements KeyStore {
  private index = new Map<string, { id: string; plan?: string; expires?: number }>();
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

  private async read(): Promise<{ data: FileShape; st?: Stats }> {
    let text: string;
    let st: Stats | undefined;
    try {
      st = await fsp.stat(this.file);
      text = await fsp.readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { data: { version: 1, keys: {} } };
      throw err;
    }
    let data: FileShape;
    try {
      data = JSON.parse(text);
    } catch {
      throw new Error(`key store ${this.file}: not valid JSON`);
    }
    if (!data || typeof data !== 'object' || typeof data.keys !== 'object') throw new Error(`key store ${this.file}: not a key store file`);
    return { data, st };
  }

  private async refresh(): Promise<void> {
    const now = Date.now();
    if (now - this.checkedAt < 250) return;
    if (this.loading) return this.loading;
    this.loading = (async () => {
      let st: Stats | undefined;
      try {
        st = await fsp.stat(this.file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      const stamp = st ? `${st.ino}:${st.mtimeMs}:${st.size}` : 'none';
      if (stamp !== this.stamp) {
        const { data } = await this.read();
        const index = new Map<string, { id: string; plan?: string; expires?: number }>();
        for (const [id, k] of Object.entries(data.keys)) {
          if (k.revoked) continue;
          for (const h of k.hashes) index.set(h.sha256, { id, plan: k.plan, expires: h.expires ? Date.parse(h.expires) : undefined });
        }
        this.index = index;
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

  private async withLock<T>(fn: (data: FileShape) => Promise<{ result: T; write: boolean }> | { result: T; write: boolean }, data?: FileShape): Promise<T> {
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
      const current = data ?? (await this.read()).data;
      const { result, write } = await fn(current);
      if (write) await writeAtomic(this.file, JSON.stringify(current, null, 2) + '\n');
      this.checkedAt = -Infinity;
      return result;
    } finally {
      await fsp.rm(lock, { force: true });
    }
  }

  async create(input: { id: string; plan?: string }): Promise<{ id: string; key: string }> {
    checkId(input.id);
    const key = newKeyValue();
    return this.withLock((data) => {
      if (data.keys[input.id]) throw new KeyStoreError('exists', `key '${input.id}' already exists`);
      const created = new Date(this.clock()).toISOString();
      data.keys[input.id] = { ...(input.plan ? { plan: input.plan } : {}), created, hashes: [{ sha256: sha256hex(key), created }] };
      return { result: { id: input.id, key }, write: true };
    });
  }

  async list(): Promise<KeyInfo[]> {
    const { data } = await this.read();
    const used = await this.readUsed();
    const now = this.clock();
    return Object.entries(data.keys)
      .map(([id, k]) => info(id, k, now, used[id]))
      .sort((a, b) => a.id.localeCompare(b.id));
  }

  async revoke(id: string): Promise<void> {
    await this.withLock((data) => {
      const k = data.keys[id];
      if (!k) throw new KeyStoreError('not_found', `no key '${id}' in the key store`);
      if (k.revoked) return { result: undefined, write: false };
      k.revoked = new Date(this.clock()).toISOString();
      return { result: undefined, write: true };
    });
  }

  async rotate(id: string, graceMs: number): Promise<{ id: string; key: string; previousValidUntil: string }> {
    const key = newKeyValue();
    return this.withLock((data) => {
      const k = data.keys[id];
      if (!k) throw new KeyStoreError('not_found', `no key '${id}' in the key store`);
      if (k.revoked) throw new KeyStoreError('revoked', `key '${id}' is revoked; create a new one`);
      const until = rotateStored(k, sha256hex(key), graceMs, this.clock());
      return { result: { id, key, previousValidUntil: until }, write: true };
    });
  }

  private get usedFile(): string {
    return `${this.file}.last-used.json`;
  }

  private async readUsed(): Promise<Record<string, string>> {
    try {
      return JSON.parse(await fsp.readFile(this.usedFile, 'utf8'));
    } catch {
      return {};
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
        if (!current[id] || current[id] < iso) current[id] = iso;
        this.written.set(id, t);
      }
      await writeAtomic(this.usedFile, JSON.stringify(current, null, 2) + '\n');
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

// ---------------------------------------------------------------------------------------------

/**
 * Redis layout (`prefix` from config): `keys` set of ids; `key:<id>` hash {plan, created,
 * revoked, hashes (JSON), lastUsed}; `keyhash:<sha256>` → JSON {id, plan, expires}, the one
 * read per look-up. Changes run in WATCH/MULTI transactions.
 */
class RedisKeyStore implements KeyStore {
  private readonly client: Redis;
  private readonly cache = new Map<string, { at: number; rec: { id: string; plan?: string; expires?: number } | null }>();
  private readonly touched = new Map<string, number>();
  private everReady = false;

  constructor(
    url: string,
    private readonly prefix: string,
    private readonly clock: () => number,
  ) {
    this.client = createRedisClient(url, 1000, () => {});
    this.client.once('ready', () => (this.everReady = true));
  }

  private firstWait?: Promise<void>;

  /** Only the first commands wait for the connection, once, at most 5 s; later ones fail fast. */
  private connected(): Promise<void> | void {
    if (this.everReady || this.client.status === 'ready') return;
    return (this.firstWait ??= waitReady(this.client, 5000).then(() => {}));
  }

  async findByHash(sha256: string): Promise<KeyRecord | undefined> {
    const h = sha256.toLowerCase();
    const now = Date.now();
    let entry = this.cache.get(h);
    if (!entry || now - entry.at > LOOKUP_CACHE_MS) {
      let raw: string | null;
      try {
        await this.connected();
        raw = await this.client.get(`${this.prefix}keyhash:${h}`);
      } catch (err) {
        throw new ServiceError(503, 'key_store_unavailable', 'API keys cannot be checked right now', { cause: err });
      }
      if (this.cache.size > 10_000) this.cache.clear();
      entry = { at: now, rec: raw ? JSON.parse(raw) : null };
      this.cache.set(h, entry);
    }
    const rec = entry.rec;
    if (!rec || (rec.expires !== undefined && rec.expires <= this.clock())) return undefined;
    this.touch(rec.id);
    return rec.plan ? { id: rec.id, plan: rec.plan } : { id: rec.id };
  }

  private async load(id: string): Promise<StoredKey | undefined> {
    const h = await this.client.hgetall(`${this.prefix}key:${id}`);
    if (!h || !h.created) return undefined;
    return {
      ...(h.plan ? { plan: h.plan } : {}),
      created: h.created,
      ...(h.revoked ? { revoked: h.revoked } : {}),
      hashes: JSON.parse(h.hashes ?? '[]'),
    };
  }

  /** Optimistic transaction on `key:<id>`: retried when another writer got there first. */
  private async change<T>(id: string, fn: (k: StoredKey | undefined, multi: ReturnType<Redis['multi']>) => T): Promise<T> {
    await this.connected();
    const keyName = `${this.prefix}key:${id}`;
    for (let attempt = 0; attempt < 20; attempt++) {
      await this.client.watch(keyName);
      let result: T;
      const multi = this.client.multi();
      try {
        result = fn(await this.load(id), multi);
      } catch (err) {
        multi.discard();
        await this.client.unwatch();
        throw err;
      }
      const res = await multi.exec();
      if (res) {
        const failed = res.find(([e]) => e);
        if (failed) throw failed[0];
        return result;
      }
    }
    throw new Error(`key '${id}': too many concurrent changes`);
  }

  private writeKey(multi: ReturnType<Redis['multi']>, id: string, k: StoredKey): void {
    multi.hset(`${this.prefix}key:${id}`, {
      ...(k.plan ? { plan: k.plan } : {}),
      created: k.created,
      ...(k.revoked ? { revoked: k.revoked } : {}),
      hashes: JSON.stringify(k.hashes),
    });
    multi.sadd(`${this.prefix}keys`, id);
  }

  private writeHash(multi: ReturnType<Redis['multi']>, id: string, k: StoredKey, h: StoredHash): void {
    const name = `${this.prefix}keyhash:${h.sha256}`;
    const expires = h.expires ? Date.parse(h.expires) : undefined;
    multi.set(name, JSON.stringify({ id, ...(k.plan ? { plan: k.plan } : {}), ...(expires ? { expires } : {}) }));
    // Redis forgets a value once its grace has ended (a minute late: clocks differ).
    if (expires) multi.pexpire(name, Math.max(1, expires - this.clock() + 60_000));
  }

  async create(input: { id: string; plan?: string }): Promise<{ id: string; key: string }> {
    checkId(input.id);
    const key = newKeyValue();
    return this.change(input.id, (existing, multi) => {
      if (existing) throw new KeyStoreError('exists', `key '${input.id}' already exists`);
      const created = new Date(this.clock()).toISOString();
      const k: StoredKey = { ...(input.plan ? { plan: input.plan } : {}), created, hashes: [{ sha256: sha256hex(key), created }] };
      this.writeKey(multi, input.id, k);
      this.writeHash(multi, input.id, k, k.hashes[0]!);
      return { id: input.id, key };
    });
  }

  async list(): Promise<KeyInfo[]> {
    await this.connected();
    const ids = (await this.client.smembers(`${this.prefix}keys`)).sort();
    const now = this.clock();
    const out: KeyInfo[] = [];
    for (const id of ids) {
      const k = await this.load(id);
      if (!k) continue;
      const lastUsed = (await this.client.hget(`${this.prefix}key:${id}`, 'lastUsed')) ?? undefined;
      out.push(info(id, k, now, lastUsed));
    }
    return out;
  }

  async revoke(id: string): Promise<void> {
    await this.change(id, (k, multi) => {
      if (!k) throw new KeyStoreError('not_found', `no key '${id}' in the key store`);
      k.revoked ??= new Date(this.clock()).toISOString();
      for (const h of k.hashes) multi.del(`${this.prefix}keyhash:${h.sha256}`);
      this.writeKey(multi, id, k);
    });
    this.cache.clear();
  }

  async rotate(id: string, graceMs: number): Promise<{ id: string; key: string; previousValidUntil: string }> {
    const key = newKeyValue();
    const now = this.clock();
    return this.change(id, (k, multi) => {
      if (!k) throw new KeyStoreError('not_found', `no key '${id}' in the key store`);
      if (k.revoked) throw new KeyStoreError('revoked', `key '${id}' is revoked; create a new one`);
      const before = k.hashes.map((h) => h.sha256);
      const until = rotateStored(k, sha256hex(key), graceMs, now);
      const kept = new Set(k.hashes.map((h) => h.sha256));
      for (const old of before) if (!kept.has(old)) multi.del(`${this.prefix}keyhash:${old}`);
      this.writeKey(multi, id, k);
      for (const h of k.hashes) this.writeHash(multi, id, k, h);
      return { id, key, previousValidUntil: until };
    });
  }

  touch(id: string): void {
    const now = this.clock();
    if (now - (this.touched.get(id) ?? -Infinity) < TOUCH_EVERY_MS) return;
    this.touched.set(id, now);
    this.client.hset(`${this.prefix}key:${id}`, 'lastUsed', new Date(now).toISOString()).catch(() => this.touched.delete(id));
  }

  async close(): Promise<void> {
    try {
      if (this.client.status === 'ready') await this.client.quit();
      else this.client.disconnect();
    } catch {
      this.client.disconnect();
    }
  }
}
