/**
 * The synthesized templates, checked resource by resource (a stand-in asset: no bundling here;
 * the real bundle is tested in cdk-synth.test.ts). Each test names the property it protects.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import vm from 'node:vm';
import { parse as parseYaml } from 'yaml';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { API_KEY_EXCLUDED_CHARACTERS } from '../../infra/lib/global-stack.ts';
import { NORMALISE_ACCEPT_SOURCE } from '../../infra/lib/cdn.ts';
import { readSettings, SettingsError } from '../../infra/lib/settings.ts';
import { parseConfig } from '../../src/config/load.ts';
import { requireCommand } from '../helpers/services.ts';
import { bundleLambda } from '../../infra/lib/bundle.ts';
import { infraDir, onlyResource, resolveValue, synthApp, type Synthesized } from './synth.ts';

const TOPIC = 'arn:aws:sns:eu-west-1:111122223333:imagegate-alarms';
const context = {
  'imagegate:imagesBucket': { prod: 'images-prod', dev: 'images-dev' },
  'imagegate:stages': 'dev-alice',
  'imagegate:environments': { prod: { timeoutSeconds: 20, rateLimit: 200, burstLimit: 400, quotaLimit: 5000000, quotaPeriod: 'MONTH' } },
  'imagegate:overrides': {
    prod: { memoryMb: 3008 },
    'dev-alice': { cloudfront: true, environment: { EXTRA: 'yes' }, reservedConcurrency: 5, tracing: true, alarmTopicArn: TOPIC },
  },
};

let synth: Synthesized;
let globalDev: Template;
let globalProd: Template;
let apiProd: Template;
let apiDev: Template;
let apiAlice: Template;

before(() => {
  synth = synthApp(context);
  globalDev = synth.template('imagegate-global-dev');
  globalProd = synth.template('imagegate-global-prod');
  apiProd = synth.template('imagegate-api-prod');
  apiDev = synth.template('imagegate-api-dev');
  apiAlice = synth.template('imagegate-api-dev-alice');
});
after(() => {
  if (synth) rmSync(synth.outdir, { recursive: true, force: true });
});

const apiStacks = () => [
  ['prod', apiProd],
  ['dev', apiDev],
  ['dev-alice', apiAlice],
] as const;

const regionJoin = (...parts: unknown[]) => ({ 'Fn::Join': ['', parts] });

/** The {proxy+} resource under the root, and its method (the one that calls the Lambda). */
function proxy(t: Template): [string, any] {
  const found = Object.entries(t.findResources('AWS::ApiGateway::Resource', { Properties: { PathPart: '{proxy+}', ParentId: { 'Fn::GetAtt': Match.anyValue() } } }));
  assert.equal(found.length, 1);
  return found[0]!;
}
function proxyMethod(t: Template): [string, any] {
  const [id] = proxy(t);
  const found = Object.entries(t.findResources('AWS::ApiGateway::Method', { Properties: { ResourceId: { Ref: id } } }));
  assert.equal(found.length, 1);
  return found[0]!;
}

describe('global stack (one per environment)', () => {
  test('role: basic execution, X-Ray, read on the images bucket; its name carries the region (roles are account-wide)', () => {
    for (const [t, bucket, env] of [[globalDev, 'images-dev', 'dev'], [globalProd, 'images-prod', 'prod']] as const) {
      t.hasResourceProperties('AWS::IAM::Role', {
        RoleName: regionJoin(`imagegate-${env}-lambda-`, { Ref: 'AWS::Region' }),
        AssumeRolePolicyDocument: Match.objectLike({
          Statement: [Match.objectLike({ Action: 'sts:AssumeRole', Principal: { Service: 'lambda.amazonaws.com' } })],
        }),
        ManagedPolicyArns: [
          regionJoin('arn:', { Ref: 'AWS::Partition' }, ':iam::aws:policy/service-role/AWSLambdaBasicExecutionRole'),
          regionJoin('arn:', { Ref: 'AWS::Partition' }, ':iam::aws:policy/AWSXRayDaemonWriteAccess'),
        ],
        Policies: Match.arrayWith([
          {
            PolicyName: 'ImagesBucketRead',
            PolicyDocument: Match.objectLike({
              Statement: [
                Match.objectLike({ Effect: 'Allow', Action: ['s3:GetObject', 's3:GetObjectVersion'], Resource: regionJoin('arn:', { Ref: 'AWS::Partition' }, `:s3:::${bucket}/*`) }),
                // No s3:prefix condition: a GetObject carries none, so a missing key would be a 403, not a 404.
                Match.objectLike({ Effect: 'Allow', Action: 's3:ListBucket', Resource: regionJoin('arn:', { Ref: 'AWS::Partition' }, `:s3:::${bucket}`), Condition: Match.absent() }),
              ],
            }),
          },
        ]),
      });
    }
  });

  test('two key slots: secrets {"api_key"} of 30 letters and digits, deleted with the stack', () => {
    for (const slot of ['a', 'b']) {
      globalDev.hasResource('AWS::SecretsManager::Secret', {
        DeletionPolicy: 'Delete',
        Properties: {
          Name: `imagegate-global-dev-api-key-${slot}`,
          Description: Match.anyValue(),
          GenerateSecretString: {
            SecretStringTemplate: '{}',
            GenerateStringKey: 'api_key',
            PasswordLength: 30,
            ExcludePunctuation: true,
            IncludeSpace: false,
            ExcludeCharacters: API_KEY_EXCLUDED_CHARACTERS,
          },
        },
      });
    }
    for (let c = 33; c < 127; c++) {
      const ch = String.fromCharCode(c);
      if (!/[A-Za-z0-9]/.test(ch)) assert.ok(API_KEY_EXCLUDED_CHARACTERS.includes(ch), `'${ch}' must be excluded`);
      else assert.ok(!API_KEY_EXCLUDED_CHARACTERS.includes(ch), `'${ch}' must be allowed`);
    }
  });

  test("by default only slot a has an API Gateway key: its value is slot a's secret, attached to the environment's plan", () => {
    const secrets = globalDev.findResources('AWS::SecretsManager::Secret');
    const secretA = Object.keys(secrets).find((id) => secrets[id].Properties.Name.endsWith('-a'))!;
    const [keyId] = onlyResource(globalDev, 'AWS::ApiGateway::ApiKey');
    const [planId] = onlyResource(globalDev, 'AWS::ApiGateway::UsagePlan');
    globalDev.hasResourceProperties('AWS::ApiGateway::ApiKey', {
      Enabled: true,
      Name: 'imagegate-dev-a',
      Value: regionJoin('{{resolve:secretsmanager:', { Ref: secretA }, ':SecretString:api_key::}}'),
    });
    globalDev.hasResourceProperties('AWS::ApiGateway::UsagePlanKey', { KeyId: { Ref: keyId }, KeyType: 'API_KEY', UsagePlanId: { Ref: planId } });
    // API stacks create no key and no plan: API Gateway refuses two keys with one value, and a key is in at most 10 plans.
    for (const [, t] of apiStacks()) {
      t.resourceCountIs('AWS::ApiGateway::ApiKey', 0);
      t.resourceCountIs('AWS::ApiGateway::UsagePlan', 0);
    }
  });

  test('usage plan: throttle per environment, no quota unless one is set (prod is never switched off by default)', () => {
    globalDev.hasResourceProperties('AWS::ApiGateway::UsagePlan', {
      UsagePlanName: 'imagegate-dev',
      Throttle: { RateLimit: 50, BurstLimit: 100 },
      Quota: Match.absent(),
    });
    globalProd.hasResourceProperties('AWS::ApiGateway::UsagePlan', {
      Throttle: { RateLimit: 200, BurstLimit: 400 },
      Quota: { Limit: 5000000, Period: 'MONTH' },
    });
    // cdk.json's defaults: no quota in either environment.
    const plain = synthApp({ 'imagegate:stages': '' });
    try {
      for (const env of ['prod', 'dev']) plain.template(`imagegate-global-${env}`).hasResourceProperties('AWS::ApiGateway::UsagePlan', { Quota: Match.absent() });
    } finally {
      rmSync(plain.outdir, { recursive: true, force: true });
    }
  });

  test('exports carry the app name: role, usage plan, large-response bucket', () => {
    for (const [t, env] of [[globalDev, 'dev'], [globalProd, 'prod']] as const) {
      const roles = Object.keys(t.findResources('AWS::IAM::Role', { Properties: { RoleName: Match.anyValue() } }));
      const [planId] = onlyResource(t, 'AWS::ApiGateway::UsagePlan');
      const [bucketId] = onlyResource(t, 'AWS::S3::Bucket');
      t.hasOutput('*', { Value: { 'Fn::GetAtt': [roles[0], 'Arn'] }, Export: { Name: `imagegate-global-${env}-role-arn` } });
      t.hasOutput('*', { Value: { Ref: planId }, Export: { Name: `imagegate-global-${env}-usage-plan-id` } });
      t.hasOutput('*', { Value: { Ref: bucketId }, Export: { Name: `imagegate-global-${env}-large-responses` } });
    }
  });

  test('large-response bucket: private, objects expire after a day, role may put and get them', () => {
    const [bucketId] = onlyResource(globalDev, 'AWS::S3::Bucket');
    globalDev.hasResourceProperties('AWS::S3::Bucket', {
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      LifecycleConfiguration: { Rules: [Match.objectLike({ ExpirationInDays: 1, Status: 'Enabled' })] },
    });
    globalDev.hasResourceProperties('AWS::IAM::Role', {
      Policies: Match.arrayWith([
        {
          PolicyName: 'LargeResponses',
          PolicyDocument: Match.objectLike({
            Statement: [Match.objectLike({ Action: ['s3:GetObject', 's3:PutObject'], Resource: regionJoin({ 'Fn::GetAtt': [bucketId, 'Arn'] }, '/*') })],
          }),
        },
      ]),
    });
  });

  test("access logs: the account's API Gateway CloudWatch role is set (kept when the stack goes), unless turned off", () => {
    globalDev.hasResourceProperties('AWS::ApiGateway::Account', { CloudWatchRoleArn: Match.anyValue() });
    const off = synthApp({ 'imagegate:apiGatewayAccountRole': false });
    try {
      off.template('imagegate-global-dev').resourceCountIs('AWS::ApiGateway::Account', 0);
    } finally {
      rmSync(off.outdir, { recursive: true, force: true });
    }
  });
});

describe('API stack (one per stage)', () => {
  test('binary media types */*, REGIONAL endpoint, key source HEADER', () => {
    for (const [stage, t] of apiStacks()) {
      t.hasResourceProperties('AWS::ApiGateway::RestApi', {
        Name: `imagegate-${stage}`,
        BinaryMediaTypes: ['*/*'],
        EndpointConfiguration: { Types: ['REGIONAL'] },
        ApiKeySourceType: 'HEADER',
      });
    }
  });

  test('proxy path part {proxy+} under the root resource', () => {
    const [apiId] = onlyResource(apiDev, 'AWS::ApiGateway::RestApi');
    apiDev.hasResourceProperties('AWS::ApiGateway::Resource', {
      PathPart: '{proxy+}',
      ParentId: { 'Fn::GetAtt': [apiId, 'RootResourceId'] },
      RestApiId: { Ref: apiId },
    });
  });

  test('method ANY: key required, request parameter method.request.path.proxy, AWS_PROXY + POST to the Lambda', () => {
    for (const [stage, t] of apiStacks()) {
      const fnId = Object.keys(t.findResources('AWS::Lambda::Function', { Properties: { FunctionName: `imagegate-${stage}` } }))[0]!;
      const [resourceId] = proxy(t);
      // One method calls the Lambda: the proxy's.
      assert.equal(Object.values(t.findResources('AWS::ApiGateway::Method')).filter((m) => m.Properties.Integration.Type !== 'MOCK').length, 1);
      t.hasResourceProperties('AWS::ApiGateway::Method', {
        HttpMethod: 'ANY',
        ResourceId: { Ref: resourceId },
        AuthorizationType: 'NONE',
        ApiKeyRequired: true,
        RequestParameters: { 'method.request.path.proxy': true },
        Integration: {
          Type: 'AWS_PROXY',
          IntegrationHttpMethod: 'POST',
          Uri: regionJoin('arn:', { Ref: 'AWS::Partition' }, ':apigateway:', { Ref: 'AWS::Region' }, ':lambda:path/2015-03-31/functions/', { 'Fn::GetAtt': [fnId, 'Arn'] }, '/invocations'),
        },
      });
    }
  });

  test('deployment DependsOn the method; the stage is named after the stack stage', () => {
    for (const [stage, t] of apiStacks()) {
      const [methodId] = proxyMethod(t);
      const [deploymentId, deployment] = onlyResource(t, 'AWS::ApiGateway::Deployment');
      assert.ok(deployment.DependsOn.includes(methodId), `deployment must depend on ${methodId}, got ${deployment.DependsOn}`);
      t.hasResourceProperties('AWS::ApiGateway::Stage', { StageName: stage, DeploymentId: { Ref: deploymentId } });
    }
  });

  test("the stage joins its environment's usage plan (imported) and leaves it before it is deleted", () => {
    for (const [stage, t] of apiStacks()) {
      const env = stage === 'prod' ? 'prod' : 'dev';
      const [apiId] = onlyResource(t, 'AWS::ApiGateway::RestApi');
      const [stageId] = onlyResource(t, 'AWS::ApiGateway::Stage');
      const [, join] = onlyResource(t, 'Custom::UsagePlanStage');
      for (const [when, op] of [['Create', 'add'], ['Delete', 'remove']] as const) {
        const call = JSON.stringify(join.Properties[when]);
        assert.match(call, new RegExp(`"action\\\\":\\\\"UpdateUsagePlan`), `${when} calls UpdateUsagePlan`);
        assert.match(call, new RegExp(`\\\\"op\\\\":\\\\"${op}\\\\",\\\\"path\\\\":\\\\"/apiStages\\\\"`), `${when} ${op}s /apiStages`);
        assert.ok(call.includes(JSON.stringify({ 'Fn::ImportValue': `imagegate-global-${env}-usage-plan-id` })), `${when} names the imported plan`);
        assert.ok(call.includes(JSON.stringify({ Ref: apiId })) && call.includes(JSON.stringify({ Ref: stageId })), `${when} names this API and stage`);
      }
      // Only apigateway:PATCH on that usage plan.
      t.hasResourceProperties('AWS::IAM::Policy', {
        PolicyDocument: Match.objectLike({
          Statement: [Match.objectLike({ Action: 'apigateway:PATCH', Resource: Match.objectLike({ 'Fn::Join': Match.arrayWith([Match.arrayWith([':apigateway:', '::/usageplans/', { 'Fn::ImportValue': `imagegate-global-${env}-usage-plan-id` }])]) }) })],
        }),
      });
    }
  });

  test('permission source ARN: execute-api of this API and stage, principal apigateway', () => {
    for (const [, t] of apiStacks()) {
      const [apiId] = onlyResource(t, 'AWS::ApiGateway::RestApi');
      const [stageId] = onlyResource(t, 'AWS::ApiGateway::Stage');
      t.resourceCountIs('AWS::Lambda::Permission', 1);
      t.hasResourceProperties('AWS::Lambda::Permission', {
        Action: 'lambda:InvokeFunction',
        Principal: 'apigateway.amazonaws.com',
        SourceArn: regionJoin('arn:', { Ref: 'AWS::Partition' }, ':execute-api:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':', { Ref: apiId }, '/', { Ref: stageId }, '/*/*'),
      });
    }
  });

  test('imports: engineer and dev stacks import the dev role and bucket, prod imports prod; nothing environment-wide is created', () => {
    for (const [stage, t] of apiStacks()) {
      const env = stage === 'prod' ? 'prod' : 'dev';
      t.hasResourceProperties('AWS::Lambda::Function', {
        FunctionName: `imagegate-${stage}`,
        Role: { 'Fn::ImportValue': `imagegate-global-${env}-role-arn` },
        Environment: { Variables: Match.objectLike({ IMAGEGATE_LARGE_RESPONSE_BUCKET: { 'Fn::ImportValue': `imagegate-global-${env}-large-responses` } }) },
      });
      t.resourceCountIs('AWS::SecretsManager::Secret', 0);
    }
    assert.deepEqual(synth.built.api['dev-alice']!.dependencies.map((s) => s.stackName), ['imagegate-global-dev']);
  });

  test('Lambda: arm64 by default, memory per stage, timeout per environment; only variables something reads', () => {
    apiProd.hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: 'imagegate-prod',
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      MemorySize: 3008,
      Timeout: 20,
      TracingConfig: Match.absent(),
    });
    apiAlice.hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: 'imagegate-dev-alice',
      MemorySize: 1536,
      Timeout: 29,
      ReservedConcurrentExecutions: 5,
      TracingConfig: { Mode: 'Active' },
    });
    for (const [stage, t] of apiStacks()) {
      const fn = Object.values(t.findResources('AWS::Lambda::Function', { Properties: { FunctionName: `imagegate-${stage}` } }))[0]!;
      const vars = Object.keys(fn.Properties.Environment.Variables).sort();
      // IMAGEGATE_STAGE / _ENVIRONMENT / _API_KEY_SECRET were set and read by nothing; NODE_OPTIONS=--enable-source-maps cost ~60 ms a cold start.
      assert.deepEqual(vars, ['IMAGEGATE_CONFIG', 'IMAGEGATE_LARGE_RESPONSE_BUCKET', 'IMAGEGATE_METERING_TABLE', 'MALLOC_ARENA_MAX', ...(stage === 'dev-alice' ? ['EXTRA'] : [])].sort());
      assert.equal(fn.Properties.Environment.Variables.IMAGEGATE_CONFIG, `/var/task/imagegate.${stage === 'prod' ? 'prod' : 'dev'}.yaml`);
    }
    const x64 = synthApp({ 'imagegate:architecture': 'x86_64' });
    try {
      x64.template('imagegate-api-dev').hasResourceProperties('AWS::Lambda::Function', { FunctionName: 'imagegate-dev', Architectures: ['x86_64'] });
    } finally {
      rmSync(x64.outdir, { recursive: true, force: true });
    }
  });

  test('outputs: the stage URL and where the logs are', () => {
    const [apiId] = onlyResource(apiAlice, 'AWS::ApiGateway::RestApi');
    const [stageId] = onlyResource(apiAlice, 'AWS::ApiGateway::Stage');
    apiAlice.hasOutput('ApiUrl', {
      Value: regionJoin('https://', { Ref: apiId }, '.execute-api.', { Ref: 'AWS::Region' }, '.', { Ref: 'AWS::URLSuffix' }, '/', { Ref: stageId }, '/'),
    });
    apiAlice.hasOutput('LogGroupName', { Value: { Ref: Match.stringLikeRegexp('^Logs') } });
    apiAlice.hasOutput('AccessLogGroupName', { Value: { Ref: Match.stringLikeRegexp('^AccessLogs') } });
  });
});

describe('operations', () => {
  test('access log: JSON with the API key id (never the key), in a log group deleted with the stack', () => {
    for (const [, t] of apiStacks()) {
      const [, stage] = onlyResource(t, 'AWS::ApiGateway::Stage');
      const format = JSON.parse(stage.Properties.AccessLogSetting.Format);
      assert.equal(format.apiKeyId, '$context.identity.apiKeyId');
      assert.equal(format.status, '$context.status');
      assert.equal(format.requestId, '$context.requestId');
      assert.ok(!JSON.stringify(format).includes('$context.identity.apiKey"'), 'the key value is never logged');
      const logGroupId = stage.Properties.AccessLogSetting.DestinationArn['Fn::GetAtt'][0];
      t.hasResource('AWS::Logs::LogGroup', { DeletionPolicy: 'Delete' });
      assert.equal(t.toJSON().Resources[logGroupId].Properties.LogGroupName, undefined);
    }
  });

  test('alarms: 5xx rate, Lambda errors and throttles, p99 duration at the deadline, usage-plan 429s; the topic when one is set', () => {
    const alarms = Object.values(apiAlice.findResources('AWS::CloudWatch::Alarm')).map((a) => a.Properties);
    const byName = Object.fromEntries(alarms.map((a) => [a.AlarmName, a]));
    assert.deepEqual(Object.keys(byName).sort(), ['429s', '5xx-rate', 'duration-p99', 'lambda-errors', 'lambda-throttles'].map((x) => `imagegate-dev-alice-${x}`).sort());
    assert.equal(byName['imagegate-dev-alice-5xx-rate'].MetricName, '5XXError');
    assert.equal(byName['imagegate-dev-alice-5xx-rate'].Statistic, 'Average');
    assert.equal(byName['imagegate-dev-alice-lambda-errors'].MetricName, 'Errors');
    assert.equal(byName['imagegate-dev-alice-lambda-throttles'].MetricName, 'Throttles');
    const p99 = byName['imagegate-dev-alice-duration-p99'];
    assert.equal(p99.MetricName, 'Duration');
    assert.equal(p99.ExtendedStatistic, 'p99');
    assert.equal(p99.Threshold, 23200, 'the deadline of a 29 s timeout');
    assert.equal(byName['imagegate-dev-alice-429s'].MetricName, 'UsagePlan429');
    for (const a of alarms) assert.deepEqual(a.AlarmActions, [TOPIC], `${a.AlarmName} notifies the topic`);
    apiAlice.hasResourceProperties('AWS::Logs::MetricFilter', { FilterPattern: '{ $.status = 429 }', MetricTransformations: [Match.objectLike({ MetricName: 'UsagePlan429' })] });
    // Without a topic: the same alarms, no actions.
    for (const a of Object.values(apiDev.findResources('AWS::CloudWatch::Alarm'))) assert.equal(a.Properties.AlarmActions, undefined);
    apiProd.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: 'imagegate-prod-duration-p99', Threshold: 16000 });
  });

  test('X-Ray switch: function and API stage traced only where asked', () => {
    apiAlice.hasResourceProperties('AWS::ApiGateway::Stage', { TracingEnabled: true });
    apiDev.hasResourceProperties('AWS::ApiGateway::Stage', { TracingEnabled: false });
  });

  test('cfn-lint, warnings included, with every option on (alarm topic, tracing, reserved concurrency, CloudFront, both key slots, a quota)', { skip: requireCommand('cfn-lint') }, () => {
    const both = synthApp({ ...context, 'imagegate:apiKeySlots': 'a,b', 'imagegate:environments': { dev: { quotaLimit: 1000, quotaPeriod: 'DAY', serviceEndpoints: true } } });
    try {
      const templates = [synth.outdir, both.outdir].flatMap((d) => readdirSync(d).filter((f) => f.endsWith('.template.json')).map((f) => path.join(d, f)));
      assert.equal(templates.length, 10);
      const res = spawnSync('cfn-lint', ['--format', 'parseable', '--', ...templates], { encoding: 'utf8', timeout: 180_000 });
      assert.equal(res.status, 0, `cfn-lint found problems:\n${res.stdout}${res.stderr}`);
      assert.equal(res.stdout.trim(), '');
    } finally {
      rmSync(both.outdir, { recursive: true, force: true });
    }
  });

  test('a dashboard per stage, named with the region (dashboards are account-wide)', () => {
    for (const [stage, t] of apiStacks()) {
      t.hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: regionJoin(`imagegate-${stage}-`, { Ref: 'AWS::Region' }) });
    }
  });
});

describe('CloudFront (context flag)', () => {
  test('only stages with cloudfront=true get a distribution', () => {
    apiAlice.resourceCountIs('AWS::CloudFront::Distribution', 1);
    apiDev.resourceCountIs('AWS::CloudFront::Distribution', 0);
    apiProd.resourceCountIs('AWS::CloudFront::Distribution', 0);
  });

  test('cache key: the query string and the Accept header only', () => {
    apiAlice.hasResourceProperties('AWS::CloudFront::CachePolicy', {
      CachePolicyConfig: Match.objectLike({
        ParametersInCacheKeyAndForwardedToOrigin: {
          QueryStringsConfig: { QueryStringBehavior: 'all' },
          HeadersConfig: { HeaderBehavior: 'whitelist', Headers: ['Accept'] },
          CookiesConfig: { CookieBehavior: 'none' },
          EnableAcceptEncodingGzip: false,
          EnableAcceptEncodingBrotli: false,
        },
      }),
    });
  });

  test('viewer-request function normalises Accept to avif / webp / other; origin gets the key header', () => {
    const [fnId] = onlyResource(apiAlice, 'AWS::CloudFront::Function');
    const [policyId] = onlyResource(apiAlice, 'AWS::CloudFront::CachePolicy');
    apiAlice.hasResourceProperties('AWS::CloudFront::Distribution', {
      DistributionConfig: Match.objectLike({
        DefaultCacheBehavior: Match.objectLike({
          CachePolicyId: { Ref: policyId },
          ViewerProtocolPolicy: 'redirect-to-https',
          FunctionAssociations: [{ EventType: 'viewer-request', FunctionARN: { 'Fn::GetAtt': [fnId, 'FunctionARN'] } }],
        }),
        Origins: [
          Match.objectLike({
            OriginCustomHeaders: [
              {
                HeaderName: 'x-api-key',
                // The newest live key slot of the environment, by the secret's name.
                HeaderValue: '{{resolve:secretsmanager:imagegate-global-dev-api-key-a:SecretString:api_key::}}',
              },
            ],
          }),
        ],
      }),
    });
    // Run the function's code as CloudFront would.
    const sandbox: { handler?: (e: unknown) => { headers: Record<string, { value: string }> } } = {};
    vm.runInNewContext(`${NORMALISE_ACCEPT_SOURCE}\nthis.handler = handler;`, sandbox);
    const accept = (value?: string) =>
      sandbox.handler!({ request: { headers: value === undefined ? {} : { accept: { value } } } }).headers.accept!.value;
    const chrome = 'text/html,application/xhtml+xml,image/avif,image/webp,image/apng,*/*;q=0.8';
    assert.equal(accept(chrome), 'image/avif,image/webp,*/*');
    assert.equal(accept('image/webp,*/*'), 'image/webp,*/*');
    assert.equal(accept('image/png,image/*;q=0.8'), '*/*');
    assert.equal(accept(), '*/*');
  });
});

/** Properties that give a resource a physical name, by type (top level unless a path is given). */
const NAME_PROPERTIES: Record<string, string[]> = {
  'AWS::IAM::Role': ['RoleName'],
  'AWS::SecretsManager::Secret': ['Name'],
  'AWS::Lambda::Function': ['FunctionName'],
  'AWS::Logs::LogGroup': ['LogGroupName'],
  'AWS::S3::Bucket': ['BucketName'],
  'AWS::CloudWatch::Dashboard': ['DashboardName'],
  'AWS::CloudWatch::Alarm': ['AlarmName'],
  'AWS::CloudFront::Function': ['Name'],
  'AWS::CloudFront::CachePolicy': ['CachePolicyConfig.Name'],
  'AWS::ApiGateway::RestApi': ['Name'],
  'AWS::ApiGateway::UsagePlan': ['UsagePlanName'],
  'AWS::ApiGateway::ApiKey': ['Name'],
  'AWS::SNS::Topic': ['TopicName'],
};
/** Names that must be unique per account (not per region). */
const ACCOUNT_WIDE = new Set(['AWS::IAM::Role', 'AWS::CloudWatch::Dashboard', 'AWS::CloudFront::Function', 'AWS::CloudFront::CachePolicy']);

function physicalNames(s: Synthesized, region: string, filter: (type: string) => boolean = () => true): string[] {
  const out: string[] = [];
  for (const name of s.stackNames) {
    const t = s.json(name);
    for (const r of Object.values(t.Resources)) {
      if (!filter(r.Type)) continue;
      for (const p of NAME_PROPERTIES[r.Type] ?? []) {
        const v = p.split('.').reduce((o: any, k) => o?.[k], r.Properties);
        if (v !== undefined) out.push(`${r.Type} ${resolveValue(v, region)}`);
      }
    }
  }
  return out;
}
const exportNames = (s: Synthesized) =>
  s.stackNames.flatMap((n) => Object.values(s.json(n).Outputs ?? {}).flatMap((o: any) => (o.Export ? [resolveValue(o.Export.Name, 'r')] : [])));
const intersection = (a: string[], b: string[]) => a.filter((x) => b.includes(x));

describe('a whole life: redeploy, rename, grow', () => {
  const variants: [string, Record<string, unknown>][] = [
    ['defaults', {}],
    ['engineer stage with CloudFront, alarms, tracing', context],
    ['both key slots live', { 'imagegate:apiKeySlots': 'a,b', 'imagegate:stages': 'dev-bob', 'imagegate:cloudfront': true }],
  ];
  test('every resource of every template: a fixed physical name is deleted with its stack (nothing left to block a redeploy or a retried create)', () => {
    for (const [label, ctx] of variants) {
      const s = label === 'engineer stage with CloudFront, alarms, tracing' ? synth : synthApp(ctx);
      try {
        let named = 0;
        for (const stackName of s.stackNames) {
          for (const [id, r] of Object.entries(s.json(stackName).Resources)) {
            const retained = /^Retain/.test(r.DeletionPolicy ?? '') || /^Retain/.test(r.UpdateReplacePolicy ?? '');
            const nameProps = Object.keys(r.Properties ?? {}).filter((k) => /Name$/.test(k));
            const known = (NAME_PROPERTIES[r.Type] ?? []).filter((p) => p.split('.').reduce((o: any, k) => o?.[k], r.Properties) !== undefined);
            if (known.length || nameProps.length) named++;
            if (retained) {
              assert.deepEqual([...known, ...nameProps], [], `${label}: ${stackName}/${id} (${r.Type}) is kept after its stack and has a fixed name`);
            }
          }
        }
        assert.ok(named > 10, 'the walk saw the named resources');
      } finally {
        if (s !== synth) rmSync(s.outdir, { recursive: true, force: true });
      }
    }
  });

  test('names never collide: two apps share no physical name, export or stack; one app in two regions shares no account-wide name', () => {
    const acme = synthApp({ ...context, 'imagegate:name': 'acme' });
    try {
      const a = physicalNames(synth, 'eu-west-1');
      const b = physicalNames(acme, 'eu-west-1');
      assert.ok(a.length > 20 && b.length === a.length, `every named resource is compared (${a.length})`);
      assert.deepEqual(intersection(a, b), []);
      const ea = exportNames(synth);
      const eb = exportNames(acme);
      assert.equal(ea.length, 8);
      assert.deepEqual(intersection(ea, eb), []);
      assert.deepEqual(intersection(synth.stackNames, acme.stackNames), []);
      // Every name of the acme app carries its name.
      for (const n of [...b, ...eb, ...acme.stackNames]) assert.match(n, /(^| )acme-/, n);
    } finally {
      rmSync(acme.outdir, { recursive: true, force: true });
    }
    const west = physicalNames(synth, 'eu-west-1', (t) => ACCOUNT_WIDE.has(t));
    const east = physicalNames(synth, 'us-east-1', (t) => ACCOUNT_WIDE.has(t));
    assert.ok(west.length >= 7, `roles, dashboards, CloudFront function and cache policy (${west.length})`);
    assert.deepEqual(intersection(west, east), []);
  });

  test('30 engineer stages synthesize within every AWS limit that applies', () => {
    const engineers = Array.from({ length: 30 }, (_, i) => `dev-e${i + 1}`);
    const big = synthApp({ 'imagegate:stages': engineers.join(','), 'imagegate:apiKeySlots': 'a,b' });
    try {
      assert.equal(big.stackNames.length, 2 + 2 + 30);
      // API Gateway: a key is in at most 10 usage plans (each dev key is in exactly one, whatever the stages).
      let plans = 0;
      const keysToPlans = new Map<string, number>();
      let exportsTotal = 0;
      for (const n of big.stackNames) {
        const t = big.json(n);
        const rs = Object.values(t.Resources);
        plans += rs.filter((r) => r.Type === 'AWS::ApiGateway::UsagePlan').length;
        for (const r of rs.filter((r) => r.Type === 'AWS::ApiGateway::UsagePlanKey')) {
          const k = `${n}/${r.Properties.KeyId.Ref}`;
          keysToPlans.set(k, (keysToPlans.get(k) ?? 0) + 1);
        }
        // CloudFormation: 500 resources, 200 outputs per template; the template under 1 MB (S3 upload).
        assert.ok(rs.length <= 500, `${n}: ${rs.length} resources`);
        assert.ok(Object.keys(t.Outputs ?? {}).length <= 200, `${n}: outputs`);
        assert.ok(JSON.stringify(t).length < 1_000_000, `${n}: template size`);
        exportsTotal += Object.values(t.Outputs ?? {}).filter((o: any) => o.Export).length;
        // API Gateway: 10 stages per API (one here).
        assert.ok(rs.filter((r) => r.Type === 'AWS::ApiGateway::Stage').length <= 10);
      }
      assert.equal(keysToPlans.size, 4, 'two slots per environment');
      for (const [k, n] of keysToPlans) assert.ok(n <= 10, `${k} is in ${n} usage plans`);
      // API Gateway: 300 usage plans per account and region; CloudFormation: exports per region are few and fixed.
      assert.equal(plans, 2);
      assert.equal(exportsTotal, 8, 'exports do not grow with the stages');
      // Every engineer stage joins the dev plan.
      for (const e of engineers) {
        const join = JSON.stringify(big.json(`imagegate-api-${e}`).Resources);
        assert.ok(join.includes('imagegate-global-dev-usage-plan-id'));
      }
    } finally {
      rmSync(big.outdir, { recursive: true, force: true });
    }
  });
});

describe('key rotation: the templates of each step', () => {
  const keys = (slots: string) => {
    const s = synthApp({ 'imagegate:apiKeySlots': slots, 'imagegate:stages': 'dev-alice', 'imagegate:overrides': { 'dev-alice': { cloudfront: true } } });
    try {
      const t = s.json('imagegate-global-dev');
      const apiKeys = Object.entries(t.Resources).filter(([, r]) => r.Type === 'AWS::ApiGateway::ApiKey');
      const planKeys = Object.values(t.Resources).filter((r) => r.Type === 'AWS::ApiGateway::UsagePlanKey').map((r) => r.Properties.KeyId.Ref);
      const cdn = JSON.stringify(s.json('imagegate-api-dev-alice').Resources);
      return {
        // logical id → the secret its value resolves
        keys: Object.fromEntries(apiKeys.map(([id, r]) => [id, JSON.stringify(r.Properties.Value).match(/ApiKeySecret([AB])/)![1]])),
        planKeys: planKeys.sort(),
        cdnSlot: cdn.match(/imagegate-global-dev-api-key-([ab]):SecretString/)![1],
        lambdaConfig: s.built.configs.dev,
      };
    } finally {
      rmSync(s.outdir, { recursive: true, force: true });
    }
  };

  test('before (a), during (a,b), after (b): keys keep their logical ids; the Lambda config never changes; CloudFront sends the newest', () => {
    const before = keys('a');
    const during = keys('a,b');
    const after = keys('b');
    assert.deepEqual(before.keys, { ApiKeyA: 'A' });
    assert.deepEqual(during.keys, { ApiKeyA: 'A', ApiKeyB: 'B' }, 'slot a is untouched (same logical id) while b comes up');
    assert.deepEqual(after.keys, { ApiKeyB: 'B' }, 'slot b is untouched while a goes');
    assert.deepEqual(before.planKeys, ['ApiKeyA']);
    assert.deepEqual(during.planKeys, ['ApiKeyA', 'ApiKeyB']);
    assert.deepEqual(after.planKeys, ['ApiKeyB']);
    assert.equal(before.cdnSlot, 'a');
    assert.equal(during.cdnSlot, 'b');
    assert.equal(after.cdnSlot, 'b');
    // The bundled config reads both slots at every step: no stage is redeployed to rotate.
    assert.equal(during.lambdaConfig, before.lambdaConfig);
    assert.equal(after.lambdaConfig, before.lambdaConfig);
    assert.deepEqual(parseYaml(before.lambdaConfig).keys.map((k: any) => k.secret.id), ['imagegate-global-dev-api-key-a', 'imagegate-global-dev-api-key-b']);
  });
});

describe('the generated Lambda config', () => {
  test('one source of truth: bucket, prefix, region, secrets, deadline and endpoints come from context; the result is a valid config', () => {
    const s = synthApp({
      'imagegate:name': 'acme',
      'imagegate:imagesBucket': 'acme-images',
      'imagegate:imagesPrefix': { prod: 'originals/', dev: 'dev-originals/' },
      'imagegate:imagesBucketRegion': 'eu-central-1',
      'imagegate:environments': { prod: { timeoutSeconds: 10 } },
    });
    try {
      for (const env of ['prod', 'dev'] as const) {
        const raw = parseYaml(s.built.configs[env]);
        const cfg = parseConfig(raw);
        assert.deepEqual(
          { bucket: (cfg.sources.images as any).bucket, prefix: (cfg.sources.images as any).prefix, region: (cfg.sources.images as any).region },
          { bucket: 'acme-images', prefix: env === 'prod' ? 'originals/' : 'dev-originals/', region: 'eu-central-1' },
        );
        assert.deepEqual(cfg.keys.map((k) => [k.id, k.secret?.id]), [
          [`${env}-a`, `acme-global-${env}-api-key-a`],
          [`${env}-b`, `acme-global-${env}-api-key-b`],
        ]);
        // The secrets the config reads are the ones the global stack creates.
        for (const k of cfg.keys) s.template(`acme-global-${env}`).hasResourceProperties('AWS::SecretsManager::Secret', { Name: k.secret!.id });
        assert.equal(cfg.server.internalEndpoints, 'off');
        assert.equal(cfg.sources.images!.cacheControl, 'public, max-age=31536000, immutable', "the base file's imagesSource settings");
      }
      s.template('acme-global-prod').hasResourceProperties('AWS::IAM::Role', {
        Policies: Match.arrayWith([Match.objectLike({ PolicyName: 'ImagesBucketRead', PolicyDocument: Match.objectLike({ Statement: Match.arrayWith([Match.objectLike({ Resource: regionJoin('arn:', { Ref: 'AWS::Partition' }, ':s3:::acme-images/originals/*') })]) }) })]),
      });
    } finally {
      rmSync(s.outdir, { recursive: true, force: true });
    }
  });

  test('timeouts in order, from one setting: app deadline < Lambda timeout ≤ 29 s (API Gateway)', () => {
    for (const [stage, t] of apiStacks()) {
      const env = stage === 'prod' ? 'prod' : 'dev';
      const fn = Object.values(t.findResources('AWS::Lambda::Function', { Properties: { FunctionName: `imagegate-${stage}` } }))[0]!;
      const timeoutMs = fn.Properties.Timeout * 1000;
      const deadlineMs = parseConfig(parseYaml(synth.built.configs[env])).limits.deadlineMs;
      assert.ok(deadlineMs < timeoutMs, `${stage}: deadline ${deadlineMs} < timeout ${timeoutMs}`);
      assert.ok(timeoutMs <= 29_000, `${stage}: timeout ${timeoutMs} ≤ API Gateway's 29 s`);
      // The integration keeps API Gateway's default (29 s): no TimeoutInMillis above it.
      const [, method] = proxyMethod(t);
      assert.ok((method.Properties.Integration.TimeoutInMillis ?? 29_000) <= 29_000);
    }
    assert.equal(parseConfig(parseYaml(synth.built.configs.prod)).limits.deadlineMs, 16_000);
    assert.throws(() => readSettings((k) => ({ 'imagegate:imagesBucket': 'b-1', 'imagegate:timeoutSeconds': 30 } as Record<string, unknown>)[k]), /imagegate:timeoutSeconds: expected an integer from 3 to 29, got 30/);
  });

  test('service endpoints private by default: off in the config, answered 404 by API Gateway itself; on when asked for', () => {
    const mocked = (t: Template) =>
      Object.entries(t.findResources('AWS::ApiGateway::Method', { Properties: { Integration: { Type: 'MOCK' } } })).map(([, m]) => {
        const res = t.toJSON().Resources[m.Properties.ResourceId.Ref].Properties;
        const parent = res.ParentId.Ref ? t.toJSON().Resources[res.ParentId.Ref].Properties.PathPart + '/' : '';
        assert.equal(m.Properties.Integration.IntegrationResponses[0].StatusCode, '404');
        assert.equal(m.Properties.Integration.RequestTemplates['application/json'], '{"statusCode": 404}');
        return parent + res.PathPart;
      });
    for (const [, t] of apiStacks()) assert.deepEqual(mocked(t).sort(), ['_admin', '_admin/{proxy+}', '_metrics', '_openapi.json']);
    const on = synthApp({ 'imagegate:environments': { dev: { serviceEndpoints: true } } });
    try {
      assert.equal(parseConfig(parseYaml(on.built.configs.dev)).server.internalEndpoints, 'admin');
      assert.equal(parseConfig(parseYaml(on.built.configs.prod)).server.internalEndpoints, 'off');
      assert.deepEqual(mocked(on.template('imagegate-api-dev')), []);
      assert.equal(mocked(on.template('imagegate-api-prod')).length, 4);
    } finally {
      rmSync(on.outdir, { recursive: true, force: true });
    }
  });

});

describe('deployment settings', () => {
  const get = (ctx: Record<string, unknown>) => (k: string) => ctx[k];
  test('a bad stage name or number names its context key', () => {
    assert.throws(
      () => readSettings(get({ 'imagegate:imagesBucket': 'b-1', 'imagegate:stages': 'Alice' })),
      (e: unknown) => e instanceof SettingsError && /imagegate:stages: 'Alice'/.test(e.message),
    );
    assert.throws(() => readSettings(get({ 'imagegate:imagesBucket': 'b-1', 'imagegate:memoryMb': 'lots' })), /imagegate:memoryMb: expected an integer from 128 to 10240, got "lots"/);
    assert.throws(() => readSettings(get({})), /imagegate:imagesBucket: required/);
    assert.throws(() => readSettings(get({ 'imagegate:imagesBucket': 'b-1', 'imagegate:overrides': { dev: { memory: 1 } } })), /imagegate:overrides.dev.memory: unknown setting/);
    assert.throws(
      () => readSettings(get({ 'imagegate:imagesBucket': 'b-1', 'imagegate:overrides': { 'dev-alice': { timeoutSeconds: 10 } } })),
      /imagegate:overrides.dev-alice.timeoutSeconds: unknown setting \(timeoutSeconds is shared by every stage of an environment: set it in imagegate:environments/,
    );
    assert.throws(() => readSettings(get({ 'imagegate:imagesBucket': 'b-1', 'imagegate:apiKeySlots': 'c' })), /imagegate:apiKeySlots: expected one or both of the slots a, b/);
    assert.throws(() => readSettings(get({ 'imagegate:imagesBucket': 'b-1', 'imagegate:architecture': 'x86' })), /imagegate:architecture: expected arm64 or x86_64/);
    const fromCli = readSettings(get({ 'imagegate:imagesBucket': '{"prod":"p-bucket","dev":"d-bucket"}', 'imagegate:overrides': '{"dev":{"memoryMb":"2048"}}' }));
    assert.deepEqual([fromCli.environments.prod.imagesBucket, fromCli.environments.dev.imagesBucket], ['p-bucket', 'd-bucket']);
    assert.equal(fromCli.stages.find((x) => x.stage === 'dev')!.memoryMb, 2048);
    assert.throws(() => readSettings(get({ 'imagegate:imagesBucket': '{oops' })), /imagegate:imagesBucket: not valid JSON/);
    const s = readSettings(get({ 'imagegate:imagesBucket': 'b-1', 'imagegate:stages': 'dev-bob,dev-carol', 'imagegate:cloudfront': 'true' }));
    assert.deepEqual(s.stages.map((x) => [x.stage, x.environment, x.cloudfront]), [
      ['prod', 'prod', true],
      ['dev', 'dev', true],
      ['dev-bob', 'dev', true],
      ['dev-carol', 'dev', true],
    ]);
  });

  test('a base config may not set what the deployment owns; a missing one names itself', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'imagegate-base-'));
    try {
      const base = readFileSync(path.join(infraDir, 'config', 'dev.yaml'), 'utf8');
      const cases: [string, RegExp][] = [
        ['sources:\n  images: { type: s3, bucket: someone-elses }\n', /sources\.images is set by the deployment; remove it and use imagegate:imagesBucket/],
        ['limits:\n  deadlineMs: 60000\n', /limits\.deadlineMs is set by the deployment; remove it and use imagegate:timeoutSeconds/],
        ['imagesSource:\n  bucket: someone-elses\n', /imagesSource\.bucket is set by the deployment/],
      ];
      for (const [extra, message] of cases) {
        const file = path.join(dir, 'base.yaml');
        writeFileSync(file, base.replace(/^imagesSource:[\s\S]*?(?=^routes:)/m, '') + extra);
        assert.throws(() => synthApp({ 'imagegate:config': file }), message);
      }
      assert.throws(() => synthApp({ 'imagegate:config': path.join(dir, 'missing.yaml') }), /imagegate config for the prod Lambda \(.*missing\.yaml\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('bundling without sharp installed fails synth with the fix in the message', () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'imagegate-nosharp-'));
    try {
      mkdirSync(path.join(root, 'node_modules'));
      assert.throws(
        () => bundleLambda({ entry: synth.built.settings.entry, configs: {}, projectRoot: root, architecture: 'x86_64' }),
        /sharp is not installed in .*node_modules: run npm install/,
      );
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
