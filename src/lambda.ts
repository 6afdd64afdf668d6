/**
 * AWS Lambda entry: the same app as the Node server behind a thin event translation.
 * Handles API Gateway REST (payload 1.0, `{proxy+}`), HTTP API / function URL (payload 2.0)
 * and ALB events. Binary bodies go back base64-encoded. The caller's key is always read from
 * the X-API-Key header; `requestContext.identity` is never trusted.
 *
 * Why not `hono/aws-lambda`'s `handle(app)` (read in hono 4.13): it builds one Request per event
 * and nothing else, and this app needs more from the event than a Request carries:
 * - Signatures are checked over the query as the client wrote it. A REST API event has no raw
 *   query, only decoded parameters; `handle` re-encodes them one way (encodeURIComponent), so a
 *   URL signed over another spelling would fail. Here every spelling a client could have signed
 *   goes to the app (`queryCandidates`), and it renders from the one it verified.
 * - The signed path includes the stage (`/prod/photo.jpg`) while routes see the path after it.
 *   `handle` gives the app `event.path` (REST: no stage) or `rawPath` (HTTP API: stage still in
 *   it, not stripped); the app gets both paths here (`RequestTarget`: imagePath, clientPath).
 * - HTTP APIs hand over `rawPath` percent-decoded (function URLs do not). `handle` puts it in the
 *   URL as it is, so a key with `%`, `?` or `#` names another object or breaks the URL; here it is
 *   encoded back once (`reencodePath`).
 * - Those facts reach the app as a binding (`imagegateTarget`); `handle` passes only `event`,
 *   `requestContext` and `lambdaContext`, so each handler would re-derive them from the raw event.
 * - The app and its config are imported on the first invocation, not at module load (cold start,
 *   bench/coldstart.ts); `handle` takes a built app.
 * `hono/aws-lambda` is also deprecated in hono 4 (moving to `@hono/aws-lambda` for v5). What it
 * would save (header copying, base64 of binary bodies) is the short `toResult` below.
 */
import type { ImagegateApp } from './http/app.ts';
import type { LambdaBindings, RequestTarget } from './http/target.ts';
import { wrapLargeResponses, type LargeResponseOptions } from './lambda-large.ts';
import { configureSharp } from './runtime.ts';

configureSharp();

type Headers1 = Record<string, string | undefined> | null | undefined;
type MultiHeaders = Record<string, string[] | undefined> | null | undefined;

export interface RestApiEvent {
  httpMethod: string;
  path: string;
  resource?: string;
  headers?: Headers1;
  multiValueHeaders?: MultiHeaders;
  queryStringParameters?: Record<string, string | undefined> | null;
  multiValueQueryStringParameters?: Record<string, string[] | undefined> | null;
  pathParameters?: Record<string, string | undefined> | null;
  requestContext?: { stage?: string; path?: string; domainName?: string; elb?: unknown; [k: string]: unknown };
  body?: string | null;
  isBase64Encoded?: boolean;
}

export interface HttpApiEvent {
  version?: string;
  rawPath: string;
  rawQueryString?: string;
  headers?: Headers1;
  cookies?: string[];
  requestContext: { stage?: string; domainName?: string; http: { method: string; path?: string }; [k: string]: unknown };
  body?: string;
  isBase64Encoded?: boolean;
}

export interface LambdaResult {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
  isBase64Encoded: boolean;
}

function isHttpApi(event: unknown): event is HttpApiEvent {
  const e = event as HttpApiEvent;
  return typeof e?.rawPath === 'string' && typeof e?.requestContext?.http === 'object';
}

/**
 * The query encodings a REST API client could have signed, first the one imgix's libraries write.
 * The image handler renders from the spelling whose signature it verified (see RequestTarget),
 * never from another one: parameters folded into one name (`?w%3D100%26mark=…`) cannot make
 * the verified and the rendered query differ.
 */
export function queryCandidates(event: RestApiEvent): string[] {
  const multi = event.multiValueQueryStringParameters;
  const pairs: [string, string][] = multi
    ? Object.entries(multi).flatMap(([k, vs]) => (vs ?? []).map((v) => [k, v] as [string, string]))
    : Object.entries(event.queryStringParameters ?? {}).map(([k, v]) => [k, v ?? ''] as [string, string]);
  if (pairs.length === 0) return [''];
  const out = new Set<string>();
  for (const enc of [encodeURIComponent, (s: string) => s]) {
    for (const bareEmpty of [false, true]) {
      out.add(pairs.map(([k, v]) => (v === '' && bareEmpty ? enc(k) : `${enc(k)}=${enc(v)}`)).join('&'));
    }
  }
  return [...out];
}

function toRequest(event: RestApiEvent | HttpApiEvent): { request: Request; target: Omit<RequestTarget, 'inBasePath'> } {
  const headers = new Headers();
  let method: string;
  let target: Omit<RequestTarget, 'inBasePath'>;
  let host: string | undefined;
  if (isHttpApi(event)) {
    method = event.requestContext.http.method;
    for (const [k, v] of Object.entries(event.headers ?? {})) if (v !== undefined) headers.set(k, v);
    if (event.cookies?.length) headers.set('cookie', event.cookies.join('; '));
    const stage = event.requestContext.stage;
    // API Gateway HTTP APIs pass rawPath already percent-decoded (function URLs do not):
    // encode it back so the app decodes exactly once, as it does for every other adapter, and
    // as imgix's JavaScript client writes a path (so the signature it made still matches).
    const rawPath = /\.lambda-url\./.test(event.requestContext.domainName ?? '') ? event.rawPath : reencodePath(event.rawPath);
    let imagePath = rawPath;
    if (stage && stage !== '$default' && (imagePath === `/${stage}` || imagePath.startsWith(`/${stage}/`))) {
      imagePath = imagePath.slice(stage.length + 1) || '/';
    }
    target = { imagePath, clientPath: rawPath, rawQueries: [event.rawQueryString ?? ''] };
    host = event.requestContext.domainName;
  } else {
    method = event.httpMethod;
    for (const [k, vs] of Object.entries(event.multiValueHeaders ?? {})) for (const v of vs ?? []) headers.append(k, v);
    for (const [k, v] of Object.entries(event.headers ?? {})) if (v !== undefined && !headers.has(k)) headers.set(k, v);
    const stage = event.requestContext?.stage;
    const clientPath = event.requestContext?.path ?? (stage && !event.requestContext?.elb ? `/${stage}${event.path}` : event.path);
    target = { imagePath: event.path, clientPath, rawQueries: queryCandidates(event) };
    host = event.requestContext?.domainName;
  }
  host ??= headers.get('host') ?? 'lambda.invalid';
  const q = target.rawQueries[0];
  const url = `https://${host}${target.imagePath.startsWith('/') ? '' : '/'}${target.imagePath}${q ? `?${q}` : ''}`;
  return { request: new Request(url, { method, headers }), target };
}

function reencodePath(path: string): string {
  try {
    return encodeURI(path).replace(/[?#:+]/g, encodeURIComponent);
  } catch {
    return path; // a lone surrogate: leave it to the path checks
  }
}

const TEXTUAL = /^(text\/|application\/(json|problem\+json|xml)|image\/svg\+xml)/i;

async function toResult(res: Response, method: string): Promise<LambdaResult> {
  const headers: Record<string, string> = {};
  res.headers.forEach((v, k) => (headers[k] = v));
  const bytes = method === 'HEAD' ? Buffer.alloc(0) : Buffer.from(await res.arrayBuffer());
  const type = res.headers.get('content-type') ?? '';
  const binary = bytes.length > 0 && !TEXTUAL.test(type);
  return {
    statusCode: res.status,
    headers,
    body: binary ? bytes.toString('base64') : bytes.toString('utf8'),
    isBase64Encoded: binary,
  };
}

/**
 * Wrap an app (or its lazy creation) as a Lambda handler. Responses over Lambda's 6 MB payload
 * limit are stored in `lambda.largeResponseBucket` and answered with a presigned redirect.
 */
export function createLambdaHandler(getApp: () => Promise<ImagegateApp>, largeResponses: LargeResponseOptions = {}) {
  let ready: Promise<ImagegateApp> | undefined;
  let current: ImagegateApp | undefined;
  const inner = async (event: RestApiEvent | HttpApiEvent, lambdaContext?: unknown): Promise<LambdaResult> => {
    ready ??= getApp().catch((err) => {
      ready = undefined;
      throw err;
    });
    current = await ready;
    const { request, target } = toRequest(event);
    const bindings: LambdaBindings & { event: unknown; lambdaContext: unknown } = { imagegateTarget: target, event, lambdaContext };
    const res = await current.app.fetch(request, bindings);
    return toResult(res, request.method);
  };
  return wrapLargeResponses(inner, () => current?.config.lambda, largeResponses);
}

/**
 * The deployed handler: config from the file named by IMAGEGATE_CONFIG (default ./imagegate.yaml).
 * The app (and the config loader) are imported on the first request, not when the module loads:
 * the import of the bundle stays close to sharp's own (bench/coldstart.ts).
 */
export const handler = createLambdaHandler(async () => {
  const [{ loadDeployedConfig }, { createApp }] = await Promise.all([import('./config/load.ts'), import('./http/app.ts')]);
  return createApp(loadDeployedConfig());
});
