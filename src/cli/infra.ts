/**
 * `imagegate infra bucket-policy`: the bucket policy an images bucket in another AWS account
 * needs so the imagegate Lambda roles (one per environment, from the CDK global stacks) can read
 * it. The role's own policy is not enough across accounts: both sides must allow the read.
 */
import { parseCommandArgs } from './args.ts';

export const help = `Usage: imagegate infra bucket-policy --bucket NAME --role-arn ARN [--role-arn ARN …] [options]
       imagegate infra bucket-policy --bucket NAME --account ID [--env prod --env dev] [options]

Print (as JSON) the S3 bucket policy that lets imagegate's Lambda roles read a bucket in
another AWS account. Apply it in the bucket's account:

  aws s3api put-bucket-policy --bucket NAME --policy file://policy.json

A bucket that already has a policy: merge the printed statements into it.

  --bucket NAME        the images bucket
  --role-arn ARN       a role allowed to read (repeatable), e.g. the export global--api-role--prod
  --account ID         the account of the CDK stacks: names the roles the global stacks create
  --env ENV            with --account: prod, dev (repeatable; default both)
  --name NAME          with --account: the CDK app's imagegate:name (default imagegate)
  --prefix PREFIX      allow only keys under PREFIX (e.g. partnerimages/)
  --partition P        aws (default), aws-cn, aws-us-gov
  -h, --help           this help

s3:ListBucket is included on purpose: without it S3 answers 403 instead of 404 for a missing
key, and imagegate cannot tell "not found" from "forbidden".

Exit codes: 0 printed, 2 usage error.`;

export interface BucketPolicyOptions {
  bucket: string;
  roleArns: string[];
  prefix?: string;
  partition?: string;
}

interface Statement {
  Sid: string;
  Effect: 'Allow';
  Principal: { AWS: string[] };
  Action: string[];
  Resource: string;
  Condition?: Record<string, Record<string, string[]>>;
}

export interface BucketPolicy {
  Version: '2012-10-17';
  Statement: Statement[];
}

const BUCKET_RE = /^(?!xn--)(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const ROLE_ARN_RE = /^arn:aws(-cn|-us-gov)?:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;
const PARTITIONS = ['aws', 'aws-cn', 'aws-us-gov'];

/** The role name a CDK global stack gives its Lambda role (infra/lib/global-stack.ts). */
export function lambdaRoleArn(account: string, env: string, name = 'imagegate', partition = 'aws'): string {
  return `arn:${partition}:iam::${account}:role/${name}-global-${env}-lambda-role`;
}

/** Build the policy; throws an Error naming the bad option. */
export function bucketPolicy(opts: BucketPolicyOptions): BucketPolicy {
  const partition = opts.partition ?? 'aws';
  if (!PARTITIONS.includes(partition)) throw new Error(`--partition: expected ${PARTITIONS.join(', ')}, got '${partition}'`);
  if (!BUCKET_RE.test(opts.bucket)) throw new Error(`--bucket: '${opts.bucket}' is not a valid S3 bucket name`);
  if (opts.roleArns.length === 0) throw new Error('give at least one --role-arn (or --account)');
  for (const arn of opts.roleArns) {
    if (!ROLE_ARN_RE.test(arn)) throw new Error(`--role-arn: expected arn:aws:iam::<12 digits>:role/<name>, got '${arn}'`);
  }
  const prefix = opts.prefix ?? '';
  if (prefix.startsWith('/') || /[*?]/.test(prefix)) throw new Error(`--prefix: expected a key prefix without leading / or wildcards, got '${prefix}'`);

  const principal = { AWS: [...new Set(opts.roleArns)] };
  const bucketArn = `arn:${partition}:s3:::${opts.bucket}`;
  const list: Statement = {
    Sid: 'ImagegateList',
    Effect: 'Allow',
    Principal: principal,
    Action: ['s3:ListBucket'],
    Resource: bucketArn,
  };
  if (prefix) list.Condition = { StringLike: { 's3:prefix': [`${prefix}*`] } };
  return {
    Version: '2012-10-17',
    Statement: [
      list,
      {
        Sid: 'ImagegateRead',
        Effect: 'Allow',
        Principal: principal,
        Action: ['s3:GetObject', 's3:GetObjectVersion'],
        Resource: `${bucketArn}/${prefix}*`,
      },
    ],
  };
}

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (!sub || sub === '--help' || sub === '-h') {
    (sub ? console.log : console.error)(help);
    return sub ? 0 : 2;
  }
  if (sub !== 'bucket-policy') {
    console.error(`imagegate infra: unknown command '${sub}'\n\n${help}`);
    return 2;
  }
  const parsed = parseCommandArgs(
    rest,
    {
      bucket: { type: 'string' },
      'role-arn': { type: 'string', multiple: true },
      account: { type: 'string' },
      env: { type: 'string', multiple: true },
      name: { type: 'string' },
      prefix: { type: 'string' },
      partition: { type: 'string' },
    },
    help,
  );
  if (parsed.exit !== undefined) return parsed.exit;
  const v = parsed.values;
  try {
    if (!v.bucket) throw new Error('--bucket is required');
    const partition = (v.partition as string | undefined) ?? 'aws';
    const roleArns = [...((v['role-arn'] as string[] | undefined) ?? [])];
    if (v.account !== undefined) {
      const account = String(v.account);
      if (!/^\d{12}$/.test(account)) throw new Error(`--account: expected 12 digits, got '${account}'`);
      const name = (v.name as string | undefined) ?? 'imagegate';
      if (!/^[a-z][a-z0-9-]{0,20}$/.test(name)) throw new Error(`--name: expected lower-case letters, digits and -, got '${name}'`);
      const envs = (v.env as string[] | undefined) ?? ['prod', 'dev'];
      for (const env of envs) {
        if (env !== 'prod' && env !== 'dev') throw new Error(`--env: expected prod or dev, got '${env}'`);
        roleArns.push(lambdaRoleArn(account, env, name, partition));
      }
    } else if (v.env || v.name) {
      throw new Error('--env and --name need --account');
    }
    const policy = bucketPolicy({
      bucket: String(v.bucket),
      roleArns,
      prefix: v.prefix as string | undefined,
      partition,
    });
    console.log(JSON.stringify(policy, null, 2));
    return 0;
  } catch (err) {
    console.error(`imagegate infra bucket-policy: ${(err as Error).message}`);
    return 2;
  }
}
