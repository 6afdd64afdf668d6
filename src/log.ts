import pino, { type Logger } from 'pino';

export interface LoggerOptions {
  /**
   * Collect lines and write them in blocks of about 4 KiB (and at least every 100 ms, and at
   * exit) instead of one write(2) per line. For the long-running Node server, where a
   * synchronous write per request line was a quarter of the CPU of a cache hit; not for Lambda,
   * whose process may be frozen between invocations with lines still unwritten.
   */
  buffered?: boolean;
}

/** JSON logs to standard output; anything that could hold a secret is redacted by path. */
export function createLogger(level: string = 'info', options: LoggerOptions = {}): Logger {
  const settings = {
    level,
    base: { service: 'imagegate' },
    redact: {
      paths: ['apiKey', 'key', 'token', 'headers["x-api-key"]', 'headers.authorization', 'req.headers["x-api-key"]', 'req.headers.authorization'],
      censor: '[redacted]',
    },
  };
  if (!options.buffered) return pino(settings);
  // pino flushes an asynchronous destination at exit; periodicFlush keeps a quiet server's lines prompt.
  return pino(settings, pino.destination({ dest: 1, sync: false, minLength: 4096, periodicFlush: 100 }));
}

/** Query strings in logs lose any parameter that looks like a credential. */
export function redactQuery(query: string): string {
  if (!query || !SECRET_PARAM.test(query)) return query;
  return query
    .split('&')
    .map((pair) => (SECRET_PAIR.test(pair) ? pair.replace(/=.*/, '=[redacted]') : pair))
    .join('&');
}

const SECRET_NAMES = 'api[_-]?key|x-api-key|key|token|access[_-]?token';
const SECRET_PAIR = new RegExp(`^(${SECRET_NAMES})=`, 'i');
/** Whether any pair of a query is a secret one: one test for the common query that has none. */
const SECRET_PARAM = new RegExp(`(?:^|&)(${SECRET_NAMES})=`, 'i');

export type { Logger };
