import {
  GetItemCommand,
  PutItemCommand,
  TransactWriteItemsCommand,
  type AttributeValue,
  type DynamoDBClient,
  type TransactWriteItem,
} from '@aws-sdk/client-dynamodb';
import { batchGet, createDynamoClient, isTransactionConflict, itemKey, N, num, queryPartition, S, str } from '../dynamodb.ts';
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

interface DynamoKeyStoreSettings {
  table: string;
  region?: string;
  endpoint?: string;
  prefix: string;
}

/**
 * Managed keys in the DynamoDB table (layout in src/dynamodb.ts): per key an item under
 * `<prefix>keys` (plan, dates, the SHA-256 of its values, a version), per live value an item
 * `<prefix>keyhash#<sha256>` (the one read per look-up; values in a rotation's grace carry the
 * TTL attribute), `<prefix>keyused#<id>` for the last-used time, and per signing secret an
 * item `<prefix>secret#<id>` / secret id (kept as-is, as in the file and Redis stores: verifying
 * a signature needs the secret). A change writes the key item and its hash and secret items in
 * one transaction conditioned on the version it read, retried when another writer got there
 * first. Look-ups (by value, and a signed URL's key with its secrets) are cached for at most
 * LOOKUP_CACHE_MS, as in the Redis store, so a revocation is seen by every instance within that.
 */
export class DynamoKeyStore implements KeyStore {
  private readonly client: DynamoDBClient;
  private readonly table: string;
  private readonly prefix: string;
  private readonly cache = new LookupCache<HashEntry>();
  private readonly signers = new LookupCache<SigningKey>();
  private readonly touched = new Map<string, number>();
  /** Last-used writes on their way (close waits for them). */
  private readonly writing = new Set<Promise<unknown>>();

  constructor(
    s: DynamoKeyStoreSettings,
    private readonly clock: () => number,
    client?: DynamoDBClient,
  ) {
    this.table = s.table;
    this.prefix = s.prefix;
    this.client = client ?? createDynamoClient({ region: s.region, endpoint: s.endpoint, timeoutMs: 1000 });
  }

  private get listPk(): string {
    return `${this.prefix}keys`;
  }

  private secretPk(id: string): string {
    return `${this.prefix}secret#${id}`;
  }

  private hashPk(sha256: string): string {
    return `${this.prefix}keyhash#${sha256}`;
  }

  async findByHash(sha256: string): Promise<KeyRecord | undefined> {
    const h = sha256.toLowerCase();
    const rec = await this.cache.get(h, async () => {
      const item = (await this.client.send(new GetItemCommand({ TableName: this.table, Key: itemKey(this.hashPk(h)), ConsistentRead: true }))).Item;
      if (!item) return null;
      const plan = str(item.plan);
      const expires = num(item.expires);
      return { id: str(item.id)!, ...(plan ? { plan } : {}), ...(expires !== undefined ? { expires } : {}) };
    });
    const key = liveKey(rec, this.clock());
    if (key) this.touch(key.id);
    return key;
  }

  async findSigningKey(id: string): Promise<SigningKey | undefined> {
    const rec = await this.signers.get(id, async () => signingKey(id, (await this.load(id))?.k));
    if (!rec) return undefined;
    this.touch(id);
    return rec;
  }

  async createSecret(id: string): Promise<{ id: string; secretId: string; secret: string }> {
    return this.change(id, (current) => {
      if (!current) throw notFound(id);
      const r = addSecret(id, current.k, this.clock());
      const s = current.k.secrets!.find((x) => x.id === r.secretId)!;
      return { items: [this.putKey(id, current.k, current.version), this.putSecret(id, s, true)], result: r };
    });
  }

  async listSecrets(id: string): Promise<SecretInfo[]> {
    const current = await this.load(id);
    if (!current) throw notFound(id);
    return secretInfo(current.k);
  }

  async revokeSecret(id: string, secretId: string): Promise<void> {
    await this.change(id, (current) => {
      if (!current) throw notFound(id);
      if (!revokeSecret(id, current.k, secretId, this.clock())) return { items: [], result: undefined };
      const s = current.k.secrets!.find((x) => x.id === secretId)!;
      return { items: [this.putKey(id, current.k, current.version), this.putSecret(id, s, false)], result: undefined };
    });
  }

  private fromItem(item: Record<string, AttributeValue>, secretItems: Record<string, AttributeValue>[]): StoredKey {
    const plan = str(item.plan);
    const rev = str(item.revoked);
    const secrets = secretItems.map((it): StoredSecret => {
      const r = str(it.revoked);
      return { id: str(it.sk)!, secret: str(it.secret)!, created: str(it.created)!, ...(r ? { revoked: r } : {}) };
    });
    return {
      ...(plan ? { plan } : {}),
      created: str(item.created)!,
      ...(rev ? { revoked: rev } : {}),
      hashes: JSON.parse(str(item.hashes) ?? '[]') as StoredHash[],
      ...(secrets.length ? { secrets: secrets.sort((a, b) => a.created.localeCompare(b.created)) } : {}),
    };
  }

  /** The key item and its secret items (two strongly consistent reads). */
  private async load(id: string): Promise<{ k: StoredKey; version: number } | undefined> {
    const [res, secrets] = await Promise.all([
      this.client.send(new GetItemCommand({ TableName: this.table, Key: itemKey(this.listPk, id), ConsistentRead: true })),
      queryPartition(this.client, this.table, this.secretPk(id)),
    ]);
    if (!res.Item) return undefined;
    return { k: this.fromItem(res.Item, secrets), version: num(res.Item.version) ?? 0 };
  }

  /** One signing secret's item; a new one only if its id is not taken. */
  private putSecret(id: string, s: StoredSecret, isNew: boolean): TransactWriteItem {
    const item: Record<string, AttributeValue> = { ...itemKey(this.secretPk(id), s.id), secret: S(s.secret), created: S(s.created) };
    if (s.revoked) item.revoked = S(s.revoked);
    return { Put: { TableName: this.table, Item: item, ...(isNew ? { ConditionExpression: 'attribute_not_exists(pk)' } : {}) } };
  }

  /** The key item, written only if nobody changed it since `version` was read (or, for a new key, if it does not exist). */
  private putKey(id: string, k: StoredKey, version: number | undefined): TransactWriteItem {
    const item: Record<string, AttributeValue> = {
      ...itemKey(this.listPk, id),
      id: S(id),
      created: S(k.created),
      hashes: S(JSON.stringify(k.hashes)),
      version: N((version ?? 0) + 1),
    };
    if (k.plan) item.plan = S(k.plan);
    if (k.revoked) item.revoked = S(k.revoked);
    return {
      Put: {
        TableName: this.table,
        Item: item,
        ...(version === undefined
          ? { ConditionExpression: 'attribute_not_exists(pk)' }
          : { ConditionExpression: 'version = :v', ExpressionAttributeValues: { ':v': N(version) } }),
      },
    };
  }

  private putHash(id: string, k: StoredKey, h: StoredHash): TransactWriteItem {
    const item: Record<string, AttributeValue> = { ...itemKey(this.hashPk(h.sha256)), id: S(id) };
    if (k.plan) item.plan = S(k.plan);
    if (h.expires) {
      const expires = Date.parse(h.expires);
      item.expires = N(expires);
      // DynamoDB deletes the value's item once its grace has ended (a minute late: clocks differ).
      item.expiresAt = N(Math.ceil((expires + 60_000) / 1000));
    }
    return { Put: { TableName: this.table, Item: item } };
  }

  private deleteHash(sha256: string): TransactWriteItem {
    return { Delete: { TableName: this.table, Key: itemKey(this.hashPk(sha256)) } };
  }

  /** Read, change, write in one transaction on the version read; retried when another writer got there first. */
  private async change<T>(id: string, fn: (current: { k: StoredKey; version: number } | undefined) => { items: TransactWriteItem[]; result: T }): Promise<T> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const { items, result } = fn(await this.load(id));
      try {
        if (items.length) await this.client.send(new TransactWriteItemsCommand({ TransactItems: items }));
        this.cache.clear();
        this.signers.delete(id);
        return result;
      } catch (err) {
        if (!isTransactionConflict(err)) throw err;
        await new Promise((r) => setTimeout(r, 20 * (attempt + 1)));
      }
    }
    throw new Error(`key '${id}': too many concurrent changes`);
  }

  async create(input: { id: string; plan?: string }): Promise<{ id: string; key: string }> {
    checkId(input.id);
    const key = newKeyValue();
    return this.change(input.id, (current) => {
      if (current) throw exists(input.id);
      const k = newStoredKey(input.plan, sha256hex(key), this.clock());
      return { items: [this.putKey(input.id, k, undefined), this.putHash(input.id, k, k.hashes[0]!)], result: { id: input.id, key } };
    });
  }

  async list(): Promise<KeyInfo[]> {
    const items = await queryPartition(this.client, this.table, this.listPk);
    const secrets = await Promise.all(items.map((it) => queryPartition(this.client, this.table, this.secretPk(it.sk!.S!))));
    const used = await batchGet(this.client, this.table, items.map((it) => itemKey(`${this.prefix}keyused#${it.sk!.S!}`)), 'pk, lastUsed');
    const lastUsed = new Map(used.map((it) => [it.pk!.S!.slice(`${this.prefix}keyused#`.length), str(it.lastUsed)!]));
    const now = this.clock();
    // Query returns ids in sort-key (byte) order: the order of a JS sort of ASCII ids.
    return items.map((it, i) => keyInfo(it.sk!.S!, this.fromItem(it, secrets[i]!), now, lastUsed.get(it.sk!.S!)));
  }

  async revoke(id: string): Promise<void> {
    await this.change(id, (current) => {
      if (!current) throw notFound(id);
      const { k, version } = current;
      k.revoked ??= new Date(this.clock()).toISOString();
      return { items: [this.putKey(id, k, version), ...k.hashes.map((h) => this.deleteHash(h.sha256))], result: undefined };
    });
  }

  async rotate(id: string, graceMs: number): Promise<{ id: string; key: string; previousValidUntil: string }> {
    const key = newKeyValue();
    const now = this.clock();
    return this.change(id, (current) => {
      if (!current) throw notFound(id);
      const { k, version } = current;
      if (k.revoked) throw revoked(id);
      const before = k.hashes.map((h) => h.sha256);
      const until = rotateStored(k, sha256hex(key), graceMs, now);
      const kept = new Set(k.hashes.map((h) => h.sha256));
      return {
        items: [
          this.putKey(id, k, version),
          ...before.filter((h) => !kept.has(h)).map((h) => this.deleteHash(h)),
          ...k.hashes.map((h) => this.putHash(id, k, h)),
        ],
        result: { id, key, previousValidUntil: until },
      };
    });
  }

  touch(id: string): void {
    const now = this.clock();
    if (now - (this.touched.get(id) ?? -Infinity) < TOUCH_EVERY_MS) return;
    this.touched.set(id, now);
    const write = this.client
      .send(new PutItemCommand({ TableName: this.table, Item: { ...itemKey(`${this.prefix}keyused#${id}`), lastUsed: S(new Date(now).toISOString()) } }))
      .catch(() => this.touched.delete(id))
      .finally(() => this.writing.delete(write));
    this.writing.add(write);
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.writing]);
    this.client.destroy();
  }
}
