/**
 * ServiceError is the one error type that reaches HTTP. `publicMessage` is what the caller
 * sees; `cause` stays in the logs. `code` is a stable machine-readable string that callers
 * and tests can rely on.
 */
export class ServiceError extends Error {
  readonly status: number;
  readonly code: string;
  readonly publicMessage: string;
  readonly headers: Record<string, string>;
  /** More fields for the JSON body, after `message` and `code` (e.g. a quota and when it resets). */
  readonly details: Record<string, unknown> | undefined;

  constructor(
    status: number,
    code: string,
    publicMessage: string,
    options: { cause?: unknown; headers?: Record<string, string>; details?: Record<string, unknown> } = {},
  ) {
    super(publicMessage, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ServiceError';
    this.status = status;
    this.code = code;
    this.publicMessage = publicMessage;
    this.headers = options.headers ?? {};
    this.details = options.details;
  }

  /** The JSON body the caller receives. */
  body(): Record<string, unknown> {
    return { message: this.publicMessage, code: this.code, ...this.details };
  }
}

/** The body of a 500 for anything that is not a ServiceError (its details stay in the logs). */
export const INTERNAL_ERROR = { message: 'Internal server error', code: 'internal_error' } as const;

/** 400 for a query parameter whose value is not accepted; the message names the parameter. */
export function invalidParameter(name: string, value: string, expected: string): ServiceError {
  const shown = value.length > 40 ? `${value.slice(0, 40)}…` : value;
  return new ServiceError(400, 'invalid_parameter', `${name}: expected ${expected}, got '${shown}'`);
}

/** 502 for an original over its source's byte cap (`limits.maxOriginalBytes`, an HTTP source's `maxBytes`). */
export function sourceTooLarge(maxBytes: number): ServiceError {
  return new ServiceError(502, 'source_too_large', `Source image is larger than ${maxBytes} bytes`);
}

/** 503 for a local original rewritten while it was decoded: a retry reads the new version. */
export function sourceChanged(): ServiceError {
  return new ServiceError(503, 'source_changed', 'Service Unavailable: the source changed while it was read; retry', { headers: { 'Retry-After': '1' } });
}

export function isServiceError(err: unknown): err is ServiceError {
  return err instanceof ServiceError;
}
