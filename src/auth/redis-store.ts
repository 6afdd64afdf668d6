import type { Redis } from 'ioredis';
import { closeRedisClient, createRedisClient, firstConnection } from '../redis.ts';
import { sha256hex } from '../digest.ts';
import type { KeyInfo, KeyStore } from './store.ts';
import {
  addSecret,
  checkId,
  revokeSecret,
  secretInfo,
  type SecretInfo,
  type StoredSecret,
  exists,
  keyInfo,
  LookupCache,
  liveKey,
  type HashEntry,
  signingKey,
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

/**
 * Redis layout (`prefix` from config): `keys` set of ids; `key:<id>` hash {plan, created,
 * revoked, hashes (JSON), secrets (JSON, signing secrets as-is), lastUsed}; `keyhash:<sha256>` →
 * JSON {id, plan, expires}, the one read per look-up by value; a signed URL's key is read from
 * `key:<id>` (one HGETALL), cached like a look-up by value. Changes run in WATCH/MULTI transactions. Every id is its own Redis key, so
 * no id can collide with anything but itself.
 */
export class RedisKeyStore implements KeyStore {
  private readonly client: Redis;
  private readonly cache = new LookupCache<HashEntry>();
  private readonly signers = new LookupCache<SigningKey>();
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
    const rec = await this.cache.get(h, async () => {
      await this.connected();
      const raw = await this.client.get(`${this.prefix}keyhash:${h}`);
      return raw ? (JSON.parse(raw) as HashEntry) : null;
    });
    const key = liveKey(rec, this.clock());
    if (key) this.touch(key.id);
    return key;
  }

  async findSigningKey(id: string): Promise<SigningKey | undefined> {
    const rec = await this.signers.get(id, async () => {
      await this.connected();
      return signingKey(id, await this.load(id));
    });
    if (!rec) return undefined;
    this.touch(id);
    return rec;
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
