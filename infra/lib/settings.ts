/**
 * Deployment settings, read from CDK context (cdk.json, or `-c imagegate:<name>=<value>` on the
 * command line). Every value is validated here, once, and each error names its context key, so a
 * typo fails `cdk synth` instead of a CloudFormation deployment twenty minutes later.
 */
import path from 'node:path';
import type { Node } from 'constructs';

export type Environment = 'prod' | 'dev';
export type QuotaPeriod = 'DAY' | 'WEEK' | 'MONTH';

/** Settings for one API stage (prod, dev, dev-<engineer>). */
export interface StageSettings {
  stage: string;
  environment: Environment;
  memoryMb: number;
  timeoutSeconds: number;
  rateLimit: number;
  burstLimit: number;
  quotaLimit: number;
  quotaPeriod: QuotaPeriod;
  cloudfront: boolean;
  /** Extra Lambda environment variables. */
  lambdaEnvironment: Record<string, string>;
}

export interface Settings {
  /** Prefix of stack and resource names. */
  name: string;
  /** The images bucket per environment (it may live in another account). */
  imagesBucket: Record<Environment, string>;
  /** imagegate config file bundled with the Lambda, per environment (absolute paths; may be the same file). */
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

/** Per-stage keys that may be overridden in `imagegate:overrides` ({ "prod": { "memoryMb": 3008 } }). */
const STAGE_KEYS = [
  'memoryMb',
  'timeoutSeconds',
  'rateLimit',
  'burstLimit',
  'quotaLimit',
  'quotaPeriod',
  'cloudfront',
  'environment',
] as const;

const DEFAULTS = {
  name: 'imagegate',
  config: { prod: 'config/prod.yaml', dev: 'config/dev.yaml' },
  entry: '../src/lambda.ts',
  memoryMb: 1536,
  timeoutSeconds: 29,
  rateLimit: 50,
  burstLimit: 100,
  quotaLimit: 1_000_000,
  quotaPeriod: 'MONTH',
  cloudfront: false,
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
  // `-c key=value` gives strings: accept JSON objects written that way too.
  const ctx = (k: string) => {
    const v = get(`imagegate:${k}`);
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

  const str = (key: string, value: unknown, fallback?: string): string => {
    if (value === undefined || value === null || value === '') {
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
    if (value === undefined || value === null || value === '') return fallback;
    const n = typeof value === 'number' ? value : Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
      problems.push(`imagegate:${key}: expected an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
      return fallback;
    }
    return n;
  };
  const bool = (key: string, value: unknown, fallback: boolean): boolean => {
    if (value === undefined || value === null || value === '') return fallback;
    if (value === true || value === 'true') return true;
    if (value === false || value === 'false') return false;
    problems.push(`imagegate:${key}: expected true or false, got ${JSON.stringify(value)}`);
    return fallback;
  };

  const name = str('name', ctx('name'), DEFAULTS.name);
  if (name && !NAME_RE.test(name)) problems.push(`imagegate:name: expected lower-case letters, digits and -, got '${name}'`);

  // imagesBucket: one name for both environments, or { "prod": "...", "dev": "..." }.
  const rawBucket = ctx('imagesBucket');
  const imagesBucket = { prod: '', dev: '' } as Record<Environment, string>;
  if (rawBucket && typeof rawBucket === 'object') {
    for (const env of ['prod', 'dev'] as const) {
      imagesBucket[env] = str(`imagesBucket.${env}`, (rawBucket as Record<string, unknown>)[env]);
    }
  } else {
    const b = str('imagesBucket', rawBucket);
    imagesBucket.prod = b;
    imagesBucket.dev = b;
  }
  for (const env of ['prod', 'dev'] as const) {
    const b = imagesBucket[env];
    if (b && !BUCKET_RE.test(b)) problems.push(`imagegate:imagesBucket: '${b}' is not a valid S3 bucket name`);
  }

  // config: one file for both environments, or { "prod": "...", "dev": "..." }.
  const rawConfig = ctx('config') ?? DEFAULTS.config;
  const configFile = { prod: '', dev: '' } as Record<Environment, string>;
  for (const env of ['prod', 'dev'] as const) {
    const file =
      rawConfig && typeof rawConfig === 'object'
        ? str(`config.${env}`, (rawConfig as Record<string, unknown>)[env])
        : str('config', rawConfig);
    configFile[env] = path.resolve(infraDir(), file);
  }
  const entry = path.resolve(infraDir(), str('entry', ctx('entry'), DEFAULTS.entry));
  const projectRoot = path.resolve(infraDir(), str('projectRoot', ctx('projectRoot'), '..'));

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

  const rawOverrides = (ctx('overrides') ?? {}) as Record<string, Record<string, unknown>>;
  if (typeof rawOverrides !== 'object' || Array.isArray(rawOverrides)) {
    problems.push('imagegate:overrides: expected an object keyed by stage');
  }

  // Stages: prod and dev always; engineer stages from imagegate:stages ("dev-alice,dev-bob").
  const rawStages = ctx('stages');
  const extra =
    rawStages === undefined || rawStages === null || rawStages === ''
      ? []
      : Array.isArray(rawStages)
        ? rawStages.map(String)
        : String(rawStages).split(',').map((s) => s.trim()).filter(Boolean);
  const stageNames = [...new Set(['prod', 'dev', ...extra])];

  const stages: StageSettings[] = [];
  for (const stage of stageNames) {
    if (!STAGE_RE.test(stage)) {
      problems.push(`imagegate:stages: '${stage}' is not a stage name (prod, dev or dev-<engineer>, lower-case letters and digits)`);
      continue;
    }
    const over = (typeof rawOverrides === 'object' && rawOverrides?.[stage]) || {};
    for (const k of Object.keys(over)) {
      if (!(STAGE_KEYS as readonly string[]).includes(k)) {
        problems.push(`imagegate:overrides.${stage}.${k}: unknown setting (known: ${STAGE_KEYS.join(', ')})`);
      }
    }
    const pick = (k: (typeof STAGE_KEYS)[number]) => (over as Record<string, unknown>)[k] ?? ctx(k);
    const key = (k: string) => (k in over ? `overrides.${stage}.${k}` : k);
    const quotaPeriod = String(pick('quotaPeriod') ?? DEFAULTS.quotaPeriod).toUpperCase();
    if (!['DAY', 'WEEK', 'MONTH'].includes(quotaPeriod)) {
      problems.push(`imagegate:${key('quotaPeriod')}: expected DAY, WEEK or MONTH, got '${quotaPeriod}'`);
    }
    const lambdaEnvironment = { ...baseEnvironment };
    readEnv(key('environment'), (over as Record<string, unknown>).environment, lambdaEnvironment);
    const s: StageSettings = {
      stage,
      environment: stage === 'prod' ? 'prod' : 'dev',
      memoryMb: int(key('memoryMb'), pick('memoryMb'), DEFAULTS.memoryMb, 128, 10_240),
      // API Gateway gives up after 29 s by default; a longer Lambda only burns money.
      timeoutSeconds: int(key('timeoutSeconds'), pick('timeoutSeconds'), DEFAULTS.timeoutSeconds, 1, 900),
      rateLimit: int(key('rateLimit'), pick('rateLimit'), DEFAULTS.rateLimit, 1, 1_000_000),
      burstLimit: int(key('burstLimit'), pick('burstLimit'), DEFAULTS.burstLimit, 1, 1_000_000),
      quotaLimit: int(key('quotaLimit'), pick('quotaLimit'), DEFAULTS.quotaLimit, 1, 2_000_000_000),
      quotaPeriod: quotaPeriod as QuotaPeriod,
      cloudfront: bool(key('cloudfront'), pick('cloudfront'), DEFAULTS.cloudfront),
      lambdaEnvironment,
    };
    stages.push(s);
  }

  if (problems.length) throw new SettingsError(problems);
  return { name, imagesBucket, configFile, entry, projectRoot, stages };
}
