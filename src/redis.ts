import { Redis } from 'ioredis';

/**
 * The one way the usage store and the key store talk to Redis: an ioredis client that fails
 * fast while Redis is down (no offline queue, one try, a command timeout) and reconnects by
 * itself, so the caller's policy applies at once and recovery needs no restart.
 */
export function createRedisClient(url: string, commandTimeoutMs: number, onError: (err: Error) => void): Redis {
  const client = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: commandTimeoutMs,
    connectTimeout: Math.max(1000, commandTimeoutMs * 2),
    autoResendUnfulfilledCommands: false,
    retryStrategy: (times: number) => Math.min(50 * times, 1000),
    lazyConnect: false,
  });
  client.on('error', onError);
  return client;
}

/** Waits until the client is connected, at most `timeoutMs`; false when it is not. */
export async function waitReady(client: Redis, timeoutMs: number): Promise<boolean> {
  if (client.status === 'ready') return true;
  return new Promise<boolean>((resolve) => {
    const done = (ok: boolean) => {
      clearTimeout(timer);
      client.off('ready', onReady);
      resolve(ok);
    };
    const onReady = () => done(true);
    const timer = setTimeout(() => done(false), timeoutMs);
    client.on('ready', onReady);
  });
}

/**
 * Returns a check to call before each command: until the client has been connected once, the
 * first callers wait for that (once, at most `timeoutMs`); afterwards it returns at once, so a
 * Redis that goes down later fails fast instead of queueing.
 */
export function firstConnection(client: Redis, timeoutMs: number): () => Promise<void> | undefined {
  let everReady = client.status === 'ready';
  let first: Promise<void> | undefined;
  client.once('ready', () => (everReady = true));
  return () => {
    if (everReady || client.status === 'ready') return undefined;
    return (first ??= waitReady(client, timeoutMs).then(() => {}));
  };
}

/** Quits politely when connected, otherwise drops the connection; never throws. */
export async function closeRedisClient(client: Redis): Promise<void> {
  try {
    if (client.status === 'ready') await client.quit();
    else client.disconnect();
  } catch {
    client.disconnect();
  }
}
