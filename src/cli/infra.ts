/**
 * `imagegate infra bucket-policy`: the bucket policy an images bucket in another AWS account
 * needs so the imagegate Lambda roles (one per environment, from the CDK global stacks) can read
 * it. The role's own policy is not enough across accounts: both sides must allow the read.
 */
import { parseCommandArgs } from './args.ts';
import { randomKey } from '../config/defaults.ts';

export const help = `Usage: imagegate infra renew-key --env ENV --slot a|b [--name NAME] [--region REGION]
       imagegate infra bucket-policy --bucket NAME --account ID --region REGION [--env prod --env dev] [options]
       imagegate infra bucket-policy --bucket NAME --role-arn ARN [--role-arn ARN …] [options]

Print (as JSON) the S3 bucket policy that lets imagegate's Lambda roles read a bucket in
another AWS account. Apply it in the bucket's account, before or after the CDK global stacks
are deployed:

  aws s3api put-bucket-policy --bucket NAME --policy file://policy.json

A bucket that already has a policy: merge the printed statements into it.

  --bucket NAME        the images bucket
  --account ID         the account of the CDK stacks: names the roles its global stacks create
  --region REGION      with --account: the region of the CDK stacks (role names carry it)
  --env ENV            with --account: prod, dev (repeatable; default both)
  --name NAME          with --account: the CDK app's imagegate:name (default imagegate)
  --role-arn ARN       a role allowed to read (repeatable), e.g. the export <name>-global-prod-role-arn
  --prefix PREFIX      allow reading only keys under PREFIX (e.g. partnerimages/)
  --partition P        aws (default), aws-cn, aws-us-gov
  -h, --help           this help

The principal is the roles' account, narrowed to the roles by an aws:PrincipalArn condition:
S3 accepts the policy even before the roles exist (a role ARN as principal is refused until
the role exists), and it keeps working when a global stack is destroyed and deployed again
(a new role with the same name).

s3:ListBucket is granted on the bucket without a prefix condition, on purpose: S3 answers 403
instead of 404 for a missing key unless the reader may list the bucket, and a GetObject carries
no s3:prefix to match. Listing shows key names (never contents) outside the prefix.

renew-key writes a fresh random value into the secret of an API key slot
(<name>-global-<env>-api-key-<slot>). Run it only for a retired slot (deployed without it in
imagegate:apiKeySlots): its API Gateway key is gone, so the old value is refused everywhere
once the Lambdas read the secret again, and the slot is ready for the next rotation. See
docs/deploy-aws.md, "Rotate the API key".

Exit codes: 0 done, 1 AWS call failed, 2 usage error.`;

interface BucketPolicyOptions {
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
  Condition: Record<string, Record<string, string[]>>;
}

export interface BucketPolicy {
  Version: '2012-10-17';
  Statement: Statement[];
}

const BUCKET_RE = /^(?!xn--)(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const ROLE_ARN_RE = /^arn:(aws|aws-cn|aws-us-gov):iam::(\d{12}):role\/[\w+=,.@/-]{1,512}$/;
const REGION_RE = /^[a-z]{2}(-[a-z]+)+-\d$/;
const PARTITIONS = ['aws', 'aws-cn', 'aws-us-gov'];

/** The role a CDK global stack gives its Lambda (infra/lib/names.ts: <name>-<env>-lambda-<region>). */
export function lambdaRoleArn(account: string, env: string, region: string, name = 'imagegate', partition = 'aws'): string {
  return `arn:${partition}:iam::${account}:role/${name}-${env}-lambda-${region}`;
}

/** Build the policy; throws an Error naming the bad option. */
export function bucketPolicy(opts: BucketPolicyOptions): BucketPolicy {
  const partition = opts.partition ?? 'aws';
  if (!PARTITIONS.includes(partition)) throw new Error(`--partition: expected ${PARTITIONS.join(', ')}, got '${partition}'`);
  if (!BUCKET_RE.test(opts.bucket)) throw new Error(`--bucket: '${opts.bucket}' is not a valid S3 bucket name`);
  if (opts.roleArns.length === 0) throw new Error('give --account and --region (or at least one --role-arn)');
  const accounts = new Set<string>();
  for (const arn of opts.roleArns) {
    const m = ROLE_ARN_RE.exec(arn);
    if (!m) throw new Error(`--role-arn: expected arn:aws:iam::<12 digits>:role/<name>, got '${arn}'`);
    accounts.add(`arn:${m[1]}:iam::${m[2]}:root`);
  }
  const prefix = opts.prefix ?? '';
  if (prefix.startsWith('/') || /[*?]/.test(prefix)) throw new Error(`--prefix: expected a key prefix without leading / or wildcards, got '${prefix}'`);

  const principal = { AWS: [...accounts] };
  const onlyRoles = { ArnLike: { 'aws:PrincipalArn': [...new Set(opts.roleArns)] } };
  const bucketArn = `arn:${partition}:s3:::${opts.bucket}`;
  return {
    Version: '2012-10-17',
    Statement: [
      { Sid: 'ImagegateList', Effect: 'Allow', Principal: principal, Action: ['s3:ListBucket'], Resource: bucketArn, Condition: onlyRoles },
      {
        Sid: 'ImagegateRead',
        Effect: 'Allow',
        Principal: principal,
        Action: ['s3:GetObject', 's3:GetObjectVersion'],
        Resource: `${bucketArn}/${prefix}*`,
        Condition: onlyRoles,
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
  if (sub === 'renew-key') return renewKey(rest);
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
      region: { type: 'string' },
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
      const region = v.region as string | undefined;
      if (!region || !REGION_RE.test(region)) throw new Error(`--region: with --account, the region of the CDK stacks (e.g. eu-west-1), got '${region ?? ''}'`);
      const envs = (v.env as string[] | undefined) ?? ['prod', 'dev'];
      for (const env of envs) {
        if (env !== 'prod' && env !== 'dev') throw new Error(`--env: expected prod or dev, got '${env}'`);
        roleArns.push(lambdaRoleArn(account, env, region, name, partition));
      }
    } else if (v.env || v.name || v.region) {
      throw new Error('--env, --name and --region need --account');
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

/** `renew-key`: a fresh value for a retired API key slot's secret. */
async function renewKey(argv: string[]): Promise<number> {
  const parsed = parseCommandArgs(argv, { env: { type: 'string' }, slot: { type: 'string' }, name: { type: 'string' }, region: { type: 'string' } }, help);
  if (parsed.exit !== undefined) return parsed.exit;
  const v = parsed.values;
  const env = v.env as string | undefined;
  const slot = v.slot as string | undefined;
  const name = (v.name as string | undefined) ?? 'imagegate';
  if (env !== 'prod' && env !== 'dev') {
    console.error(`imagegate infra renew-key: --env: expected prod or dev, got '${env ?? ''}'`);
    return 2;
  }
  if (slot !== 'a' && slot !== 'b') {
    console.error(`imagegate infra renew-key: --slot: expected a or b, got '${slot ?? ''}'`);
    return 2;
  }
  if (!/^[a-z][a-z0-9-]{0,20}$/.test(name)) {
    console.error(`imagegate infra renew-key: --name: expected lower-case letters, digits and -, got '${name}'`);
    return 2;
  }
  const secretId = `${name}-global-${env}-api-key-${slot}`;
  const { SecretsManagerClient, PutSecretValueCommand } = await import('@aws-sdk/client-secrets-manager');
  const client = new SecretsManagerClient(v.region ? { region: v.region as string } : {});
  try {
    await client.send(new PutSecretValueCommand({ SecretId: secretId, SecretString: JSON.stringify({ api_key: randomKey(30) }) }));
  } catch (err) {
    console.error(`imagegate infra renew-key: ${secretId}: ${(err as Error).message}`);
    return 1;
  } finally {
    client.destroy();
  }
  console.log(`renewed ${secretId}: its old value is refused once the Lambdas read it again (new instances at once).`);
  return 0;
}
