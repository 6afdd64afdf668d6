import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import vm from 'node:vm';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { API_KEY_EXCLUDED_CHARACTERS } from '../../infra/lib/global-stack.ts';
import { NORMALISE_ACCEPT_SOURCE } from '../../infra/lib/cdn.ts';
import { readSettings, SettingsError } from '../../infra/lib/settings.ts';
import { loadConfigFile } from '../../src/config/load.ts';
import { bundleLambda, packageClosure } from '../../infra/lib/bundle.ts';
import { onlyResource, synthApp, type Synthesized } from './synth.ts';

const context = {
  'imagegate:imagesBucket': { prod: 'images-prod', dev: 'images-dev' },
  'imagegate:stages': 'dev-alice',
  'imagegate:overrides': {
    prod: { memoryMb: 3008, timeoutSeconds: 20, rateLimit: 200, burstLimit: 400, quotaLimit: 5000000, quotaPeriod: 'MONTH' },
    'dev-alice': { rateLimit: 7, burstLimit: 11, quotaLimit: 1234, quotaPeriod: 'DAY', cloudfront: true, environment: { EXTRA: 'yes' } },
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

const globalFor = (env: 'prod' | 'dev') => (env === 'prod' ? globalProd : globalDev);

const apiStacks = () => [
  ['prod', apiProd],
  ['dev', apiDev],
  ['dev-alice', apiAlice],
] as const;

describe('global stack (one per environment)', () => {
  test('role: basic execution + s3:Get*/s3:List* on the images bucket and its objects, assumed by Lambda', () => {
    for (const [t, bucket, env] of [[globalDev, 'images-dev', 'dev'], [globalProd, 'images-prod', 'prod']] as const) {
      t.hasResourceProperties('AWS::IAM::Role', {
        RoleName: `imagegate-global-${env}-lambda-role`,
        AssumeRolePolicyDocument: Match.objectLike({
          Statement: [Match.objectLike({ Action: 'sts:AssumeRole', Principal: { Service: 'lambda.amazonaws.com' } })],
        }),
        ManagedPolicyArns: [
          { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::aws:policy/service-role/AWSLambdaBasicExecutionRole']] },
        ],
        Policies: Match.arrayWith([
          {
            PolicyName: 'ImagesBucketRead',
            PolicyDocument: Match.objectLike({
              Statement: [
                Match.objectLike({
                  Effect: 'Allow',
                  Action: ['s3:Get*', 's3:List*'],
                  Resource: [
                    { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:s3:::${bucket}`]] },
                    { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:s3:::${bucket}/*`]] },
                  ],
                }),
              ],
            }),
          },
        ]),
      });
    }
  });

  test('secret: GenerateSecretString {"api_key"}, 30 characters, letters and digits only', () => {
    globalDev.hasResourceProperties('AWS::SecretsManager::Secret', {
      Name: 'imagegate-global-dev--api-key',
      GenerateSecretString: {
        SecretStringTemplate: '{}',
        GenerateStringKey: 'api_key',
        PasswordLength: 30,
        ExcludePunctuation: true,
        IncludeSpace: false,
        ExcludeCharacters: API_KEY_EXCLUDED_CHARACTERS,
      },
    });
    // Every printable ASCII character that is not a letter or digit is excluded.
    for (let c = 33; c < 127; c++) {
      const ch = String.fromCharCode(c);
      if (!/[A-Za-z0-9]/.test(ch)) assert.ok(API_KEY_EXCLUDED_CHARACTERS.includes(ch), `'${ch}' must be excluded`);
      else assert.ok(!API_KEY_EXCLUDED_CHARACTERS.includes(ch), `'${ch}' must be allowed`);
    }
  });

  test("the API key's value is a dynamic reference to the environment's secret (SecretString:api_key)", () => {
    const [secretId] = onlyResource(globalDev, 'AWS::SecretsManager::Secret');
    globalDev.hasResourceProperties('AWS::ApiGateway::ApiKey', {
      Enabled: true,
      Name: 'imagegate-dev',
      Value: { 'Fn::Join': ['', ['{{resolve:secretsmanager:', { Ref: secretId }, ':SecretString:api_key::}}']] },
    });
    // Exactly one key per environment: API Gateway refuses two keys with the same value.
    globalDev.resourceCountIs('AWS::ApiGateway::ApiKey', 1);
    for (const [, t] of apiStacks()) t.resourceCountIs('AWS::ApiGateway::ApiKey', 0);
  });

  test('exports global--api-role--<env> and global--api-key--<env> (and the key id, large-response bucket)', () => {
    for (const [t, env] of [[globalDev, 'dev'], [globalProd, 'prod']] as const) {
      const [roleId] = onlyResource(t, 'AWS::IAM::Role');
      const [secretId] = onlyResource(t, 'AWS::SecretsManager::Secret');
      const [keyId] = onlyResource(t, 'AWS::ApiGateway::ApiKey');
      const [bucketId] = onlyResource(t, 'AWS::S3::Bucket');
      t.hasOutput('*', { Value: { 'Fn::GetAtt': [roleId, 'Arn'] }, Export: { Name: `global--api-role--${env}` } });
      t.hasOutput('*', { Value: { Ref: secretId }, Export: { Name: `global--api-key--${env}` } });
      t.hasOutput('*', { Value: { Ref: keyId }, Export: { Name: `global--api-key-id--${env}` } });
      t.hasOutput('*', { Value: { Ref: bucketId }, Export: { Name: `global--large-responses--${env}` } });
    }
  });

  test('large-response bucket: private, objects expire after a day, role may put and get them', () => {
    const [bucketId] = onlyResource(globalDev, 'AWS::S3::Bucket');
    globalDev.hasResourceProperties('AWS::S3::Bucket', {
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      LifecycleConfiguration: { Rules: [Match.objectLike({ ExpirationInDays: 1, Status: 'Enabled' })] },
    });
    globalDev.hasResourceProperties('AWS::IAM::Role', {
      Policies: Match.arrayWith([
        {
          PolicyName: 'LargeResponses',
          PolicyDocument: Match.objectLike({
            Statement: [
              Match.objectLike({
                Action: ['s3:GetObject', 's3:PutObject'],
                Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, '/*']] },
              }),
            ],
          }),
        },
      ]),
    });
  });
});

describe('API stack (one per stage)', () => {
  test('binary media types */*, REGIONAL endpoint, key source HEADER', () => {
    for (const [stage, t] of apiStacks()) {
      t.hasResourceProperties('AWS::ApiGateway::RestApi', {
        Name: `imagegate-${stage}-api`,
        BinaryMediaTypes: ['*/*'],
        EndpointConfiguration: { Types: ['REGIONAL'] },
        ApiKeySourceType: 'HEADER',
      });
      // No account-wide CloudWatch role side effect.
      t.resourceCountIs('AWS::ApiGateway::Account', 0);
    }
  });

  test('proxy path part {proxy+} under the root resource', () => {
    const [apiId] = onlyResource(apiDev, 'AWS::ApiGateway::RestApi');
    apiDev.resourceCountIs('AWS::ApiGateway::Resource', 1);
    apiDev.hasResourceProperties('AWS::ApiGateway::Resource', {
      PathPart: '{proxy+}',
      ParentId: { 'Fn::GetAtt': [apiId, 'RootResourceId'] },
      RestApiId: { Ref: apiId },
    });
  });

  test('method ANY: key required, request parameter method.request.path.proxy, AWS_PROXY + POST to the Lambda', () => {
    for (const [, t] of apiStacks()) {
      const [fnId] = onlyResource(t, 'AWS::Lambda::Function');
      const [resourceId] = onlyResource(t, 'AWS::ApiGateway::Resource');
      t.resourceCountIs('AWS::ApiGateway::Method', 1);
      t.hasResourceProperties('AWS::ApiGateway::Method', {
        HttpMethod: 'ANY',
        ResourceId: { Ref: resourceId },
        AuthorizationType: 'NONE',
        ApiKeyRequired: true,
        RequestParameters: { 'method.request.path.proxy': true },
        Integration: {
          Type: 'AWS_PROXY',
          IntegrationHttpMethod: 'POST',
          Uri: {
            'Fn::Join': [
              '',
              [
                'arn:',
                { Ref: 'AWS::Partition' },
                ':apigateway:',
                { Ref: 'AWS::Region' },
                ':lambda:path/2015-03-31/functions/',
                { 'Fn::GetAtt': [fnId, 'Arn'] },
                '/invocations',
              ],
            ],
          },
        },
      });
    }
  });

  test('deployment DependsOn the method; the stage is named after the stack stage', () => {
    for (const [stage, t] of apiStacks()) {
      const [methodId] = onlyResource(t, 'AWS::ApiGateway::Method');
      const [deploymentId, deployment] = onlyResource(t, 'AWS::ApiGateway::Deployment');
      assert.ok(Array.isArray(deployment.DependsOn), 'deployment has DependsOn');
      assert.ok(deployment.DependsOn.includes(methodId), `deployment must depend on ${methodId}, got ${deployment.DependsOn}`);
      t.hasResourceProperties('AWS::ApiGateway::Stage', { StageName: stage, DeploymentId: { Ref: deploymentId } });
    }
  });

  test('usage plan limits: throttle and quota from context, on this API stage, with the environment key', () => {
    const [apiId] = onlyResource(apiAlice, 'AWS::ApiGateway::RestApi');
    const [stageId] = onlyResource(apiAlice, 'AWS::ApiGateway::Stage');
    apiAlice.hasResourceProperties('AWS::ApiGateway::UsagePlan', {
      UsagePlanName: 'imagegate-dev-alice-usage-plan',
      Throttle: { RateLimit: 7, BurstLimit: 11 },
      Quota: { Limit: 1234, Period: 'DAY' },
      ApiStages: [Match.objectLike({ ApiId: { Ref: apiId }, Stage: { Ref: stageId } })],
    });
    apiProd.hasResourceProperties('AWS::ApiGateway::UsagePlan', {
      Throttle: { RateLimit: 200, BurstLimit: 400 },
      Quota: { Limit: 5000000, Period: 'MONTH' },
    });
    // No override for dev here: cdk.json's defaults.
    apiDev.hasResourceProperties('AWS::ApiGateway::UsagePlan', {
      Throttle: { RateLimit: 50, BurstLimit: 100 },
      Quota: { Limit: 1000000, Period: 'MONTH' },
    });
    const [planId] = onlyResource(apiAlice, 'AWS::ApiGateway::UsagePlan');
    apiAlice.hasResourceProperties('AWS::ApiGateway::UsagePlanKey', {
      KeyType: 'API_KEY',
      UsagePlanId: { Ref: planId },
      KeyId: { 'Fn::ImportValue': 'global--api-key-id--dev' },
    });
  });

  test('permission source ARN: execute-api of this API and stage, principal apigateway', () => {
    for (const [, t] of apiStacks()) {
      const [fnId] = onlyResource(t, 'AWS::Lambda::Function');
      const [apiId] = onlyResource(t, 'AWS::ApiGateway::RestApi');
      const [stageId] = onlyResource(t, 'AWS::ApiGateway::Stage');
      t.resourceCountIs('AWS::Lambda::Permission', 1);
      t.hasResourceProperties('AWS::Lambda::Permission', {
        Action: 'lambda:InvokeFunction',
        Principal: 'apigateway.amazonaws.com',
        FunctionName: { 'Fn::GetAtt': [fnId, 'Arn'] },
        SourceArn: {
          'Fn::Join': [
            '',
            [
              'arn:',
              { Ref: 'AWS::Partition' },
              ':execute-api:',
              { Ref: 'AWS::Region' },
              ':',
              { Ref: 'AWS::AccountId' },
              ':',
              { Ref: apiId },
              '/',
              { Ref: stageId },
              '/*/*',
            ],
          ],
        },
      });
    }
  });

  test('imports: engineer and dev stacks import the dev role and key, prod imports prod', () => {
    for (const [stage, t] of apiStacks()) {
      const env = stage === 'prod' ? 'prod' : 'dev';
      t.hasResourceProperties('AWS::Lambda::Function', {
        Role: { 'Fn::ImportValue': `global--api-role--${env}` },
        Environment: {
          Variables: Match.objectLike({
            IMAGEGATE_LARGE_RESPONSE_BUCKET: { 'Fn::ImportValue': `global--large-responses--${env}` },
            IMAGEGATE_API_KEY_SECRET: { 'Fn::ImportValue': `global--api-key--${env}` },
          }),
        },
      });
      t.hasResourceProperties('AWS::ApiGateway::UsagePlanKey', { KeyId: { 'Fn::ImportValue': `global--api-key-id--${env}` } });
      // Nothing environment-wide is created in an API stack.
      t.resourceCountIs('AWS::IAM::Role', 0);
      t.resourceCountIs('AWS::SecretsManager::Secret', 0);
    }
    const deps = synth.built.api['dev-alice']!.dependencies.map((s) => s.stackName);
    assert.deepEqual(deps, ['imagegate-global-dev']);
  });

  test('Lambda: bundled asset, nodejs22.x x86_64, memory and timeout from context, environment from config', () => {
    apiProd.hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: 'imagegate-prod',
      Runtime: 'nodejs22.x',
      Architectures: ['x86_64'],
      Handler: 'index.handler',
      MemorySize: 3008,
      Timeout: 20,
      Environment: {
        Variables: Match.objectLike({
          IMAGEGATE_CONFIG: '/var/task/imagegate.prod.yaml',
          IMAGEGATE_STAGE: 'prod',
          IMAGEGATE_ENVIRONMENT: 'prod',
        }),
      },
    });
    apiAlice.hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: 'imagegate-dev-alice',
      MemorySize: 1536,
      Timeout: 29,
      Environment: { Variables: Match.objectLike({ IMAGEGATE_STAGE: 'dev-alice', EXTRA: 'yes' }) },
    });
    const [, fn] = onlyResource(apiDev, 'AWS::Lambda::Function');
    const assetDir = path.join(synth.outdir, fn.Metadata['aws:asset:path']);
    for (const f of [
      'index.mjs',
      'imagegate.prod.yaml',
      'imagegate.dev.yaml',
      'node_modules/sharp/package.json',
      'node_modules/@img/sharp-linux-x64/lib/sharp-linux-x64-0.35.5.node',
      'node_modules/@img/sharp-libvips-linux-x64/package.json',
    ]) {
      assert.ok(existsSync(path.join(assetDir, f)), `asset has ${f}`);
    }
    assert.ok(!existsSync(path.join(assetDir, 'node_modules/@img/sharp-darwin-arm64')));
  });

  test('outputs: the stage URL', () => {
    const [apiId] = onlyResource(apiAlice, 'AWS::ApiGateway::RestApi');
    const [stageId] = onlyResource(apiAlice, 'AWS::ApiGateway::Stage');
    apiAlice.hasOutput('ApiUrl', {
      Value: {
        'Fn::Join': [
          '',
          ['https://', { Ref: apiId }, '.execute-api.', { Ref: 'AWS::Region' }, '.', { Ref: 'AWS::URLSuffix' }, '/', { Ref: stageId }, '/'],
        ],
      },
    });
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
                HeaderValue: {
                  'Fn::Join': ['', ['{{resolve:secretsmanager:', { 'Fn::ImportValue': 'global--api-key--dev' }, ':SecretString:api_key::}}']],
                },
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

describe('Lambda bundle', () => {
  test("sharp's closure: its dependencies and the linux-x64 glibc binaries only", () => {
    const modules = path.join(synth.built.settings.projectRoot, 'node_modules');
    const pkgs = packageClosure(modules, ['sharp', '@img/sharp-linux-x64', '@img/sharp-libvips-linux-x64']);
    assert.ok(pkgs.includes('sharp') && pkgs.includes('@img/sharp-linux-x64') && pkgs.includes('@img/sharp-libvips-linux-x64'));
    assert.ok(pkgs.includes('detect-libc'));
    assert.deepEqual(pkgs.filter((p) => /^@img\/sharp-/.test(p)).sort(), ['@img/sharp-libvips-linux-x64', '@img/sharp-linux-x64']);
  });

  test('a project without the linux-x64 binaries or a config fails synth with the fix in the message', () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'imagegate-nobin-'));
    try {
      mkdirSync(path.join(root, 'node_modules'));
      const { entry, configFile } = synth.built.settings;
      assert.throws(
        () => bundleLambda({ entry, configFiles: configFile, projectRoot: root }),
        /@img\/sharp-linux-x64 is not installed .*npm install --cpu=x64 --os=linux --libc=glibc sharp/,
      );
      assert.throws(
        () => bundleLambda({ entry, configFiles: { dev: path.join(root, 'missing.yaml') }, projectRoot: root }),
        /imagegate config for the dev Lambda not found/,
      );
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('deployment settings', () => {
  test("the bundled per-environment configs are valid and check the environment's secret", () => {
    for (const env of ['prod', 'dev'] as const) {
      const cfg = loadConfigFile(synth.built.settings.configFile[env]);
      assert.deepEqual(cfg.keys.map((k) => k.secret), [{ id: `imagegate-global-${env}--api-key`, field: 'api_key' }]);
      globalFor(env).hasResourceProperties('AWS::SecretsManager::Secret', { Name: cfg.keys[0]!.secret!.id });
    }
  });

  test('a bad stage name or number names its context key', () => {
    const get = (ctx: Record<string, unknown>) => (k: string) => ctx[k];
    assert.throws(
      () => readSettings(get({ 'imagegate:imagesBucket': 'b-1', 'imagegate:stages': 'Alice' })),
      (e: unknown) => e instanceof SettingsError && /imagegate:stages: 'Alice'/.test(e.message),
    );
    assert.throws(
      () => readSettings(get({ 'imagegate:imagesBucket': 'b-1', 'imagegate:memoryMb': 'lots' })),
      /imagegate:memoryMb: expected an integer from 128 to 10240, got "lots"/,
    );
    assert.throws(() => readSettings(get({})), /imagegate:imagesBucket: required/);
    assert.throws(
      () => readSettings(get({ 'imagegate:imagesBucket': 'b-1', 'imagegate:overrides': { dev: { memory: 1 } } })),
      /imagegate:overrides.dev.memory: unknown setting/,
    );
    // Objects given on the command line (-c key='{"…"}') arrive as JSON strings.
    const fromCli = readSettings(
      get({ 'imagegate:imagesBucket': '{"prod":"p-bucket","dev":"d-bucket"}', 'imagegate:overrides': '{"dev":{"memoryMb":"2048"}}' }),
    );
    assert.deepEqual(fromCli.imagesBucket, { prod: 'p-bucket', dev: 'd-bucket' });
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
});
