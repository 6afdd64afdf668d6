import pino, { type Logger } from 'pino';

/** JSON logs; anything that could hold a secret is redacted by path. */
export function createLogger(level: string = 'info'): Logger {
  return pino({
    level,
    base: { service: 'imagegate' },
    redact: {
      paths: ['apiKey', 'key', 'token', 'headers["x-api-key"]', 'headers.authorization', 'req.headers["x-api-key"]', 'req.headers.authorization'],
      censor: '[redacted]',
    },
  });
}

/** Query strings in logs lose any parameter that looks like a credential. */
export function redactQuery(query: string): string {
  if (!query) return query;
  return query
    .split('&')
    .map((pair) => (/^(api[_-]?key|x-api-key|key|token|access[_-]?token)=/i.test(pair) ? pair.replace(/=.*/, '=[redacted]') : pair))
    .join('&');
}

export type { Logger };
