/** The bundled Lambda of a synthesized app, run as Lambda would: a separate process, REST API events. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** The metering table the bundled Lambdas share in moto. */
export const METERING_TABLE = 'metering';

/** Environment with every credential source removed: no keys, no profile files, no metadata service. */
export function offlineEnv(home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(AWS_|CDK_|NODE_OPTIONS$)/.test(k)) env[k] = v;
  return {
    ...env,
    HOME: home,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: path.join(home, 'no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: path.join(home, 'no-aws-credentials'),
  };
}

/**
 * A REST API (payload 1.0) proxy event as API Gateway sends it for GET /<stage>/<path>, from
 * `sourceIp`, through the resource `resource` (default `/{proxy+}`).
 */
export function restEvent(p: string, query: Record<string, string>, headers: Record<string, string>, at: { sourceIp?: string; resource?: string } = {}): unknown {
  const stage = 'dev-alice';
  const sourceIp = at.sourceIp ?? '203.0.113.7';
  const resource = at.resource ?? '/{proxy+}';
  const allHeaders: Record<string, string> = {
    Accept: 'image/avif,image/webp,image/apng,image/*,*/*;q=0.8',
    Host: 'abc123defg.execute-api.eu-west-1.amazonaws.com',
    'User-Agent': 'python-requests/2.31.0',
    'X-Amzn-Trace-Id': 'Root=1-6745a1b2-0123456789abcdef01234567',
    'X-Forwarded-For': sourceIp,
    'X-Forwarded-Port': '443',
    'X-Forwarded-Proto': 'https',
    ...headers,
  };
  const hasQuery = Object.keys(query).length > 0;
  return {
    resource,
    path: `/${p}`,
    httpMethod: 'GET',
    headers: allHeaders,
    multiValueHeaders: Object.fromEntries(Object.entries(allHeaders).map(([k, v]) => [k, [v]])),
    queryStringParameters: hasQuery ? query : null,
    multiValueQueryStringParameters: hasQuery ? Object.fromEntries(Object.entries(query).map(([k, v]) => [k, [v]])) : null,
    pathParameters: { proxy: p },
    stageVariables: null,
    requestContext: {
      resourceId: 'a1b2c3',
      resourcePath: resource,
      httpMethod: 'GET',
      extendedRequestId: 'BxKp5FZxDoEFq8A=',
      requestTime: '26/Nov/2026:02:00:00 +0000',
      path: `/${stage}/${p}`,
      accountId: '123456789012',
      protocol: 'HTTP/1.1',
      stage,
      domainPrefix: 'abc123defg',
      requestTimeEpoch: 1795658400000,
      requestId: 'c6af9ac6-7b61-11e6-9a41-93e8deadbeef',
      identity: { sourceIp, userAgent: 'python-requests/2.31.0', apiKey: headers['X-API-KEY'] ?? null, apiKeyId: 'k3y1d' },
      domainName: 'abc123defg.execute-api.eu-west-1.amazonaws.com',
      apiId: 'abc123defg',
    },
    body: null,
    isBase64Encoded: false,
  };
}

export interface Result {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
  isBase64Encoded: boolean;
}

/** Run the bundled handler of `assetDir` (a separate process, as Lambda would) on `events`. */
export function invokeBundle(work: string, assetDir: string, configName: string, events: unknown[], motoUrl: string): { sharpPath: string; results: Result[] } {
  const eventsFile = path.join(work, `events-${Math.random().toString(36).slice(2)}.json`);
  const outFile = `${eventsFile}.out`;
  writeFileSync(eventsFile, JSON.stringify(events));
  const runner = path.join(work, 'invoke.mjs');
  writeFileSync(
    runner,
    `import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
const [bundle, eventsFile, outFile] = process.argv.slice(2);
const mod = await import(pathToFileURL(bundle).href);
const results = [];
for (const event of JSON.parse(readFileSync(eventsFile, 'utf8'))) results.push(await mod.handler(event, { awsRequestId: 'test' }));
const sharpPath = createRequire(bundle).resolve('sharp');
writeFileSync(outFile, JSON.stringify({ sharpPath, results }));
`,
  );
  const home = path.join(work, 'home');
  mkdirSync(home, { recursive: true });
  const res = spawnSync(process.execPath, [runner, path.join(assetDir, 'index.mjs'), eventsFile, outFile], {
    cwd: assetDir,
    encoding: 'utf8',
    timeout: 120_000,
    env: {
      ...offlineEnv(home),
      IMAGEGATE_CONFIG: path.join(assetDir, configName),
      IMAGEGATE_LARGE_RESPONSE_BUCKET: 'large-responses',
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      AWS_REGION: 'us-east-1',
      AWS_ENDPOINT_URL_S3: motoUrl,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: motoUrl,
      // what the API stack sets from the global stack's export
      IMAGEGATE_METERING_TABLE: METERING_TABLE,
      AWS_ENDPOINT_URL_DYNAMODB: motoUrl,
    },
  });
  assert.equal(res.status, 0, `bundled handler failed:\n${res.stdout}\n${res.stderr}`);
  return JSON.parse(readFileSync(outFile, 'utf8'));
}
