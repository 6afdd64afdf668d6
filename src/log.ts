import pino, { type Logger } from 'pino';

export interface LoggerOptions {
  /**
   * Collect lines and write them in blocks of about 16 KiB (and at least every 100 ms, and at
   * exit) instead of one write(2) per line. For the long-running Node server, where a
   * synchronous write per request line was a quarter of the CPU of a cache hit; not for Lambda,
   * whose process may be frozen between invocations with lines still unwritten.
   */
  buffered?: boolean;
  /** Write to standard error (a command whose standard output is its result, like `warm`). */
  stderr?: boolean;
}

/** JSON logs to standard output; anything that could hold a secret is redacted by path. */
export function createLogger(level: string = 'info', options: LoggerOptions = {}): Logger {
  const settings = {
    level,
    base: { service: 'imagegate' },
    redact: {
      paths: ['apiKey', 'key', 'token', 'password', 'secret', 'headers["x-api-key"]', 'headers.cookie', 'headers.authorization', 'req.headers["x-api-key"]', 'req.headers.authorization'],
      censor: '[redacted]',
    },
  };
  if (options.stderr) return pino(settings, pino.destination(2));
  if (!options.buffered) return pino(settings);
  // pino flushes an asynchronous destination at exit; periodicFlush keeps a quiet server's lines prompt.
  // Lines go in as buffers, which the destination lists and joins once per block: given strings,
  // it appends each line to the block collected so far and measures the whole block again (a
  // cost that grows with the block, paid per line).
  const out = pino.destination({ dest: 1, sync: false, minLength: 16 * 1024, maxWrite: 64 * 1024, periodicFlush: 100, contentMode: 'buffer' });
  // Looked up per line: on EPIPE pino replaces the destination's write with a no-op. (Typed for strings only.)
  const blocks = out as unknown as { write(block: Buffer): boolean };
  return pino(settings, { write: (line: string) => blocks.write(Buffer.from(line)), flush: (cb?: (err?: Error) => void) => out.flush(cb) } as pino.DestinationStream);
}

/**
 * Query strings in logs lose any parameter that looks like a credential: API keys, tokens,
 * passwords and secrets, URL signatures (imgix `s`, AWS SigV4 `X-Amz-*`). Names are compared
 * case-insensitively after percent-decoding, so `%6bey=` is `key=`.
 */
export function redactQuery(query: string): string {
  if (!query || !MAYBE_SECRET.test(query)) return query;
  return query
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      if (eq === -1) return pair;
      const name = pair.slice(0, eq);
      return SECRET_NAME.test(name.includes('%') ? decodeName(name) : name) ? `${name}=[redacted]` : pair;
    })
    .join('&');
}

function decodeName(name: string): string {
  try {
    return decodeURIComponent(name.replace(/\+/g, ' '));
  } catch {
    return name;
  }
}

const SECRET_NAMES = [
  'api[_-]?key',
  'x-api-key',
  'key',
  'token',
  'access[_-]?token',
  'password',
  'passwd',
  'secret',
  'client[_-]?secret',
  'signature',
  'sig',
  's',
  'x-amz-signature',
  'x-amz-credential',
  'x-amz-security-token',
].join('|');
const SECRET_NAME = new RegExp(`^(?:${SECRET_NAMES})$`, 'i');
/** Whether any pair of a query may be a secret one (or has a percent-encoded name): one test for the common query that has none. */
const MAYBE_SECRET = new RegExp(`(?:^|&)(?:(?:${SECRET_NAMES})=|[^=&%]*%[^=&]*=)`, 'i');

/**
 * A URL fit to print: the password of its userinfo (or a lone user name, which is often a
 * token) becomes `***` — `https://u:PASS@host/` → `https://u:***@host/`. Anything that does not
 * parse as a URL with userinfo is returned as it is.
 */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)@/i, (_, scheme: string, info: string) => {
    const colon = info.indexOf(':');
    return `${scheme}${colon === -1 ? '***' : `${info.slice(0, colon)}:***`}@`;
  });
}

export type { Logger };
