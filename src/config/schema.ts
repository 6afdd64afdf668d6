import { z } from 'zod';
import { transformConfigSchema } from './transform.ts';
import { plansConfigSchema, tableName, usageConfigSchema } from './usage.ts';
import { cacheConfigSchema, limitsConfigSchema } from './cache.ts';
import { ID_PATTERN, ID_RULE } from '../ids.ts';
import { isCidr } from '../net.ts';

const nonEmpty = z.string().min(1);

/** Signed URLs for one source (imgix scheme: `s` = md5(token + path[?query])). */
export const signingSchema = z
  .object({
    token: nonEmpty.optional(),
    tokenFromEnv: nonEmpty.optional(),
    required: z.boolean().default(true),
    /** `request`: the path as the client sent it, stage prefix included; `afterBasePath`: without it. */
    path: z.enum(['request', 'afterBasePath']).default('request'),
  })
  .strict()
  .refine((s) => (s.token ? 1 : 0) + (s.tokenFromEnv ? 1 : 0) === 1, {
    message: 'set exactly one of token or tokenFromEnv',
  });

/** Browser access to one source: allowed origins (exact `https://a.example`, or `*`). */
const corsSchema = z
  .object({ origins: z.array(z.union([z.literal('*'), z.url().regex(/^https?:\/\/[^/]+$/, 'an origin: scheme://host[:port], no path')])).min(1) })
  .strict();

const sourceCommon = {
  signing: signingSchema.optional(),
  /** Who may read: `key` (X-API-Key), `signed` (a valid signature is the credential), `public` (anyone; anonymous plan per client address). */
  access: z.enum(['key', 'signed', 'public']).default('key'),
  cors: corsSchema.optional(),
  /** Cache-Control for this source's responses; an S3 object's own Cache-Control still wins. */
  cacheControl: nonEmpty.optional(),
};

export const fsSourceSchema = z
  .object({ type: z.literal('fs'), root: nonEmpty, ...sourceCommon })
  .strict();

export const s3SourceSchema = z
  .object({
    type: z.literal('s3'),
    bucket: nonEmpty,
    prefix: z.string().default(''),
    region: nonEmpty.optional(),
    endpoint: z.url().optional(),
    forcePathStyle: z.boolean().default(false),
    /** Per-request timeout for S3 calls, milliseconds. */
    timeoutMs: z.number().int().positive().default(10_000),
    ...sourceCommon,
  })
  .strict();

export const httpSourceSchema = z
  .object({
    type: z.literal('http'),
    baseUrl: z.url(),
    /** Allow origins on loopback, link-local and private addresses (off: SSRF protection). */
    allowPrivateNetworks: z.boolean().default(false),
    maxBytes: z.number().int().positive().default(50 * 1024 * 1024),
    timeoutMs: z.number().int().positive().default(10_000),
    maxRedirects: z.number().int().min(0).max(10).default(3),
    headers: z.record(z.string(), z.string()).default({}),
    ...sourceCommon,
  })
  .strict();

export const sourceSchema = z.discriminatedUnion('type', [fsSourceSchema, s3SourceSchema, httpSourceSchema]);

export const routeSchema = z
  .object({
    /** `partnerimages/:a/:b/:id.:ext`; `*` matches the rest of the path (at the end only). */
    match: nonEmpty,
    source: nonEmpty,
    /** Key template, e.g. `{id}.{ext}`; `{*}` is what `*` matched. Default: the whole matched path. */
    key: nonEmpty.optional(),
  })
  .strict();

export const secretRefSchema = z
  .object({
    /** Secret name or ARN in AWS Secrets Manager. */
    id: nonEmpty,
    /** JSON field of the SecretString that holds the key value (the global stack writes `api_key`). */
    field: nonEmpty.default('api_key'),
    region: nonEmpty.optional(),
    endpoint: z.url().optional(),
  })
  .strict();

export const keySchema = z
  .object({
    id: z.string().regex(ID_PATTERN, ID_RULE),
    sha256: z.string().regex(/^[0-9a-f]{64}$/i, '64 hex digits').optional(),
    valueFromEnv: nonEmpty.optional(),
    secret: secretRefSchema.optional(),
    plan: nonEmpty.optional(),
  })
  .strict()
  .refine((k) => [k.sha256, k.valueFromEnv, k.secret].filter(Boolean).length === 1, {
    message: 'set exactly one of sha256, valueFromEnv or secret',
  });

export const configSchema = z
  .object({
    server: z
      .object({
        host: nonEmpty.default('0.0.0.0'),
        port: z.number().int().min(0).max(65535).default(8080),
        /** A stage prefix stripped from every image path, e.g. `/dev`. */
        basePath: z
          .string()
          .regex(/^(\/[A-Za-z0-9_.~-]+)*\/?$/, 'a path like /dev, or empty')
          .default('')
          .transform((p) => p.replace(/\/+$/, '')),
        /** Cache-Control sent with images when the source says nothing. */
        cacheControl: nonEmpty.default('public, max-age=86400'),
        /** Longest accepted request path, in bytes. */
        maxPathLength: z.number().int().positive().default(1024),
        logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
        /** `/_metrics` and `/_openapi.json` on the image listener: open, behind the admin token, or not served. */
        internalEndpoints: z.enum(['public', 'admin', 'off']).default('admin'),
        /** A second listener (Node server) for `/_metrics` and `/_openapi.json`; with it the image listener never serves `/_metrics`. */
        metrics: z
          .object({ host: nonEmpty.default('127.0.0.1'), port: z.number().int().min(0).max(65535) })
          .strict()
          .optional(),
        /** On SIGTERM/SIGINT, how long requests in flight may take to finish, ms (default: limits.deadlineMs + 5000). */
        drainMs: z.number().int().min(0).optional(),
        /** How often sources are probed for the readiness endpoint, ms (0: never). */
        probeIntervalMs: z.number().int().min(0).default(10_000),
      })
      .strict()
      .prefault({}),
    sources: z.record(z.string().regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ -'), sourceSchema),
    routes: z.array(routeSchema).min(1),
    keys: z.array(keySchema).default([]),
    /** Keys managed by `imagegate keys …`, in addition to the keys above. */
    keyStore: z
      .discriminatedUnion('type', [
        z.object({ type: z.literal('file'), path: nonEmpty }).strict(),
        z.object({ type: z.literal('redis'), url: nonEmpty, prefix: z.string().default('imagegate:') }).strict(),
        z
          .object({
            type: z.literal('dynamodb'),
            table: tableName.optional(),
            tableFromEnv: nonEmpty.optional(),
            region: nonEmpty.optional(),
            endpoint: z.url().optional(),
            prefix: z.string().default(''),
          })
          .strict()
          .refine((k) => (k.table ? 1 : 0) + (k.tableFromEnv ? 1 : 0) === 1, { message: 'set exactly one of table or tableFromEnv', path: ['table'] }),
      ])
      .optional(),
    /** Requests without a key (public sources, source-token signatures): one plan per client address. */
    anonymous: z
      .object({
        plan: nonEmpty.optional(),
        /** Peers (CIDR or address) whose forwarding header names the client; no one else's is read. */
        trustedProxies: z.array(z.string().refine(isCidr, 'an address or CIDR like 10.0.0.0/8')).default([]),
        forwardedHeader: nonEmpty.default('x-forwarded-for'),
      })
      .strict()
      .prefault({}),
    admin: z
      .object({
        token: nonEmpty.optional(),
        tokenFromEnv: nonEmpty.optional(),
        tokenSha256: z.string().regex(/^[0-9a-f]{64}$/i, '64 hex digits').optional(),
      })
      .strict()
      .optional(),
    /** Defaults for AWS clients (Secrets Manager); sources carry their own S3 settings. */
    aws: z
      .object({ region: nonEmpty.optional(), endpoint: z.url().optional() })
      .strict()
      .prefault({}),
    transform: transformConfigSchema,
    plans: plansConfigSchema,
    usage: usageConfigSchema,
    cache: cacheConfigSchema,
    limits: limitsConfigSchema,
    lambda: z
      .object({
        /** Bucket for responses over Lambda's 6 MB payload limit, answered with a presigned redirect. */
        largeResponseBucket: nonEmpty.optional(),
        largeResponsePrefix: z.string().default('large-responses/'),
        largeResponseUrlTtlSeconds: z.number().int().positive().default(300),
      })
      .strict()
      .prefault({}),
  })
  // References between sections (a route's source, a key's plan) are checked in load.ts on the
  // raw tree, so they are reported together with the problems above.
  .strict();

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
export type SourceConfig = z.infer<typeof sourceSchema>;
export type RouteConfig = z.infer<typeof routeSchema>;
export type KeyConfig = z.infer<typeof keySchema>;
