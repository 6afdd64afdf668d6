/**
 * The OpenAPI 3.1 document served at `/_openapi.json`: the image route with every query
 * parameter, generated from the same table the query parser validates against
 * (`src/request/parameters.ts`), so the document cannot drift from what the server accepts.
 */
import type { Config } from '../config/schema.ts';
import { documentedDefault, PARAMETERS, type ParameterSpec } from '../request/parameters.ts';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json | undefined };
type Schema = { [k: string]: Json | undefined };

const COLOR_PATTERN = '^(#?([0-9A-Fa-f]{3}|[0-9A-Fa-f]{4}|[0-9A-Fa-f]{6}|[0-9A-Fa-f]{8})|[A-Za-z]+)$';
const BASE64URL_PATTERN = '^[A-Za-z0-9_-]*={0,2}$';

function rangeText(p: ParameterSpec): string | undefined {
  if (p.wrap) return `taken modulo ${p.wrap}`;
  if (p.min === undefined && p.max === undefined) return undefined;
  const lo = p.min === undefined ? '' : `${p.exclusiveMin ? '>' : '≥'} ${p.min}`;
  const hi = p.max === undefined ? '' : `≤ ${p.max}`;
  const both = [lo, hi].filter(Boolean).join(' and ');
  return p.range === 'clamp' ? `values outside ${p.min ?? '-∞'}…${p.max ?? '∞'} are clamped` : both;
}

function numberBounds(p: ParameterSpec, s: Schema): Schema {
  if (p.range !== 'strict') return s;
  if (p.min !== undefined) {
    if (p.exclusiveMin) s.exclusiveMinimum = p.min;
    else s.minimum = p.min;
  }
  if (p.max !== undefined) s.maximum = p.max;
  return s;
}

/** JSON Schema (OpenAPI 3.1 dialect) of one parameter's value, plus its query serialisation. */
function parameterSchema(p: ParameterSpec): { schema: Schema; style?: string; explode?: boolean } {
  const list = (items: Schema, extra: Schema = {}) => ({
    schema: { type: 'array', items, ...extra } as Schema,
    style: 'form',
    explode: false,
  });
  switch (p.type) {
    case 'size':
      return {
        schema: {
          oneOf: [
            { type: 'integer', minimum: p.min ?? 1, description: `pixels; above ${p.max} clamped to ${p.max}` },
            { type: 'number', exclusiveMinimum: 0, maximum: 1, description: 'fraction of the source' },
          ],
        },
      };
    case 'integer':
      return { schema: numberBounds(p, { type: 'integer' }) };
    case 'number':
      return { schema: numberBounds(p, { type: 'number' }) };
    case 'timestamp':
      return { schema: { type: 'integer', description: 'unix seconds' } };
    case 'interval':
      return { schema: { type: 'string', pattern: '^(\\d+|\\d*-\\d*)$', examples: ['1', '2-5'] } };
    case 'boolean':
      return { schema: { type: 'string', enum: ['true', 'false', '1', '0'] } };
    case 'enum':
      return { schema: { type: 'string', enum: [...(p.values ?? [])] } };
    case 'list':
      return list({ type: 'string', enum: [...(p.values ?? [])] }, { uniqueItems: true, minItems: 1 });
    case 'color':
      return { schema: { type: 'string', pattern: COLOR_PATTERN } };
    case 'colors':
      return list({ type: 'string', pattern: COLOR_PATTERN }, p.length ? { minItems: p.length, maxItems: p.length } : {});
    case 'sizes':
      return list({ type: 'number', exclusiveMinimum: 0, description: `pixels (at least ${p.min}) or a fraction up to 1` }, p.length ? { minItems: p.length, maxItems: p.length } : {});
    case 'string':
    case 'path':
    case 'color-or-path':
    case 'keyword-or-path':
      return { schema: { type: 'string', ...(p.maxLength ? { maxLength: p.maxLength } : {}) } };
    case 'ratio':
      return { schema: { type: 'string', pattern: '^\\d+(\\.\\d+)?(:\\d+(\\.\\d+)?)?$', examples: ['16:9', '1.5'] } };
    case 'rect':
      return { schema: { type: 'string', pattern: '^[^,]+,[^,]+,[^,]+,[^,]+$', examples: ['0,0,400,300', 'center,middle,0.5,0.5'] } };
    case 'border':
      return { schema: { type: 'string', pattern: '^\\d+,.+$', examples: ['10,FF0000'] } };
    case 'radius':
      return { schema: { type: 'string', pattern: '^\\d+(,\\d+,\\d+,\\d+)?$', examples: ['16', '16,16,0,0'] } };
    case 'signature':
      return { schema: { type: 'string', pattern: '^[0-9a-f]{32}$' } };
  }
}

function describe(p: ParameterSpec): string {
  const parts = [p.description];
  const r = rangeText(p);
  if (r && p.type !== 'size') parts.push(`Range: ${r}.`);
  if (p.aliases.length) parts.push(`Aliases: ${p.aliases.join(', ')}.`);
  if (p.base64) parts.push(`\`${p.name}64\` takes the value base64url-encoded.`);
  if (p.approximation) parts.push(`imagegate: ${p.approximation}`);
  return parts.join(' ');
}

/** Every query parameter the image route accepts: canonical names, aliases and `…64` forms. */
export function imageQueryParameters(params: readonly ParameterSpec[] = PARAMETERS): Schema[] {
  const out: Schema[] = [];
  for (const p of params) {
    const { schema, style, explode } = parameterSchema(p);
    const base: Schema = {
      in: 'query',
      required: false,
      schema: { ...schema, ...(documentedDefault(p) !== undefined ? { default: documentedDefault(p) } : {}) },
      ...(style ? { style, explode } : {}),
      'x-category': p.category,
    };
    out.push({ name: p.name, description: describe(p), ...base, ...(p.aliases.length ? { 'x-aliases': [...p.aliases] } : {}) });
    for (const a of p.aliases) out.push({ name: a, description: `Alias of \`${p.name}\`.`, ...base, 'x-alias-of': p.name });
    if (p.base64) {
      for (const n of [p.name, ...p.aliases]) {
        out.push({
          name: `${n}64`,
          description: `\`${p.name}\` as base64url of its UTF-8 value.`,
          in: 'query',
          required: false,
          schema: { type: 'string', pattern: BASE64URL_PATTERN },
          'x-category': p.category,
          'x-alias-of': p.name,
        });
      }
    }
  }
  return out;
}

const errorBody = (description: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});

/** The OpenAPI 3.1 document for a given configuration (base path, signing, admin). */
export function openApiDocument(config: Config, version = '0.1.0'): Record<string, unknown> {
  const signed = Object.entries(config.sources).filter(([, s]) => s.signing);
  const keyless = Object.entries(config.sources).filter(([, s]) => s.access !== 'key');
  const basePath = config.server?.basePath ?? '';
  const imageOp = (method: 'get' | 'head') => ({
    operationId: method === 'get' ? 'getImage' : 'headImage',
    summary: method === 'get' ? 'An image, transformed by the query parameters' : 'Headers of the image, without the body',
    description: [
      'Renders the object the routes map `path` to. Parameters follow the imgix rendering API; unknown parameters are ignored, and bad values are handled as imgix does: an unreadable value is ignored, a number outside the range is clamped into it, unknown list members are dropped, a repeated parameter takes its last value (with transform.strict each of these is a 400 naming the parameter). Every parameter but auto, ch and expires also takes its value base64url-encoded as `<name>64` (imgix\'s base64 variants; the ones clients usually encode are listed); bad base64 there and a bad `expires` are a 400. With no parameters the original bytes are served unchanged.',
      signed.length
        ? `Sources ${signed.map(([n, s]) => `\`${n}\`${s.signing!.required ? ' (required)' : ''}`).join(', ')} take signed URLs: \`s\` = md5(token + path [+ "?" + query without s]) as the last parameter.`
        : '',
      keyless.length
        ? `Sources ${keyless.map(([n, s]) => `\`${n}\` (${s.access})`).join(', ')} need no X-API-Key: \`signed\` takes a URL signed with one of a key's signing secrets (\`ixkey=<key id>\` before \`s\`) or the source token; \`public\` takes anyone, limited per client address by the anonymous plan.`
        : '',
      '`path` may contain `/`; it is everything after the base path.',
    ]
      .filter(Boolean)
      .join(' '),
    tags: ['images'],
    // `{}`: no credential, for signed and public sources.
    security: keyless.length ? [{ apiKey: [] }, {}] : [{ apiKey: [] }],
    parameters: [
      { name: 'path', in: 'path', required: true, schema: { type: 'string' }, description: 'Image path (may contain `/`).', 'x-multi-segment': true },
      { name: 'Accept', in: 'header', required: false, schema: { type: 'string' }, description: 'With auto=format: AVIF or WebP when accepted (q-values honoured).' },
      { name: 'If-None-Match', in: 'header', required: false, schema: { type: 'string' } },
      { name: 'If-Modified-Since', in: 'header', required: false, schema: { type: 'string' } },
      ...imageQueryParameters(),
    ],
    responses: {
      '200': {
        description: 'The image (or JSON metadata for fm=json, a BlurHash string for fm=blurhash).',
        headers: {
          ETag: { schema: { type: 'string' } },
          'Cache-Control': { schema: { type: 'string' } },
          'Last-Modified': { schema: { type: 'string' } },
          Vary: { schema: { type: 'string' }, description: '`Accept` when the format was negotiated.' },
          'Content-Disposition': { schema: { type: 'string' }, description: 'With `dl`: attachment, under the `dl` name or (dl= empty) the image path\'s last segment.' },
          'X-Imagegate-Format-Substituted': { schema: { type: 'string' }, description: 'An `fm` imagegate cannot encode and the format sent instead, as `<fm>-><fm>` (jp2->png, mp4->gif).' },
          'RateLimit-Policy': { schema: { type: 'string' }, description: 'The key\'s plan (IETF draft rate-limit headers).' },
          RateLimit: { schema: { type: 'string' } },
        },
        content:
          method === 'head'
            ? undefined
            : {
                'image/jpeg': { schema: { type: 'string', format: 'binary' } },
                'image/png': { schema: { type: 'string', format: 'binary' } },
                'image/webp': { schema: { type: 'string', format: 'binary' } },
                'image/avif': { schema: { type: 'string', format: 'binary' } },
                'image/gif': { schema: { type: 'string', format: 'binary' } },
                'application/json': { schema: { type: 'object', description: 'fm=json: metadata in imgix field names (PixelWidth, PixelHeight, …)' } },
                'text/plain': { schema: { type: 'string', description: 'fm=blurhash' } },
              },
      },
      '304': { description: 'Not modified (If-None-Match / If-Modified-Since matched).' },
      '400': errorBody('Bad base64 in a `…64` parameter or a bad `expires` (any bad value or repeated parameter with transform.strict; the message names it), or the path is malformed.'),
      '403': {
        description: 'No or unknown X-API-Key (`{"message":"Forbidden"}`), or a missing/wrong signature.',
        content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
      },
      '404': errorBody('No route matches, the object does not exist (`Invalid image path: <path>`), or the URL is past its `expires` (`expired`).'),
      '414': errorBody('The path is longer than server.maxPathLength.'),
      '415': errorBody('The source is not an image format imagegate can read.'),
      '422': errorBody('The source is corrupt or over the pixel limit.'),
      '429': {
        description: 'Over the key\'s rate (Retry-After says when to retry) or its quota (the body says when it resets).',
        headers: { 'Retry-After': { schema: { type: 'integer' } } },
        content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
      },
      '502': errorBody('The source failed (denied, bad answer).'),
      '503': {
        description: 'Overloaded, deadline exceeded, or the source/usage store is unavailable; retry after Retry-After.',
        headers: { 'Retry-After': { schema: { type: 'integer' } } },
        content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
      },
    },
  });

  const imagePath = `${basePath}/{path}`;
  return {
    openapi: '3.1.0',
    info: {
      title: 'imagegate',
      version,
      description: 'Self-hosted image service with imgix-compatible URLs, API keys and usage plans. Endpoints under `/_` belong to the service itself and sit at the root whatever the base path.',
    },
    tags: [{ name: 'images' }, { name: 'service' }, { name: 'admin' }],
    paths: {
      [imagePath]: { get: imageOp('get'), head: imageOp('head') },
      '/_health': {
        get: { operationId: 'health', tags: ['service'], security: [], summary: 'Liveness: the process answers', responses: { '200': { description: 'OK' } } },
      },
      '/_ready': {
        get: {
          operationId: 'ready',
          tags: ['service'],
          security: [],
          summary: 'Readiness: 503 while starting, draining, a failClosed usage store is down or a source is unreachable',
          responses: { '200': { description: '{ready: true, …}' }, '503': { description: '{ready: false, status, notReady: [why, …]}' } },
        },
      },
      '/_openapi.json': {
        get: {
          operationId: 'openapi',
          tags: ['service'],
          security: config.server?.internalEndpoints === 'public' ? [] : [{ adminToken: [] }],
          summary: 'This document (server.internalEndpoints: the admin token by default, or open)',
          responses: { '200': { description: 'OpenAPI 3.1 document' } },
        },
      },
      '/_admin/usage': {
        get: {
          operationId: 'usage',
          tags: ['admin'],
          security: [{ adminToken: [] }],
          summary: 'Usage records per key and UTC day',
          parameters: [
            { name: 'key', in: 'query', required: false, schema: { type: 'string' }, description: 'Key id' },
            { name: 'from', in: 'query', required: false, schema: { type: 'string', format: 'date' } },
            { name: 'to', in: 'query', required: false, schema: { type: 'string', format: 'date' } },
          ],
          responses: { '200': { description: 'Usage records (JSON)' }, '401': errorBody('Admin bearer token missing or wrong.') },
        },
      },
      '/_admin/stats': {
        get: {
          operationId: 'stats',
          tags: ['admin'],
          security: [{ adminToken: [] }],
          summary: 'Recent requests of this process: top paths, latency percentiles, cache hit ratio, queue',
          responses: { '200': { description: 'Statistics (JSON)' }, '401': errorBody('Admin bearer token missing or wrong.') },
        },
      },
    },
    components: {
      securitySchemes: {
        apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'An API key; keys in the query string are not accepted.' },
        adminToken: { type: 'http', scheme: 'bearer', description: 'The admin token from `admin:` in the config.' },
      },
      schemas: {
        Error: {
          type: 'object',
          required: ['message'],
          properties: { message: { type: 'string' }, code: { type: 'string', description: 'Stable machine-readable code' } },
        },
      },
    },
    security: [{ apiKey: [] }],
  };
}
