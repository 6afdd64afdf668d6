/**
 * The imagegate config bundled with the Lambda, generated per environment from the CDK context
 * plus a base file (routes, transform, cache, plans: what only the service knows). Everything
 * the deployment decides — the images bucket, its prefix and region, the API key secrets, the
 * request deadline, whether the service endpoints answer, the DynamoDB table that holds usage
 * plans, usage records and managed keys — is written here and nowhere else, so
 * a context value can never disagree with what the function runs.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { resourceNames } from './names.ts';
import { KEY_SLOTS, type Environment, type EnvironmentSettings } from './settings.ts';

/** The source every generated config defines; base configs route to it by this name. */
export const IMAGES_SOURCE = 'images';

/** Settings of the base file that the deployment owns, and the context key to use instead. */
const OWNED: [string[], string][] = [
  [['sources', IMAGES_SOURCE], 'imagegate:imagesBucket, imagegate:imagesPrefix, imagegate:imagesBucketRegion'],
  [['limits', 'deadlineMs'], 'imagegate:timeoutSeconds (the deadline is derived from it)'],
  [['server', 'internalEndpoints'], 'imagegate:serviceEndpoints'],
  ...(['store', 'table', 'tableFromEnv', 'region', 'endpoint', 'url', 'prefix'] as const).map((k): [string[], string] => [
    ['usage', k],
    'the environment\'s metering table (the global stack creates it); usage: may set headers, retentionDays, onUnavailable, commandTimeoutMs, flushIntervalMs, lease',
  ]),
  [['keyStore'], 'the environment\'s metering table (the global stack creates it; `imagegate keys … --config` on the generated config manages its keys)'],
];

/**
 * The Lambda environment variable holding the metering table's name. The table has no fixed
 * name (prod's outlives its stack, and a kept name would block deploying the stack again), so
 * the API stack sets the variable from the global stack's export and the config names it.
 */
export const METERING_TABLE_ENV = 'IMAGEGATE_METERING_TABLE';

/** Key id of an API key slot inside the app: usage records and logs name it. */
export const slotKeyId = (env: Environment, slot: string) => `${env}-${slot}`;

export function generateLambdaConfig(opts: { name: string; env: EnvironmentSettings; baseFile: string }): string {
  const { name, env } = opts;
  let base: Record<string, any>;
  try {
    base = (parseYaml(readFileSync(opts.baseFile, 'utf8')) ?? {}) as Record<string, any>;
  } catch (err) {
    throw new Error(`imagegate config for the ${env.environment} Lambda (${opts.baseFile}): ${(err as Error).message}`);
  }
  if (typeof base !== 'object' || Array.isArray(base)) throw new Error(`${opts.baseFile}: expected a YAML mapping`);
  for (const [p, instead] of OWNED) {
    let v: any = base;
    for (const k of p) v = v?.[k];
    if (v !== undefined) throw new Error(`${opts.baseFile}: ${p.join('.')} is set by the deployment; remove it and use ${instead}`);
  }
  for (const k of ['type', 'bucket', 'prefix', 'region']) {
    if (base.imagesSource && k in base.imagesSource) {
      throw new Error(`${opts.baseFile}: imagesSource.${k} is set by the deployment; remove it and use imagegate:imagesBucket, imagegate:imagesPrefix, imagegate:imagesBucketRegion`);
    }
  }
  const names = resourceNames(name);
  const generatedKeys = KEY_SLOTS.map((slot) => ({
    id: slotKeyId(env.environment, slot),
    secret: { id: names.apiKeySecret(env.environment, slot), field: 'api_key' },
  }));
  const ids = new Set(generatedKeys.map((k) => k.id));
  for (const k of (base.keys ?? []) as { id?: string }[]) {
    if (k?.id && ids.has(k.id)) throw new Error(`${opts.baseFile}: keys: id '${k.id}' is reserved for the environment's API key slots`);
  }

  const config = {
    ...base,
    // /_metrics and /_openapi.json: not served unless the environment opts in, then behind the
    // admin token (the app's default). API Gateway also answers them and /_admin itself (api-stack.ts).
    server: { ...base.server, internalEndpoints: env.serviceEndpoints ? 'admin' : 'off' },
    sources: {
      ...base.sources,
      [IMAGES_SOURCE]: {
        type: 's3',
        bucket: env.imagesBucket,
        prefix: env.imagesPrefix,
        ...(env.imagesBucketRegion ? { region: env.imagesBucketRegion } : {}),
        ...base.imagesSource,
      },
    },
    keys: [...generatedKeys, ...(base.keys ?? [])],
    limits: { ...base.limits, deadlineMs: env.deadlineMs },
    // One table per environment, shared by every instance of every stage: exact plans and one
    // set of usage records on Lambda (region: the function's own). No leases by default: an
    // instance is frozen between invocations (its idle timer does not run) and retired without
    // close(), so units it held would be lost to the key's quota; a base file may still set them.
    usage: { lease: { maxUnits: 1 }, ...base.usage, store: 'dynamodb', tableFromEnv: METERING_TABLE_ENV },
    keyStore: { type: 'dynamodb', tableFromEnv: METERING_TABLE_ENV },
  };
  delete (config as Record<string, unknown>).imagesSource;
  return [
    `# Generated by the imagegate CDK app '${name}' for the ${env.environment} environment. Do not edit:`,
    `# the deployment part comes from cdk.json context, the rest from ${opts.baseFile.split('/').slice(-2).join('/')}.`,
    stringifyYaml(config, { lineWidth: 0 }),
  ].join('\n');
}
