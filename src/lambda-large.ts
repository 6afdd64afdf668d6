/**
 * Lambda's synchronous response payload is capped at 6 MB (6,291,456 bytes of JSON), and a
 * binary body grows by a third when base64-encoded: a 4.5 MB AVIF already fails, and API Gateway
 * answers the caller with a bare 502. Rather than fail, a response that would not fit is stored
 * in S3 and the caller gets a 307 redirect to a short-lived presigned GET URL for the same bytes.
 * Without a bucket, the caller gets a clear 502 `response_too_large` instead of Lambda's error.
 *
 * Objects are content-addressed (sha256 of the bytes), so the same large image is stored once;
 * the bucket's lifecycle rule (the CDK global stack sets one day) removes them.
 */
import { createHash } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Config } from './config/schema.ts';

/** Default threshold: 5.5 MiB of response JSON, leaving headroom under the 6 MB limit. */
export const DEFAULT_MAX_PAYLOAD_BYTES = Math.floor(5.5 * 1024 * 1024);

type LargeResponseConfig = Config['lambda'];

/** The shape every Lambda proxy integration answers with (REST v1, HTTP API v2, ALB). */
export interface ProxyResult {
  statusCode: number;
  headers?: Record<string, string | number | boolean>;
  multiValueHeaders?: Record<string, Array<string | number | boolean>>;
  body?: string;
  isBase64Encoded?: boolean;
  cookies?: string[];
}

export interface LargeResponseOptions {
  /** S3 client for the bucket; default: one from the Lambda's region and credentials. */
  s3?: S3Client;
  /** Responses whose JSON is larger than this are redirected; default 5.5 MiB. */
  maxPayloadBytes?: number;
  /** Called once per stored response, for logs and metrics. */
  onStored?: (info: { bucket: string; key: string; bytes: number }) => void;
}

/** Headers that describe the body; they do not belong on a redirect. */
const ENTITY_HEADERS = new Set([
  'content-type',
  'content-length',
  'content-encoding',
  'content-disposition',
  'content-range',
  'content-language',
  'content-md5',
  'accept-ranges',
  'etag',
  'last-modified',
  'expires',
  'age',
  'cache-control',
  'location',
]);

const EXTENSIONS: Record<string, string> = {
  'image/jpeg': '.jpg',
  'image/png': '.png',
  'image/webp': '.webp',
  'image/avif': '.avif',
  'image/gif': '.gif',
  'image/tiff': '.tiff',
  'image/svg+xml': '.svg',
  'application/json': '.json',
  'application/pdf': '.pdf',
};

let defaultClient: S3Client | undefined;

/** The module's exports, whether it arrived as ESM or as a CommonJS default export. */
const commonJs = <T>(mod: T): T => (mod as { default?: T }).default ?? mod;

/** Size in bytes of the JSON Lambda would return for `result`. */
export function payloadBytes(result: ProxyResult): number {
  return Buffer.byteLength(JSON.stringify(result), 'utf8');
}

function headerValue(result: ProxyResult, name: string): string | undefined {
  for (const [k, v] of Object.entries(result.headers ?? {})) if (k.toLowerCase() === name) return String(v);
  for (const [k, vs] of Object.entries(result.multiValueHeaders ?? {})) {
    if (k.toLowerCase() === name && vs.length) return String(vs[0]);
  }
  return undefined;
}

function jsonError(result: ProxyResult, status: number, code: string, message: string): ProxyResult {
  const out: ProxyResult = {
    statusCode: status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
    body: JSON.stringify({ message, code }),
    isBase64Encoded: false,
  };
  if (result.multiValueHeaders) {
    out.multiValueHeaders = Object.fromEntries(Object.entries(out.headers!).map(([k, v]) => [k, [v]]));
  }
  return out;
}

/**
 * Returns `result` unchanged when it fits under Lambda's payload limit; otherwise stores the
 * body in S3 and returns a 307 to a presigned URL (Cache-Control: no-store), or a 502
 * `response_too_large` when no bucket is configured (config `lambda.largeResponseBucket`, which
 * the IMAGEGATE_LARGE_RESPONSE_BUCKET environment variable fills in when the file names none).
 */
export async function handleLargeResponse<R extends ProxyResult>(
  result: R,
  cfg: LargeResponseConfig | undefined,
  options: LargeResponseOptions = {},
): Promise<R | ProxyResult> {
  const limit = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
  const body = result.body ?? '';
  // Cheap check first: a body well under the limit cannot make the JSON too large.
  if (body.length * (result.isBase64Encoded ? 1 : 6) + 64 * 1024 < limit) return result;
  const size = payloadBytes(result);
  if (size <= limit) return result;

  const bucket = cfg?.largeResponseBucket;
  if (!bucket) {
    return jsonError(
      result,
      502,
      'response_too_large',
      `The response (${size} bytes as Lambda JSON) is over Lambda's 6 MB payload limit and no large-response bucket is configured (lambda.largeResponseBucket); ask for a smaller image (w, h, q, fm).`,
    );
  }

  const bytes = result.isBase64Encoded ? Buffer.from(body, 'base64') : Buffer.from(body, 'utf8');
  const contentType = headerValue(result, 'content-type') ?? 'application/octet-stream';
  const digest = createHash('sha256').update(contentType).update('\0').update(bytes).digest('hex');
  const ext = EXTENSIONS[contentType.split(';')[0]!.trim().toLowerCase()] ?? '';
  const prefix = cfg?.largeResponsePrefix ?? 'large-responses/';
  const key = `${prefix}${digest}${ext}`;
  const ttl = cfg?.largeResponseUrlTtlSeconds ?? 300;
  // Loaded on the first large response only: most invocations never need the S3 client. A
  // CommonJS package imported dynamically from a bundle chunk comes as its default export.
  const [{ GetObjectCommand, PutObjectCommand, S3Client }, { getSignedUrl }] = await Promise.all([
    import('@aws-sdk/client-s3').then(commonJs),
    import('@aws-sdk/s3-request-presigner').then(commonJs),
  ]);
  const s3 = options.s3 ?? (defaultClient ??= new S3Client({}));

  await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: key,
      Body: bytes,
      ContentType: contentType,
      CacheControl: headerValue(result, 'cache-control') ?? `private, max-age=${ttl}`,
      ...(headerValue(result, 'content-encoding') ? { ContentEncoding: headerValue(result, 'content-encoding') } : {}),
    }),
  );
  options.onStored?.({ bucket, key, bytes: bytes.length });
  const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: key }), { expiresIn: ttl });

  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(result.headers ?? {})) {
    if (!ENTITY_HEADERS.has(k.toLowerCase())) headers[k] = String(v);
  }
  headers['location'] = url;
  headers['cache-control'] = 'no-store';
  const redirect: ProxyResult = { statusCode: 307, headers, body: '', isBase64Encoded: false };
  if (result.multiValueHeaders) {
    const multi: Record<string, string[]> = {};
    for (const [k, vs] of Object.entries(result.multiValueHeaders)) {
      if (!ENTITY_HEADERS.has(k.toLowerCase())) multi[k] = vs.map(String);
    }
    multi['location'] = [url];
    multi['cache-control'] = ['no-store'];
    redirect.multiValueHeaders = multi;
  }
  if (result.cookies) redirect.cookies = result.cookies;
  return redirect;
}

/**
 * Wraps a Lambda handler so its oversized responses are redirected (see handleLargeResponse).
 * `cfg` may be a function, read after each invocation, for handlers that load config lazily.
 * A failure to store the body is answered 502 `response_too_large` (and logged), never thrown.
 */
export function wrapLargeResponses<E, C, R extends ProxyResult>(
  handler: (event: E, context?: C) => Promise<R>,
  cfg: LargeResponseConfig | undefined | (() => LargeResponseConfig | undefined),
  options: LargeResponseOptions = {},
): (event: E, context?: C) => Promise<R | ProxyResult> {
  return async (event, context) => {
    const result = await handler(event, context);
    const config = typeof cfg === 'function' ? cfg() : cfg;
    try {
      return await handleLargeResponse(result, config, options);
    } catch (err) {
      console.error(JSON.stringify({ level: 'error', msg: 'storing a large response failed', err: String(err) }));
      return jsonError(
        result,
        502,
        'response_too_large',
        "The response is over Lambda's 6 MB payload limit and could not be stored for a redirect; ask for a smaller image (w, h, q, fm).",
      );
    }
  };
}
