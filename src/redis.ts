import { Redis } from 'ioredis';

/**
 * An ioredis client that fails fast while Redis is down (no offline queue, one try, a command
 * timeout) and reconnects by itself, so the caller's policy applies at once and recovery needs
 * no restart.
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
