import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bucketPolicy, help, lambdaRoleArn, run } from '../../src/cli/infra.ts';
import { resourceNames } from '../../infra/lib/names.ts';
import { requireCommand } from '../helpers/services.ts';

/** Run the command, capturing what it prints. */
async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = console.log;
  const error = console.error;
  console.log = (...a: unknown[]) => void out.push(a.join(' '));
  console.error = (...a: unknown[]) => void err.push(a.join(' '));
  try {
    const code = await run(argv);
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    console.log = log;
    console.error = error;
  }
}

const work = mkdtempSync(path.join(os.tmpdir(), 'imagegate-bucket-policy-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** cfn-lint checks every action name of a policy inside an AWS::S3::BucketPolicy. */
function cfnLintPolicy(policy: unknown): { status: number | null; output: string } {
  const file = path.join(work, `policy-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      AWSTemplateFormatVersion: '2010-09-09',
      Resources: { ImagesBucketPolicy: { Type: 'AWS::S3::BucketPolicy', Properties: { Bucket: 'images-bucket', PolicyDocument: policy } } },
    }),
  );
  const res = spawnSync('cfn-lint', ['--format', 'parseable', '--', file], { encoding: 'utf8' });
  return { status: res.status, output: res.stdout + res.stderr };
}

describe('imagegate infra bucket-policy', () => {
  test('prints a policy letting the given roles list the bucket and read its objects: principal the account, narrowed to the roles', async () => {
    const roles = ['arn:aws:iam::111122223333:role/imagegate-prod-lambda-eu-west-1', 'arn:aws:iam::111122223333:role/imagegate-dev-lambda-eu-west-1'];
    const r = await cli(['bucket-policy', '--bucket', 'images-bucket', '--role-arn', roles[0]!, '--role-arn', roles[1]!]);
    assert.equal(r.code, 0, r.err);
    const policy = JSON.parse(r.out);
    // A role ARN as principal is refused by S3 until the role exists, and silently stops matching
    // once the role is re-created; the account always exists and aws:PrincipalArn matches by name.
    const only = { ArnLike: { 'aws:PrincipalArn': roles } };
    assert.deepEqual(policy, {
      Version: '2012-10-17',
      Statement: [
        { Sid: 'ImagegateList', Effect: 'Allow', Principal: { AWS: ['arn:aws:iam::111122223333:root'] }, Action: ['s3:ListBucket'], Resource: 'arn:aws:s3:::images-bucket', Condition: only },
        {
          Sid: 'ImagegateRead',
          Effect: 'Allow',
          Principal: { AWS: ['arn:aws:iam::111122223333:root'] },
          Action: ['s3:GetObject', 's3:GetObjectVersion'],
          Resource: 'arn:aws:s3:::images-bucket/*',
          Condition: only,
        },
      ],
    });
  });

  test('--account and --region name the roles the CDK global stacks create; --prefix narrows reads, never ListBucket (a missing key stays a 404)', async () => {
    const r = await cli(['bucket-policy', '--bucket', 'images-bucket', '--account', '111122223333', '--region', 'eu-west-1', '--prefix', 'partnerimages/']);
    assert.equal(r.code, 0, r.err);
    const policy = JSON.parse(r.out);
    const names = resourceNames('imagegate');
    const expected = (['prod', 'dev'] as const).map((env) => `arn:aws:iam::111122223333:role/${names.lambdaRole(env, 'eu-west-1')}`);
    assert.deepEqual(policy.Statement[0].Condition, { ArnLike: { 'aws:PrincipalArn': expected } });
    // An s3:prefix condition on ListBucket would turn every missing key into a 403: a GetObject carries no s3:prefix.
    assert.deepEqual(Object.keys(policy.Statement[0].Condition), ['ArnLike']);
    assert.equal(policy.Statement[1].Resource, 'arn:aws:s3:::images-bucket/partnerimages/*');
    assert.equal(lambdaRoleArn('111122223333', 'dev', 'us-east-1', 'acme'), `arn:aws:iam::111122223333:role/${resourceNames('acme').lambdaRole('dev', 'us-east-1')}`);
    const one = await cli(['bucket-policy', '--bucket', 'images-bucket', '--account', '111122223333', '--region', 'us-east-1', '--env', 'dev', '--name', 'acme']);
    assert.deepEqual(JSON.parse(one.out).Statement[1].Condition.ArnLike['aws:PrincipalArn'], ['arn:aws:iam::111122223333:role/acme-dev-lambda-us-east-1']);
  });

  test('bad input is a usage error (exit 2) naming the option', async () => {
    const cases: [string[], RegExp][] = [
      [['bucket-policy', '--role-arn', 'arn:aws:iam::111122223333:role/x'], /--bucket is required/],
      [['bucket-policy', '--bucket', 'Images_Bucket', '--role-arn', 'arn:aws:iam::111122223333:role/x'], /--bucket: 'Images_Bucket'/],
      [['bucket-policy', '--bucket', 'images-bucket', '--role-arn', 'arn:aws:iam::1234:role/x'], /--role-arn: expected/],
      [['bucket-policy', '--bucket', 'images-bucket'], /give --account and --region/],
      [['bucket-policy', '--bucket', 'images-bucket', '--account', '12'], /--account: expected 12 digits/],
      [['bucket-policy', '--bucket', 'images-bucket', '--account', '111122223333'], /--region: with --account/],
      [['bucket-policy', '--bucket', 'images-bucket', '--account', '111122223333', '--region', 'eu-west-1', '--env', 'staging'], /--env: expected prod or dev/],
      [['bucket-policy', '--bucket', 'images-bucket', '--nope'], /Unknown option '--nope'/],
      [['bucket-polcy'], /unknown command 'bucket-polcy'/],
    ];
    for (const [argv, message] of cases) {
      const r = await cli(argv);
      assert.equal(r.code, 2, argv.join(' '));
      assert.match(r.err, message);
      assert.equal(r.out, '');
    }
    const h = await cli(['bucket-policy', '--help']);
    assert.equal(h.code, 0);
    assert.equal(h.out, help);
  });

  test('cfn-lint accepts the printed policy, and rejects the hand-written s3:Get / s3:List one', { skip: requireCommand('cfn-lint') }, () => {
    const ours = bucketPolicy({ bucket: 'images-bucket', roleArns: ['arn:aws:iam::111122223333:role/imagegate-prod-lambda-eu-west-1'] });
    const good = cfnLintPolicy(ours);
    assert.equal(good.status, 0, good.output);
    // Control: the invalid actions a hand-written policy is prone to are caught by the same check.
    const bad = cfnLintPolicy({ ...ours, Statement: [{ ...ours.Statement[1], Action: ['s3:Get', 's3:List'] }] });
    assert.notEqual(bad.status, 0);
    assert.match(bad.output, /W3037/);
  });
});
