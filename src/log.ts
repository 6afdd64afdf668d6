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

/** The logger's settings (level aside): also what the tests hold the fast request line against. */
export const LOG_SETTINGS = {
  base: { service: 'imagegate' },
  redact: {
    paths: ['apiKey', 'key', 'token', 'password', 'secret', 'headers["x-api-key"]', 'headers.cookie', 'headers.authorization', 'req.headers["x-api-key"]', 'req.headers.authorization'],
    censor: '[redacted]',
  },
};

/** Lines are handed on in blocks of at least this many characters (and at least every FLUSH_MS, and at exit). */
const BLOCK_CHARS = 16 * 1024;
const FLUSH_MS = 100;

/** JSON logs to standard output; anything that could hold a secret is redacted by path. */
export function createLogger(level: string = 'info', options: LoggerOptions = {}): Logger {
  const settings = { level, ...LOG_SETTINGS };
  if (options.stderr) return pino(settings, pino.destination(2));
  if (!options.buffered) return pino(settings);
  // pino flushes an asynchronous destination at exit. Lines are collected here in a list and
  // handed to the destination joined, as one buffer per block: one join and one conversion per
  // ~16 KiB instead of a Buffer.from per line, and the destination never re-measures a growing
  // block. (Appending to one string instead builds a rope that is slower to convert than the
  // lines one by one.) Each block is written at once (write(2) on the event loop's thread, as
  // pino's default destination writes): an asynchronous write goes through libuv's thread pool,
  // whose thread wake-ups and completion callbacks cost a cache hit more than the write itself
  // (with them, the request line took a fifth of a hit's CPU at 2 clients; bench/RESULTS.md).
  const out = pino.destination({ dest: 1, sync: true, minLength: 0, maxWrite: 64 * 1024, contentMode: 'buffer' });
  // Looked up per block: on EPIPE pino replaces the destination's write with a no-op. (Typed for strings only.)
  const blocks = out as unknown as { write(block: Buffer): boolean };
  let pending: string[] = [];
  let chars = 0;
  let timer: NodeJS.Timeout | undefined;
  const handOn = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (pending.length === 0) return;
    const block = Buffer.from(pending.join(''));
    pending = [];
    chars = 0;
    blocks.write(block);
  };
  const atExit = (event: 'beforeExit' | 'exit') => {
    try {
      handOn();
      // Anything the destination still holds (a write that met a full pipe), before the process goes.
      if (event === 'exit') out.flushSync();
    } catch {
      // Closed, ended or never opened: nothing more can be written.
    }
  };
  registerExitFlush(atExit);
  return pino(settings, {
    write(line: string) {
      pending.push(line);
      chars += line.length;
      if (chars >= BLOCK_CHARS) handOn();
      else timer ??= setTimeout(handOn, FLUSH_MS).unref();
    },
    flush(cb?: (err?: Error) => void) {
      handOn();
      out.flush(cb);
    },
    // Held by the destination, so by the logger: the exit hook lives as long as the logger does.
    atExit,
  } as pino.DestinationStream);
}

/** Buffered loggers' hand-on at exit (weakly held: a logger nobody uses any more goes). */
const exitFlushes = new Set<WeakRef<(event: 'beforeExit' | 'exit') => void>>();
let exitFlushInstalled = false;
function registerExitFlush(atExit: (event: 'beforeExit' | 'exit') => void): void {
  for (const ref of exitFlushes) if (ref.deref() === undefined) exitFlushes.delete(ref);
  exitFlushes.add(new WeakRef(atExit));
  if (exitFlushInstalled) return;
  exitFlushInstalled = true;
  // Before every other listener: pino flushes and ends its destinations on the same events.
  for (const event of ['beforeExit', 'exit'] as const) {
    process.prependListener(event, () => {
      for (const ref of exitFlushes) ref.deref()?.(event);
    });
  }
}

const { lsCacheSym, timeSym, chindingsSym, streamSym, endSym, messageKeySym, mixinSym, hooksSym, formattersSym, nestedKeySym, msgPrefixSym, serializersSym, stringifiersSym, needsMetadataGsym, wildcardFirstSym } =
  pino.symbols as typeof pino.symbols & { msgPrefixSym: symbol };

/** The fields of a line that lineWriter writes itself: strings, finite numbers, booleans, or undefined (left out). */
export type LineFields = Record<string, string | number | boolean | undefined>;

/**
 * A writer of info lines of a fixed shape (the request log line: a few flat string and number
 * fields), byte for byte what `logger.info(fields, msg)` writes — level, time, the logger's
 * bindings, the fields in order without the undefined ones, `msg` — without pino's general
 * path (serializers, redaction, mixins, hooks), which costs several times the line itself.
 * Used only on a logger whose settings leave such a line untouched: none of `names` is
 * redacted or has a serializer, and no mixin, hook, log formatter, nesting key or message
 * prefix is set; on any other logger it is `logger.info`. The caller checks the level.
 */
export function lineWriter(logger: Logger, names: readonly string[]): (fields: LineFields, msg: string) => void {
  const l = logger as unknown as Record<symbol, any>;
  const plain =
    !l[mixinSym] &&
    !l[hooksSym]?.streamWrite &&
    !l[formattersSym]?.log &&
    !l[nestedKeySym] &&
    typeof l[msgPrefixSym] !== 'string' &&
    l[messageKeySym] === 'msg' &&
    typeof l[lsCacheSym]?.[30] === 'string' &&
    typeof l[endSym] === 'string' &&
    !l[stringifiersSym]?.[wildcardFirstSym] &&
    names.every((n) => !l[serializersSym]?.[n] && !l[stringifiersSym]?.[n] && !(n === 'err' && l[serializersSym]?.err));
  if (!plain) return (fields, msg) => logger.info(fields, msg);
  const level = l[lsCacheSym][30] as string;
  return (fields, msg) => {
    const stream = l[streamSym];
    if (stream[needsMetadataGsym] === true) return logger.info(fields, msg);
    let line = level + l[timeSym]() + l[chindingsSym];
    for (const name in fields) {
      const v = fields[name];
      if (v === undefined) continue;
      line += `,"${name}":${typeof v === 'string' ? jsonString(v) : typeof v === 'number' && !Number.isFinite(v) ? 'null' : v}`;
    }
    stream.write(`${line},"msg":${jsonString(msg)}${l[endSym]}`);
  };
}

const LONE_SURROGATE = /[\ud800-\udfff]/;
const CONTROL = /[\x00-\x1f]/;

/**
 * A string as pino writes it: JSON.stringify's form, except that pino leaves UTF-16 surrogates
 * of a string of up to 100 characters without control characters as they are (JSON.stringify
 * escapes lone ones).
 */
function jsonString(s: string): string {
  if (s.length <= 100 && LONE_SURROGATE.test(s) && !CONTROL.test(s)) return `"${s.replace(/["\\]/g, '\\$&')}"`;
  return JSON.stringify(s);
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
