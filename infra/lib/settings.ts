/**
 * Deployment settings, read from CDK context (cdk.json, or `-c imagegate:<name>=<value>` on the
 * command line). Every value is validated here, once, and each error names its context key, so a
 * typo fails `cdk synth` instead of a CloudFormation deployment twenty minutes later.
 *
 * Three levels:
 * - app: name, architecture, the base config files, where the code is;
 * - environment (prod, dev): everything the bundled imagegate config is generated from (images
 *   bucket, prefix and region, timeout → deadline, service endpoints) and what the environment's
 *   global stack holds (usage plan throttle and quota, which API key slots are live). Top-level
 *   keys give the default, `imagegate:environments.<env>.<key>` overrides it;
 * - stage (prod, dev, dev-<engineer>): the Lambda and API of one stage. Top-level keys give the
 *   default, `imagegate:overrides.<stage>.<key>` overrides it.
 */
import path from 'node:path';
import type { Node } from 'constructs';

export type Environment = 'prod' | 'dev';
export type QuotaPeriod = 'DAY' | 'WEEK' | 'MONTH';
export type Architecture = 'arm64' | 'x86_64';
export type KeySlot = 'a' | 'b';

export const ENVIRONMENTS: readonly Environment[] = ['prod', 'dev'];
export const KEY_SLOTS: readonly KeySlot[] = ['a', 'b'];

/** API Gateway's integration timeout for REST APIs: the Lambda never needs to run longer. */
export const API_GATEWAY_TIMEOUT_SECONDS = 29;

/**
 * The app's request deadline for a Lambda timeout: 80 %, so a slow render is answered by the app
 * (503 `deadline_exceeded`, with Retry-After) with time left to send it, store a large response
 * and log — never cut off by Lambda or API Gateway (a bare 502/504).
 */
export const deadlineMsFor = (timeoutSeconds: number) => Math.floor(timeoutSeconds * 800);

/** What the generated imagegate config and the environment's global stack are made from. */
export interface EnvironmentSettings {
  environment: Environment;
  imagesBucket: string;
  /** Key prefix inside the images bucket ('' for none). */
  imagesPrefix: string;
  /** Region of the images bucket; undefined: the Lambda's own region. */
  imagesBucketRegion?: string;
  /** Lambda timeout of every stage of the environment (≤ 29 s, API Gateway's limit). */
  timeoutSeconds: number;
  /** The app's per-request deadline, derived from timeoutSeconds. */
  deadlineMs: number;
  /** Usage plan throttle per key. */
  rateLimit: number;
  burstLimit: number;
  /** Usage plan quota; undefined (the default): usage is tracked, never capped. */
  quota?: { limit: number; period: QuotaPeriod };
  /** Serve /_metrics, /_openapi.json and /_admin/* through API Gateway (default: no). */
  serviceEndpoints: boolean;
  /** API key slots with a live API Gateway key (see docs/deploy-aws.md, "Rotate the API key"). */
  apiKeySlots: KeySlot[];
}

/** Settings for one API stage (prod, dev, dev-<engineer>). */
export interface StageSettings {
  stage: string;
  environment: Environment;
  memoryMb: number;
  /** Copied from the environment (one setting for the function, the config and API Gateway). */
  timeoutSeconds: number;
  cloudfront: boolean;
  /** Reserved concurrency of the function; undefined: none (the account's unreserved pool). */
  reservedConcurrency?: number;
  /** AWS X-Ray tracing for the function and the API stage. */
  tracing: boolean;
  /** SNS topic ARN the stage's alarms notify; undefined: alarms without actions. */
  alarmTopicArn?: string;
  /** Extra Lambda environment variables. */
  lambdaEnvironment: Record<string, string>;
}

export interface Settings {
  /** Prefix of every stack, resource name and export. */
  name: string;
  /** Lambda architecture; the bundle carries sharp's binaries for this one only. */
  architecture: Architecture;
  /** Create the account's API Gateway CloudWatch role (needed once per account and region for access logs). */
  apiGatewayAccountRole: boolean;
  environments: Record<Environment, EnvironmentSettings>;
  /** Base imagegate config per environment (absolute paths; may be the same file): routes, transform, cache… */
  configFile: Record<Environment, string>;
  /** The Lambda handler's source entry (absolute path). */
  entry: string;
  /** Repository root: where node_modules (sharp) is found. */
  projectRoot: string;
  /** API stages to synthesize: prod, dev and every engineer stage asked for. */
  stages: StageSettings[];
}

export class SettingsError extends Error {
  constructor(problems: string[]) {
    super(`invalid imagegate deployment settings:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'SettingsError';
  }
}

const STAGE_RE = /^(prod|dev|dev-[a-z0-9]{1,20})$/;
const BUCKET_RE = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const NAME_RE = /^[a-z][a-z0-9-]{0,20}$/;
const REGION_RE = /^[a-z]{2}(-[a-z]+)+-\d$/;
const TOPIC_RE = /^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/;

/** Keys that may be set per environment in `imagegate:environments` ({ "prod": { "quotaLimit": 5000000 } }). */
export const ENVIRONMENT_KEYS = [
  'imagesBucket',
  'imagesPrefix',
  'imagesBucketRegion',
  'timeoutSeconds',
  'rateLimit',
  'burstLimit',
  'quotaLimit',
  'quotaPeriod',
  'serviceEndpoints',
  'apiKeySlots',
] as const;

/** Keys that may be set per stage in `imagegate:overrides` ({ "prod": { "memoryMb": 3008 } }). */
export const STAGE_KEYS = ['memoryMb', 'cloudfront', 'reservedConcurrency', 'tracing', 'alarmTopicArn', 'environment'] as const;

const DEFAULTS = {
  name: 'imagegate',
  architecture: 'arm64' as Architecture,
  config: { prod: 'config/prod.yaml', dev: 'config/dev.yaml' },
  entry: '../src/lambda.ts',
  memoryMb: 1536,
  timeoutSeconds: API_GATEWAY_TIMEOUT_SECONDS,
  rateLimit: 50,
  burstLimit: 100,
  quotaPeriod: 'MONTH',
};

type Getter = (key: string) => unknown;

/** Where relative paths in context resolve: the folder holding cdk.json. */
export function infraDir(): string {
  return path.resolve(import.meta.dirname, '..');
}

/** Read settings from a construct tree's context. */
export function settingsFromNode(node: Node): Settings {
  return readSettings((k) => node.tryGetContext(k));
}

/** Read settings from any key → value lookup (tests pass a plain object). */
export function readSettings(get: Getter): Settings {
  const problems: string[] = [];
  // `-c key=value` gives strings: accept JSON objects and arrays written that way too.
  const parse = (k: string, v: unknown) => {
    if (typeof v === 'string' && /^\s*[{[]/.test(v)) {
      try {
        return JSON.parse(v) as unknown;
      } catch {
        problems.push(`imagegate:${k}: not valid JSON: ${v}`);
        return undefined;
      }
    }
    return v;
  };
  const ctx = (k: string) => parse(k, get(`imagegate:${k}`));
  const missing = (v: unknown) => v === undefined || v === null || v === '';

  const str = (key: string, value: unknown, fallback?: string): string => {
    if (missing(value)) {
      if (fallback !== undefined) return fallback;
      problems.push(`imagegate:${key}: required`);
      return '';
    }
    if (typeof value !== 'string') {
      problems.push(`imagegate:${key}: expected a string, got ${JSON.stringify(value)}`);
      return '';
    }
    return value;
  };
  const int = (key: string, value: unknown, fallback: number, min: number, max: number): number => {
    if (missing(value)) return fallback;
    const n = typeof value === 'number' ? value : Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
      problems.push(`imagegate:${key}: expected an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
      return fallback;
    }
    return n;
  };
  const bool = (key: string, value: unknown, fallback: boolean): boolean => {
    if (missing(value)) return fallback;
    if (value === true || value === 'true') return true;
    if (value === false || value === 'false') return false;
    problems.push(`imagegate:${key}: expected true or false, got ${JSON.stringify(value)}`);
    return fallback;
  };
  /** An object keyed by name (environment or stage), checked against the keys allowed in it. */
  const table = (key: string, names: (n: string) => boolean, allowed: readonly string[]) => {
    const raw = ctx(key) ?? {};
    if (typeof raw !== 'object' || Array.isArray(raw)) {
      problems.push(`imagegate:${key}: expected an object keyed by ${key === 'environments' ? 'environment (prod, dev)' : 'stage'}`);
      return {} as Record<string, Record<string, unknown>>;
    }
    const out: Record<string, Record<string, unknown>> = {};
    for (const [n, v] of Object.entries(raw as Record<string, unknown>)) {
      if (!names(n)) {
        problems.push(`imagegate:${key}.${n}: unknown ${key === 'environments' ? 'environment (prod, dev)' : 'stage'}`);
        continue;
      }
      const entry = parse(`${key}.${n}`, v) ?? {};
      if (typeof entry !== 'object' || Array.isArray(entry)) {
        problems.push(`imagegate:${key}.${n}: expected an object`);
        continue;
      }
      for (const k of Object.keys(entry)) {
        if (!allowed.includes(k)) {
          const elsewhere =
            key === 'overrides' && (ENVIRONMENT_KEYS as readonly string[]).includes(k)
              ? ` (${k} is shared by every stage of an environment: set it in imagegate:environments.<prod|dev>)`
              : '';
          problems.push(`imagegate:${key}.${n}.${k}: unknown setting${elsewhere} (known: ${allowed.join(', ')})`);
        }
      }
      out[n] = entry as Record<string, unknown>;
    }
    return out;
  };

  const name = str('name', ctx('name'), DEFAULTS.name);
  if (name && !NAME_RE.test(name)) problems.push(`imagegate:name: expected lower-case letters, digits and -, up to 21, got '${name}'`);

  const architecture = str('architecture', ctx('architecture'), DEFAULTS.architecture) as Architecture;
  if (architecture && !['arm64', 'x86_64'].includes(architecture)) {
    problems.push(`imagegate:architecture: expected arm64 or x86_64, got '${architecture}'`);
  }
  const apiGatewayAccountRole = bool('apiGatewayAccountRole', ctx('apiGatewayAccountRole'), true);

  // config: one file for both environments, or { "prod": "...", "dev": "..." }.
  const rawConfig = ctx('config') ?? DEFAULTS.config;
  const configFile = { prod: '', dev: '' } as Record<Environment, string>;
  for (const env of ENVIRONMENTS) {
    const file =
      rawConfig && typeof rawConfig === 'object'
        ? str(`config.${env}`, (rawConfig as Record<string, unknown>)[env])
        : str('config', rawConfig);
    configFile[env] = path.resolve(infraDir(), file);
  }
  const entry = path.resolve(infraDir(), str('entry', ctx('entry'), DEFAULTS.entry));
  const projectRoot = path.resolve(infraDir(), str('projectRoot', ctx('projectRoot'), '..'));

  // Environment settings: imagegate:environments.<env>.<key>, else imagegate:<key> (which for the
  // images bucket, prefix and region may itself be { "prod": …, "dev": … }).
  const envTable = table('environments', (n) => (ENVIRONMENTS as readonly string[]).includes(n), ENVIRONMENT_KEYS);
  const environments = {} as Record<Environment, EnvironmentSettings>;
  for (const env of ENVIRONMENTS) {
    const over = envTable[env] ?? {};
    const key = (k: string) => (k in over ? `environments.${env}.${k}` : k);
    const perEnv = (k: (typeof ENVIRONMENT_KEYS)[number]): [string, unknown] => {
      if (k in over) return [key(k), over[k]];
      const v = ctx(k);
      if (v && typeof v === 'object' && !Array.isArray(v)) return [`${k}.${env}`, (v as Record<string, unknown>)[env]];
      return [k, v];
    };

    const [bucketKey, rawBucket] = perEnv('imagesBucket');
    const imagesBucket = str(bucketKey, rawBucket);
    if (imagesBucket && !BUCKET_RE.test(imagesBucket)) problems.push(`imagegate:${bucketKey}: '${imagesBucket}' is not a valid S3 bucket name`);
    const [prefixKey, rawPrefix] = perEnv('imagesPrefix');
    const imagesPrefix = str(prefixKey, rawPrefix, '');
    if (imagesPrefix.startsWith('/') || /[*?]/.test(imagesPrefix)) {
      problems.push(`imagegate:${prefixKey}: expected a key prefix without a leading / or wildcards, got '${imagesPrefix}'`);
    }
    const [regionKey, rawRegion] = perEnv('imagesBucketRegion');
    const imagesBucketRegion = str(regionKey, rawRegion, '') || undefined;
    if (imagesBucketRegion && !REGION_RE.test(imagesBucketRegion)) {
      problems.push(`imagegate:${regionKey}: expected a region like eu-west-1, got '${imagesBucketRegion}'`);
    }

    const [timeoutKey, rawTimeout] = perEnv('timeoutSeconds');
    // API Gateway gives up after 29 s: a longer Lambda only burns money, and the caller gets a 504.
    const timeoutSeconds = int(timeoutKey, rawTimeout, DEFAULTS.timeoutSeconds, 3, API_GATEWAY_TIMEOUT_SECONDS);
    const [rateKey, rawRate] = perEnv('rateLimit');
    const [burstKey, rawBurst] = perEnv('burstLimit');
    const [quotaKey, rawQuota] = perEnv('quotaLimit');
    const [periodKey, rawPeriod] = perEnv('quotaPeriod');
    const quotaPeriod = String(missing(rawPeriod) ? DEFAULTS.quotaPeriod : rawPeriod).toUpperCase();
    if (!['DAY', 'WEEK', 'MONTH'].includes(quotaPeriod)) problems.push(`imagegate:${periodKey}: expected DAY, WEEK or MONTH, got '${quotaPeriod}'`);
    // No quota unless one is asked for: a usage plan tracks usage, it does not switch prod off.
    const quotaLimit = missing(rawQuota) || rawQuota === 0 || rawQuota === '0' ? undefined : int(quotaKey, rawQuota, 0, 1, 2_000_000_000);
    const [endpointsKey, rawEndpoints] = perEnv('serviceEndpoints');
    const [slotsKey, rawSlots] = perEnv('apiKeySlots');
    const slotList = missing(rawSlots) ? ['a'] : Array.isArray(rawSlots) ? rawSlots.map(String) : String(rawSlots).split(',').map((s) => s.trim());
    const apiKeySlots = [...new Set(slotList)] as KeySlot[];
    if (apiKeySlots.length === 0 || apiKeySlots.some((s) => !(KEY_SLOTS as readonly string[]).includes(s))) {
      problems.push(`imagegate:${slotsKey}: expected one or both of the slots a, b (e.g. "a" or "a,b"), got ${JSON.stringify(rawSlots)}`);
    }
    environments[env] = {
      environment: env,
      imagesBucket,
      imagesPrefix,
      ...(imagesBucketRegion ? { imagesBucketRegion } : {}),
      timeoutSeconds,
      deadlineMs: deadlineMsFor(timeoutSeconds),
      rateLimit: int(rateKey, rawRate, DEFAULTS.rateLimit, 1, 1_000_000),
      burstLimit: int(burstKey, rawBurst, DEFAULTS.burstLimit, 1, 1_000_000),
      ...(quotaLimit ? { quota: { limit: quotaLimit, period: quotaPeriod as QuotaPeriod } } : {}),
      serviceEndpoints: bool(endpointsKey, rawEndpoints, false),
      apiKeySlots,
    };
  }

  const rawEnv = ctx('environment');
  const baseEnvironment: Record<string, string> = {};
  const readEnv = (key: string, raw: unknown, into: Record<string, string>) => {
    if (raw === undefined || raw === null) return;
    if (typeof raw !== 'object' || Array.isArray(raw)) {
      problems.push(`imagegate:${key}: expected an object of NAME: value`);
      return;
    }
    for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) problems.push(`imagegate:${key}.${k}: not a valid variable name`);
      else if (/^AWS_/.test(k)) problems.push(`imagegate:${key}.${k}: AWS_* variables are reserved by Lambda`);
      else into[k] = String(v);
    }
  };
  readEnv('environment', rawEnv, baseEnvironment);

  // Stages: prod and dev always; engineer stages from imagegate:stages ("dev-alice,dev-bob").
  const rawStages = ctx('stages');
  const extra = missing(rawStages)
    ? []
    : Array.isArray(rawStages)
      ? rawStages.map(String)
      : String(rawStages).split(',').map((s) => s.trim()).filter(Boolean);
  const stageNames = [...new Set(['prod', 'dev', ...extra])];
  const stageTable = table('overrides', (n) => STAGE_RE.test(n), STAGE_KEYS);

  const stages: StageSettings[] = [];
  for (const stage of stageNames) {
    if (!STAGE_RE.test(stage)) {
      problems.push(`imagegate:stages: '${stage}' is not a stage name (prod, dev or dev-<engineer>, lower-case letters and digits)`);
      continue;
    }
    const over = stageTable[stage] ?? {};
    const pick = (k: (typeof STAGE_KEYS)[number]) => over[k] ?? ctx(k);
    const key = (k: string) => (k in over ? `overrides.${stage}.${k}` : k);
    const environment: Environment = stage === 'prod' ? 'prod' : 'dev';
    const lambdaEnvironment = { ...baseEnvironment };
    readEnv(key('environment'), over.environment, lambdaEnvironment);
    const reserved = pick('reservedConcurrency');
    const alarmTopicArn = str(key('alarmTopicArn'), pick('alarmTopicArn'), '') || undefined;
    if (alarmTopicArn && !TOPIC_RE.test(alarmTopicArn)) {
      problems.push(`imagegate:${key('alarmTopicArn')}: expected an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>), got '${alarmTopicArn}'`);
    }
    stages.push({
      stage,
      environment,
      memoryMb: int(key('memoryMb'), pick('memoryMb'), DEFAULTS.memoryMb, 128, 10_240),
      timeoutSeconds: environments[environment].timeoutSeconds,
      cloudfront: bool(key('cloudfront'), pick('cloudfront'), false),
      ...(missing(reserved) || reserved === 'none' ? {} : { reservedConcurrency: int(key('reservedConcurrency'), reserved, 1, 1, 10_000) }),
      tracing: bool(key('tracing'), pick('tracing'), false),
      ...(alarmTopicArn ? { alarmTopicArn } : {}),
      lambdaEnvironment,
    });
  }

  if (problems.length) throw new SettingsError(problems);
  return { name, architecture, apiGatewayAccountRole, environments, configFile, entry, projectRoot, stages };
}
