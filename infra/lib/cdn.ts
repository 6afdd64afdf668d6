/**
 * Optional CloudFront distribution in front of a stage (`-c imagegate:cloudfront=true`).
 *
 * The cache key holds only what changes the image: the query string and a normalised Accept
 * header. A CloudFront Function rewrites Accept to one of three values (AVIF-capable,
 * WebP-capable, other) before the cache lookup, so the thousands of distinct browser Accept
 * strings collapse to three cache entries per URL. No cookies, no other headers.
 *
 * On paths whose API Gateway resource checks the key, CloudFront calls API Gateway with the
 * environment's API key as an origin custom header, so those paths are public through the
 * distribution: protect them with imagegate's signed URLs when that matters. Paths of `signed`
 * and `public` sources (access-paths.ts) go to the same API without that header, so the app's
 * access decision sees the viewer's signature or none, never the environment's key. The service
 * endpoints (/_metrics, /_openapi.json, /_admin) answer 404 through it unless
 * imagegate:serviceEndpoints opts in (the bundled config turns them off).
 */
import { Aws, Duration, SecretValue, type Stack } from 'aws-cdk-lib';
import type * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import { resourceNames } from './names.ts';
import type { Environment, KeySlot } from './settings.ts';

/** The viewer-request function (cloudfront-js-2.0). Exported for tests. */
export const NORMALISE_ACCEPT_SOURCE = `function handler(event) {
  var request = event.request;
  var header = request.headers['accept'];
  var accept = header && header.value ? header.value.toLowerCase() : '';
  var value = '*/*';
  if (accept.indexOf('image/avif') !== -1) value = 'image/avif,image/webp,*/*';
  else if (accept.indexOf('image/webp') !== -1) value = 'image/webp,*/*';
  request.headers['accept'] = { value: value };
  return request;
}
`;

export interface CdnOptions {
  api: apigateway.RestApi;
  name: string;
  stage: string;
  env: Environment;
  /** The API key slot whose value the distribution sends (the newest live slot). */
  slot: KeySlot;
  /** The API's root `{proxy+}` has no key check (the default behaviour then sends no key). */
  rootOpen: boolean;
  /** Paths whose key check differs from the root's, most specific first. */
  paths: CdnPath[];
}

/** A CloudFront path pattern (`/p/*`, `/logo.png`) and whether its API Gateway resource is open. */
export interface CdnPath {
  pattern: string;
  open: boolean;
}

/** CloudFront's default quota of cache behaviours per distribution (besides the default one). */
export const MAX_CACHE_BEHAVIORS = 25;

export function addCloudFront(stack: Stack, opts: CdnOptions): cloudfront.Distribution {
  const names = resourceNames(opts.name);
  const normaliseAccept = new cloudfront.Function(stack, 'NormaliseAccept', {
    // CloudFront functions and cache policies are unique per account: the region is in the name.
    functionName: names.cloudFrontFunction(opts.stage, Aws.REGION),
    comment: 'Collapse Accept to avif / webp / other before the cache lookup',
    runtime: cloudfront.FunctionRuntime.JS_2_0,
    code: cloudfront.FunctionCode.fromInline(NORMALISE_ACCEPT_SOURCE),
  });

  /** The query string and the headers named: nothing else changes an image. */
  const imageCachePolicy = (id: string, cachePolicyName: string, comment: string, headers: string[]) =>
    new cloudfront.CachePolicy(stack, id, {
      cachePolicyName,
      comment,
      queryStringBehavior: cloudfront.CacheQueryStringBehavior.all(),
      headerBehavior: cloudfront.CacheHeaderBehavior.allowList(...headers),
      cookieBehavior: cloudfront.CacheCookieBehavior.none(),
      enableAcceptEncodingGzip: false,
      enableAcceptEncodingBrotli: false,
      minTtl: Duration.seconds(0),
      defaultTtl: Duration.days(1),
      maxTtl: Duration.days(365),
    });
  const cachePolicy = imageCachePolicy('ImageCachePolicy', names.cachePolicy(opts.stage, Aws.REGION), 'imagegate: query string + normalised Accept', ['Accept']);
  // Signed and public paths answer browsers across origins (CORS): the Origin header and a
  // preflight's two request headers are part of their cache key, so each origin gets the
  // Access-Control-* answer meant for it. An <img src> sends none of them: one entry per URL still.
  const anyOpen = opts.rootOpen || opts.paths.some((p) => p.open);
  const openCachePolicy = anyOpen
    ? imageCachePolicy('OpenCachePolicy', names.openCachePolicy(opts.stage, Aws.REGION), 'imagegate signed and public paths: query string + normalised Accept + CORS request headers', [
        'Accept',
        'Origin',
        'Access-Control-Request-Method',
        'Access-Control-Request-Headers',
      ])
    : undefined;

  if (opts.paths.length > MAX_CACHE_BEHAVIORS) {
    throw new Error(
      `CloudFront for ${opts.stage}: ${opts.paths.length} path patterns (${opts.paths.map((p) => p.pattern).join(', ')}) are more than the ${MAX_CACHE_BEHAVIORS} cache behaviours a distribution has by default: route signed and public sources under fewer prefixes`,
    );
  }
  const apiKey = SecretValue.secretsManager(names.apiKeySecret(opts.env, opts.slot), { jsonField: 'api_key' }).unsafeUnwrap();
  // Keyed paths get the environment's key from CloudFront; signed and public ones never do, or
  // every viewer would count as the environment's key and the app's access decision would see a key.
  const keyed = new origins.RestApiOrigin(opts.api, { customHeaders: { 'x-api-key': apiKey } });
  const open = anyOpen ? new origins.RestApiOrigin(opts.api) : undefined;
  const behavior = (isOpen: boolean): cloudfront.BehaviorOptions => ({
    origin: isOpen ? open! : keyed,
    viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
    allowedMethods: cloudfront.AllowedMethods.ALLOW_GET_HEAD_OPTIONS,
    cachedMethods: cloudfront.CachedMethods.CACHE_GET_HEAD_OPTIONS,
    compress: false,
    cachePolicy: isOpen ? openCachePolicy! : cachePolicy,
    functionAssociations: [{ function: normaliseAccept, eventType: cloudfront.FunctionEventType.VIEWER_REQUEST }],
  });
  return new cloudfront.Distribution(stack, 'Cdn', {
    comment: `imagegate ${opts.name}-${opts.stage}`,
    priceClass: cloudfront.PriceClass.PRICE_CLASS_100,
    httpVersion: cloudfront.HttpVersion.HTTP2_AND_3,
    defaultBehavior: behavior(opts.rootOpen),
    // CloudFront takes the first pattern that matches, in this order: most specific first.
    additionalBehaviors: Object.fromEntries(opts.paths.map((p) => [p.pattern, behavior(p.open)])),
  });
}
