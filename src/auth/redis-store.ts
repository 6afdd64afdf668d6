import type { Redis } from 'ioredis';
import { ServiceError } from '../errors.ts';
import { closeRedisClient, createRedisClient, firstConnection } from '../redis.ts';
import { sha256hex } from './digest.ts';
import type { KeyInfo, KeyStore } from './store.ts';
import {
  addSecret,
  checkId,
  liveSecrets,
  revokeSecret,
  secretInfo,
  type SecretInfo,
  type StoredSecret,
  exists,
  keyInfo,
  LOOKUP_CACHE_MS,
  newKeyValue,
  newStoredKey,
  notFound,
  revoked,
  rotateStored,
  TOUCH_EVERY_MS,
  type StoredHash,
  type StoredKey,
} from './stored-key.ts';
import type { KeyRecord, SigningKey } from './types.ts';

type Multi = ReturnType<Redis['multi']>;

interface HashEntry {
  id: string;
  plan?: string;
  expires?: number;
}

/**
 * Redis layout (`prefix` from config): `keys` set of ids; `key:<id>` hash {plan, created,
 * revoked, hashes (JSON), secrets (JSON, signing secrets as-is), lastUsed}; `keyhash:<sha256>` →
 * JSON {id, plan, expires}, the one read per look-up by value; a signed URL's key is read from
 * `key:<id>` (one HGETALL), cached like a look-up by value. Changes run in WATCH/MULTI transactions. Every id is its own Redis key, so
 * no id can collide with anything but itself.
 */
export class RedisKeyStore implements KeyStore {
  private readonly client: Redis;
  private readonly cache = new Map<string, { at: number; rec: HashEntry | null }>();
  private readonly signers = new Map<string, { at: number; rec: SigningKey | null }>();
  private readonly touched = new Map<string, number>();
  /** Only the first commands wait for the connection, once, at most 5 s; later ones fail fast. */
  private readonly connected: () => Promise<void> | undefined;

  constructor(
    url: string,
    private readonly prefix: string,
    private readonly clock: () => number,
  ) {
    this.client = createRedisClient(url, 1000, () => {});
    this.connected = firstConnection(this.client, 5000);
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
      entry = { at: now, rec: raw ? (JSON.parse(raw) as HashEntry) : null };
      this.cache.set(h, entry);
    }
    const rec = entry.rec;
    if (!rec || (rec.expires !== undefined && rec.expires <= this.clock())) return undefined;
    this.touch(rec.id);
    return rec.plan ? { id: rec.id, plan: rec.plan } : { id: rec.id };
  }

  async findSigningKey(id: string): Promise<SigningKey | undefined> {
    const now = Date.now();
    let entry = this.signers.get(id);
    if (!entry || now - entry.at > LOOKUP_CACHE_MS) {
      let k: StoredKey | undefined;
      try {
        await this.connected();
        k = await this.load(id);
      } catch (err) {
        throw new ServiceError(503, 'key_store_unavailable', 'API keys cannot be checked right now', { cause: err });
      }
      const secrets = k ? liveSecrets(k).map((x) => x.secret) : [];
      if (this.signers.size > 10_000) this.signers.clear();
      entry = { at: now, rec: k && secrets.length ? { id, ...(k.plan ? { plan: k.plan } : {}), secrets } : null };
      this.signers.set(id, entry);
    }
    if (!entry.rec) return undefined;
    this.touch(id);
    return entry.rec;
  }

  async createSecret(id: string): Promise<{ id: string; secretId: string; secret: string }> {
    return this.change(id, (k, multi) => {
      if (!k) throw notFound(id);
      const r = addSecret(id, k, this.clock());
      this.writeKey(multi, id, k);
      return r;
    });
  }

  async listSecrets(id: string): Promise<SecretInfo[]> {
    await this.connected();
    const k = await this.load(id);
    if (!k) throw notFound(id);
    return secretInfo(k);
  }

  async revokeSecret(id: string, secretId: string): Promise<void> {
    await this.change(id, (k, multi) => {
      if (!k) throw notFound(id);
      if (revokeSecret(id, k, secretId, this.clock())) this.writeKey(multi, id, k);
    });
    this.signers.delete(id);
  }

  private async load(id: string): Promise<StoredKey | undefined> {
    const h = await this.client.hgetall(`${this.prefix}key:${id}`);
    if (!h || !Object.hasOwn(h, 'created')) return undefined;
    return {
      ...(h.plan ? { plan: h.plan } : {}),
      created: h.created!,
      ...(h.revoked ? { revoked: h.revoked } : {}),
      hashes: JSON.parse(h.hashes ?? '[]') as StoredHash[],
      ...(h.secrets ? { secrets: JSON.parse(h.secrets) as StoredSecret[] } : {}),
    };
  }

  /** Optimistic transaction on `key:<id>`: retried when another writer got there first. */
  private async change<T>(id: string, fn: (k: StoredKey | undefined, multi: Multi) => T): Promise<T> {
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

  private writeKey(multi: Multi, id: string, k: StoredKey): void {
    multi.hset(`${this.prefix}key:${id}`, {
      ...(k.plan ? { plan: k.plan } : {}),
      created: k.created,
      ...(k.revoked ? { revoked: k.revoked } : {}),
      hashes: JSON.stringify(k.hashes),
      ...(k.secrets ? { secrets: JSON.stringify(k.secrets) } : {}),
    });
    multi.sadd(`${this.prefix}keys`, id);
  }

  private writeHash(multi: Multi, id: string, k: StoredKey, h: StoredHash): void {
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
      if (existing) throw exists(input.id);
      const k = newStoredKey(input.plan, sha256hex(key), this.clock());
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
      out.push(keyInfo(id, k, now, lastUsed));
    }
    return out;
  }

  async revoke(id: string): Promise<void> {
    await this.change(id, (k, multi) => {
      if (!k) throw notFound(id);
      k.revoked ??= new Date(this.clock()).toISOString();
      for (const h of k.hashes) multi.del(`${this.prefix}keyhash:${h.sha256}`);
      this.writeKey(multi, id, k);
    });
    this.cache.clear();
    this.signers.delete(id);
  }

  async rotate(id: string, graceMs: number): Promise<{ id: string; key: string; previousValidUntil: string }> {
    const key = newKeyValue();
    const now = this.clock();
    return this.change(id, (k, multi) => {
      if (!k) throw notFound(id);
      if (k.revoked) throw revoked(id);
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

  close(): Promise<void> {
    return closeRedisClient(this.client);
  }
}
