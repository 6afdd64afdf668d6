/**
 * One API stack per stage (prod, dev, dev-<engineer>): the imagegate Lambda behind an API Gateway
 * REST API with a single `{proxy+}` resource, and a usage plan holding the environment's shared
 * API key. Everything environment-wide (role, key, large-response bucket) is imported from the
 * global stack of the stage's environment, so an engineer's stack costs nothing to add or drop.
 *
 * The traps of a hand-written template, and where each is handled:
 * - images come back as text unless `binaryMediaTypes` is `*∕*` (RestApi below);
 * - the key is ignored unless `apiKeySourceType` is HEADER and the method has `apiKeyRequired`;
 * - `{proxy+}` needs the request parameter `method.request.path.proxy`;
 * - the integration must be AWS_PROXY with integration method POST (Lambda is invoked by POST,
 *   whatever the client's method);
 * - the deployment must depend on the method, or CloudFormation deploys an empty API;
 * - the Lambda permission must name this API (and stage) as its source.
 */
import { CfnOutput, Duration, Fn, Stack, type StackProps } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { addCloudFront } from './cdn.ts';
import { exportNames } from './global-stack.ts';
import type { StageSettings } from './settings.ts';

export interface ApiStackProps extends StackProps {
  name: string;
  settings: StageSettings;
  /** Makes the Lambda code (a fresh Code per stack: an asset belongs to one stack). */
  code: () => lambda.Code;
  handler: string;
  /** Config file name inside the asset. */
  configName: string;
}

export class ApiStack extends Stack {
  readonly fn: lambda.Function;
  readonly api: apigateway.RestApi;
  readonly proxyMethod: apigateway.Method;
  readonly usagePlan: apigateway.UsagePlan;

  constructor(scope: Construct, id: string, props: ApiStackProps) {
    super(scope, id, props);
    const { name, settings: s } = props;
    const env = s.environment;
    const imported = exportNames(env);
    const prefix = `${name}-${s.stage}`;

    // Imported from the global stack of this environment (prod, or dev for every dev-* stage).
    const role = iam.Role.fromRoleArn(this, 'ApiRole', Fn.importValue(imported.role), { mutable: false });
    const keyId = Fn.importValue(imported.keyId);
    const keySecretArn = Fn.importValue(imported.key);
    const largeResponseBucket = Fn.importValue(imported.largeResponses);

    const logGroup = new logs.LogGroup(this, 'Logs', {
      logGroupName: `/aws/lambda/${prefix}`,
      retention: s.stage === 'prod' ? logs.RetentionDays.THREE_MONTHS : logs.RetentionDays.TWO_WEEKS,
    });

    this.fn = new lambda.Function(this, 'Handler', {
      functionName: prefix,
      description: `imagegate (${s.stage})`,
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.X86_64,
      code: props.code(),
      handler: props.handler,
      role,
      memorySize: s.memoryMb,
      timeout: Duration.seconds(s.timeoutSeconds),
      logGroup,
      environment: {
        ...s.lambdaEnvironment,
        IMAGEGATE_CONFIG: `/var/task/${props.configName}`,
        IMAGEGATE_STAGE: s.stage,
        IMAGEGATE_ENVIRONMENT: env,
        IMAGEGATE_LARGE_RESPONSE_BUCKET: largeResponseBucket,
        IMAGEGATE_API_KEY_SECRET: keySecretArn,
        NODE_OPTIONS: '--enable-source-maps',
        // Measured in bench/RESULTS.md: fastest allocator setting, 9–24% less peak RSS.
        MALLOC_ARENA_MAX: '2',
      },
    });

    this.api = new apigateway.RestApi(this, 'Api', {
      restApiName: `${prefix}-api`,
      description: `imagegate images API (${s.stage})`,
      binaryMediaTypes: ['*/*'],
      endpointTypes: [apigateway.EndpointType.REGIONAL],
      apiKeySourceType: apigateway.ApiKeySourceType.HEADER,
      cloudWatchRole: false,
      deploy: true,
      deployOptions: {
        stageName: s.stage,
        description: `imagegate ${s.stage}`,
      },
    });

    const proxy = this.api.root.addResource('{proxy+}');
    this.proxyMethod = proxy.addMethod(
      'ANY',
      new apigateway.LambdaIntegration(this.fn, {
        proxy: true, // AWS_PROXY, invoked with POST
        allowTestInvoke: false,
      }),
      {
        apiKeyRequired: true,
        authorizationType: apigateway.AuthorizationType.NONE,
        requestParameters: { 'method.request.path.proxy': true },
      },
    );

    this.usagePlan = new apigateway.UsagePlan(this, 'UsagePlan', {
      name: `${prefix}-usage-plan`,
      description: `imagegate ${s.stage}: throttle ${s.rateLimit}/s (burst ${s.burstLimit}), quota ${s.quotaLimit} per ${s.quotaPeriod.toLowerCase()}`,
      throttle: { rateLimit: s.rateLimit, burstLimit: s.burstLimit },
      quota: { limit: s.quotaLimit, period: apigateway.Period[s.quotaPeriod] },
      apiStages: [{ api: this.api, stage: this.api.deploymentStage }],
    });
    // The environment's key (one per account and region; see global-stack.ts).
    new apigateway.CfnUsagePlanKey(this, 'UsagePlanKey', {
      keyId,
      keyType: 'API_KEY',
      usagePlanId: this.usagePlan.usagePlanId,
    });

    new CfnOutput(this, 'ApiUrl', { value: this.api.url, description: 'Base URL; append the image path' });
    new CfnOutput(this, 'FunctionName', { value: this.fn.functionName });

    if (s.cloudfront) {
      const cdn = addCloudFront(this, { api: this.api, keySecretArn, prefix });
      new CfnOutput(this, 'CdnUrl', { value: `https://${cdn.distributionDomainName}/` });
    }
  }
}
