import {
  BatchGetItemCommand,
  CreateTableCommand,
  DynamoDBClient,
  QueryCommand,
  UpdateTimeToLiveCommand,
  type AttributeValue,
  type BatchGetItemCommandOutput,
} from '@aws-sdk/client-dynamodb';

/**
 * The one DynamoDB table that the usage store and the key store (keys and their signing
 * secrets) share, and the one way they reach it. Every item has a string partition key `pk` and a
 * string sort key `sk`; `expiresAt` (epoch seconds) is the table's TTL attribute. Items, with
 * `<p>` the configured prefix (default none):
 *
 * | pk                     | sk        | holds                                                        |
 * | ---------------------- | --------- | ------------------------------------------------------------ |
 * | `<p>plan#<key id>`     | `-`       | token bucket (`tat`) and quota counters (`q<period id>`)     |
 * | `<p>usage#<YYYY-MM-DD>`| key id    | one usage record: the counters of one key on one UTC day     |
 * | `<p>keys`              | key id    | a managed key: plan, dates, SHA-256 of its values, version   |
 * | `<p>keyhash#<sha256>`  | `-`       | look-up of a value's hash → key id, plan, end of grace       |
 * | `<p>keyused#<key id>`  | `-`       | when the key was last used                                   |
 * | `<p>secret#<key id>`   | secret id | one signing secret of the key (as-is: verifying needs it)    |
 *
 * Old token buckets, quota counters of past periods, expired rotation hashes and usage records
 * past their retention carry `expiresAt`, so DynamoDB deletes them without a sweep.
 */
export const TABLE_KEYS = { partition: 'pk', sort: 'sk', ttl: 'expiresAt' } as const;

interface DynamoSettings {
  table: string;
  region?: string;
  endpoint?: string;
  /** A request slower than this fails (and counts as the store being unavailable), milliseconds. */
  timeoutMs: number;
}

/**
 * A client that fails fast: two attempts (the SDK backs off between them, throttling included),
 * each cut at `timeoutMs`, so the caller's fallback policy applies at once and nothing hangs.
 * Credentials and, when not given, the region come from the usual AWS chain.
 */
export function createDynamoClient(s: Omit<DynamoSettings, 'table'>): DynamoDBClient {
  return new DynamoDBClient({
    ...(s.region ? { region: s.region } : {}),
    ...(s.endpoint ? { endpoint: s.endpoint } : {}),
    maxAttempts: 2,
    requestHandler: { requestTimeout: s.timeoutMs, connectionTimeout: s.timeoutMs },
  });
}

/**
 * Creates the table as the CDK app does (on-demand, `pk`/`sk`, TTL on `expiresAt`), for a
 * deployment without CloudFormation and for tests; resolves once the table is usable.
 */
export async function createTable(client: DynamoDBClient, table: string): Promise<void> {
  await client.send(
    new CreateTableCommand({
      TableName: table,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: TABLE_KEYS.partition, AttributeType: 'S' },
        { AttributeName: TABLE_KEYS.sort, AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: TABLE_KEYS.partition, KeyType: 'HASH' },
        { AttributeName: TABLE_KEYS.sort, KeyType: 'RANGE' },
      ],
    }),
  );
  await client.send(new UpdateTimeToLiveCommand({ TableName: table, TimeToLiveSpecification: { Enabled: true, AttributeName: TABLE_KEYS.ttl } }));
}

/** Attribute value helpers: DynamoDB numbers travel as strings. */
export const S = (s: string): AttributeValue => ({ S: s });
export const N = (n: number): AttributeValue => ({ N: String(n) });
export const num = (v: AttributeValue | undefined): number | undefined => (v?.N === undefined ? undefined : Number(v.N));
export const str = (v: AttributeValue | undefined): string | undefined => v?.S;

/** The primary key of an item. */
export const itemKey = (pk: string, sk = '-'): Record<string, AttributeValue> => ({ pk: S(pk), sk: S(sk) });

/** True for a refused condition (UpdateItem, PutItem, DeleteItem). */
export function isConditionFailed(err: unknown): err is Error & { Item?: Record<string, AttributeValue> } {
  return (err as { name?: string })?.name === 'ConditionalCheckFailedException';
}

/** True when a transaction was cancelled because one of its conditions failed. */
export function isTransactionConflict(err: unknown): boolean {
  const e = err as { name?: string; CancellationReasons?: { Code?: string }[] };
  return e?.name === 'TransactionCanceledException' && !!e.CancellationReasons?.some((r) => r.Code === 'ConditionalCheckFailed' || r.Code === 'TransactionConflict');
}

type Item = Record<string, AttributeValue>;

/** Every item of one partition (strongly consistent), page after page. */
export async function queryPartition(client: DynamoDBClient, table: string, pk: string): Promise<Item[]> {
  const items: Item[] = [];
  let start: Item | undefined;
  do {
    const res = await client.send(
      new QueryCommand({ TableName: table, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': S(pk) }, ExclusiveStartKey: start, ConsistentRead: true }),
    );
    items.push(...(res.Items ?? []));
    start = res.LastEvaluatedKey;
  } while (start);
  return items;
}

/** The items that exist among `keys` (strongly consistent), 100 per request, unprocessed keys asked again with backoff. */
export async function batchGet(client: DynamoDBClient, table: string, keys: Item[], projection?: string): Promise<Item[]> {
  const out: Item[] = [];
  for (let i = 0; i < keys.length; i += 100) {
    let request: Item[] | undefined = keys.slice(i, i + 100);
    for (let round = 0; request?.length; round++) {
      if (round > 10) throw new Error('DynamoDB left keys unread');
      if (round > 0) await new Promise((r) => setTimeout(r, Math.min(1000, 50 * 2 ** round)));
      const res: BatchGetItemCommandOutput = await client.send(
        new BatchGetItemCommand({ RequestItems: { [table]: { Keys: request, ConsistentRead: true, ...(projection ? { ProjectionExpression: projection } : {}) } } }),
      );
      out.push(...(res.Responses?.[table] ?? []));
      request = res.UnprocessedKeys?.[table]?.Keys;
    }
  }
  return out;
}
