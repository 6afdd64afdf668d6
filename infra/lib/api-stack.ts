/**
 * One API stack per stage (prod, dev, dev-<engineer>): the imagegate Lambda behind an API Gateway
 * REST API with a keyed `{proxy+}` resource (plus resources without the key check for the routes
 * of signed and public sources, access-paths.ts), joined to its environment's usage plan (and so
 * to the environment's API keys). Everything environment-wide (role, keys, plan, large-response
 * bucket) is imported from the global stack of the stage's environment, so an engineer's stack
 * costs nothing to add or drop. Nothing here has a fixed name that outlives the stack: the log
 * groups have generated names and go with it.
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
import { Annotations, Aws, CfnOutput, type CfnResource, Duration, Fn, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as cr from 'aws-cdk-lib/custom-resources';
import type { Construct } from 'constructs';
import type { AccessPaths } from './access-paths.ts';
import { addCloudFront, type CdnPath } from './cdn.ts';
import { METERING_TABLE_ENV } from './lambda-config.ts';
import { resourceNames } from './names.ts';
import { addOperations } from './operations.ts';
import type { Architecture, KeySlot, StageSettings } from './settings.ts';

export interface ApiStackProps extends StackProps {
  name: string;
  settings: StageSettings;
  architecture: Architecture;
  /** Makes the Lambda code (a fresh Code per stack: an asset belongs to one stack). */
  code: () => lambda.Code;
  handler: string;
  /** Config file name inside the asset. */
  configName: string;
  /** The app's request deadline (from the bundled config), for the duration alarm. */
  deadlineMs: number;
  /** Let /_metrics, /_openapi.json and /_admin through to the Lambda (imagegate:serviceEndpoints). */
  serviceEndpoints: boolean;
  /** The newest live API key slot of the environment (what CloudFront sends). */
  keySlot: KeySlot;
  /** Which resources API Gateway serves without its key check (from the generated config). */
  access: AccessPaths;
  /** The generated config has an anonymous plan and trusts no proxy's forwarding header. */
  anonymousPlanWithoutProxies: boolean;
}

/** The service endpoints' paths (API Gateway resources and CloudFront path patterns). */
const SERVICE_PATHS = ['/_metrics', '/_openapi.json', '/_admin', '/_admin/*'];

/** The access log line: JSON, one per request, with the API key id (never the key). */
export const ACCESS_LOG_FIELDS = {
  requestId: apigateway.AccessLogField.contextRequestId(),
  apiId: apigateway.AccessLogField.contextApiId(),
  time: apigateway.AccessLogField.contextRequestTime(),
  ip: apigateway.AccessLogField.contextIdentitySourceIp(),
  method: apigateway.AccessLogField.contextHttpMethod(),
  path: apigateway.AccessLogField.contextPath(),
  status: apigateway.AccessLogField.contextStatus(),
  bytes: apigateway.AccessLogField.contextResponseLength(),
  latencyMs: apigateway.AccessLogField.contextResponseLatency(),
  integrationLatencyMs: apigateway.AccessLogField.contextIntegrationLatency(),
  apiKeyId: apigateway.AccessLogField.contextIdentityApiKeyId(),
  error: apigateway.AccessLogField.contextErrorMessage(),
  userAgent: apigateway.AccessLogField.contextIdentityUserAgent(),
};

/** Construct id of the function CDK's AwsCustomResource runs on (one per stack). */
const JOIN_PROVIDER_ID = 'AWS679f53fac002430cb0da5b7982bd2287';

export class ApiStack extends Stack {
  readonly fn: lambda.Function;
  readonly api: apigateway.RestApi;
  readonly proxyMethod: apigateway.Method;
  readonly accessLogs: logs.LogGroup;
  /** What CloudFront routes where, besides its default (the root `{proxy+}`): most specific first. */
  readonly cdnPaths: CdnPath[];

  constructor(scope: Construct, id: string, props: ApiStackProps) {
    super(scope, id, props);
    const { name, settings: s } = props;
    const env = s.environment;
    const names = resourceNames(name);
    const imported = names.exports(env);
    const retention = s.stage === 'prod' ? logs.RetentionDays.THREE_MONTHS : logs.RetentionDays.TWO_WEEKS;

    // Imported from the global stack of this environment (prod, or dev for every dev-* stage).
    const role = iam.Role.fromRoleArn(this, 'ApiRole', Fn.importValue(imported.role), { mutable: false });
    const usagePlanId = Fn.importValue(imported.usagePlan);
    const largeResponseBucket = Fn.importValue(imported.largeResponses);
    const meteringTable = Fn.importValue(imported.meteringTable);

    const logGroup = new logs.LogGroup(this, 'Logs', { retention, removalPolicy: RemovalPolicy.DESTROY });

    this.fn = new lambda.Function(this, 'Handler', {
      functionName: names.function(s.stage),
      description: `imagegate (${s.stage})`,
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: props.architecture === 'arm64' ? lambda.Architecture.ARM_64 : lambda.Architecture.X86_64,
      code: props.code(),
      handler: props.handler,
      role,
      memorySize: s.memoryMb,
      timeout: Duration.seconds(s.timeoutSeconds),
      logGroup,
      tracing: s.tracing ? lambda.Tracing.ACTIVE : lambda.Tracing.DISABLED,
      ...(s.reservedConcurrency ? { reservedConcurrentExecutions: s.reservedConcurrency } : {}),
      environment: {
        ...s.lambdaEnvironment,
        IMAGEGATE_CONFIG: `/var/task/${props.configName}`,
        IMAGEGATE_LARGE_RESPONSE_BUCKET: largeResponseBucket,
        [METERING_TABLE_ENV]: meteringTable,
        // Measured in bench/RESULTS.md: fastest allocator setting, 9–24% less peak RSS.
        MALLOC_ARENA_MAX: '2',
      },
    });

    this.accessLogs = new logs.LogGroup(this, 'AccessLogs', { retention, removalPolicy: RemovalPolicy.DESTROY });
    this.api = new apigateway.RestApi(this, 'Api', {
      restApiName: names.restApi(s.stage),
      description: `imagegate images API (${s.stage})`,
      binaryMediaTypes: ['*/*'],
      endpointTypes: [apigateway.EndpointType.REGIONAL],
      apiKeySourceType: apigateway.ApiKeySourceType.HEADER,
      cloudWatchRole: false,
      deploy: true,
      deployOptions: {
        stageName: s.stage,
        description: `imagegate ${s.stage}`,
        accessLogDestination: new apigateway.LogGroupLogDestination(this.accessLogs),
        accessLogFormat: apigateway.AccessLogFormat.custom(JSON.stringify(ACCESS_LOG_FIELDS)),
        tracingEnabled: s.tracing,
      },
    });

    const integration = new apigateway.LambdaIntegration(this.fn, {
      proxy: true, // AWS_PROXY, invoked with POST
      allowTestInvoke: false,
    });
    const lambdaMethod = (resource: apigateway.IResource, open: boolean) =>
      resource.addMethod('ANY', integration, {
        apiKeyRequired: !open,
        authorizationType: apigateway.AuthorizationType.NONE,
        ...(resource.path.endsWith('{proxy+}') ? { requestParameters: { 'method.request.path.proxy': true } } : {}),
      });
    const { access } = props;
    this.proxyMethod = lambdaMethod(this.api.root.addResource('{proxy+}'), access.rootOpen);
    // Routes to signed and public sources: no key check at API Gateway (a browser's <img src> has
    // no header to send); the app's access decision is their gate and its usage records their meter.
    for (const p of access.paths) {
      const at = this.api.root.resourceForPath(p.segments.join('/'));
      lambdaMethod(p.proxy ? at.addResource('{proxy+}') : at, p.open);
    }
    this.cdnPaths = access.paths.map((p) => ({ pattern: `/${p.segments.join('/')}${p.proxy ? '/*' : ''}`, open: p.open }));
    for (const route of access.keyRoutesOpen) {
      Annotations.of(this).addWarningV2(
        `imagegate:keyRouteOpen:${route}`,
        `route '${route}' (a key source) shares an API Gateway resource with a signed or public route: API Gateway does not check its key there, the app does (403 without a valid X-API-Key)`,
      );
    }

    // The service endpoints, unless the environment opts in: API Gateway answers 404 itself (a
    // literal path beats {proxy+}), so CloudFront viewers — whose requests carry the key — and
    // key holders never reach /_metrics, /_openapi.json or the dashboard through the Lambda.
    if (!props.serviceEndpoints) {
      const notFound = new apigateway.MockIntegration({
        contentHandling: apigateway.ContentHandling.CONVERT_TO_TEXT,
        requestTemplates: { 'application/json': '{"statusCode": 404}' },
        integrationResponses: [{ statusCode: '404', responseTemplates: { 'application/json': JSON.stringify({ message: 'Not found', code: 'not_found' }) } }],
      });
      const options: apigateway.MethodOptions = { apiKeyRequired: true, methodResponses: [{ statusCode: '404' }] };
      for (const r of this.serviceResources()) r.addMethod('ANY', notFound, options);
    } else if (access.rootOpen) {
      // An open root would let them through without the key the environment gives them.
      for (const r of this.serviceResources()) lambdaMethod(r, false);
    }
    if (access.rootOpen) this.cdnPaths.unshift(...SERVICE_PATHS.map((p) => ({ pattern: p, open: false })));

    // Join the environment's usage plan (in the global stack): one plan per key however many
    // stages there are. Removed from the plan again before the stage is deleted.
    const apiStage = `${this.api.restApiId}:${this.api.deploymentStage.stageName}`;
    const planArn = `arn:${Aws.PARTITION}:apigateway:${Aws.REGION}::/usageplans/${usagePlanId}`;
    const patch = (op: 'add' | 'remove') => ({
      service: 'APIGateway',
      action: 'UpdateUsagePlan',
      parameters: { usagePlanId, patchOperations: [{ op, path: '/apiStages', value: apiStage }] },
      physicalResourceId: cr.PhysicalResourceId.of(apiStage),
    });
    new cr.AwsCustomResource(this, 'JoinUsagePlan', {
      resourceType: 'Custom::UsagePlanStage',
      onCreate: patch('add'),
      onDelete: { ...patch('remove'), ignoreErrorCodesMatching: 'NotFoundException' },
      policy: cr.AwsCustomResourcePolicy.fromStatements([new iam.PolicyStatement({ actions: ['apigateway:PATCH'], resources: [planArn] })]),
      installLatestAwsSdk: false,
      logGroup: new logs.LogGroup(this, 'JoinUsagePlanLogs', { retention: logs.RetentionDays.ONE_WEEK, removalPolicy: RemovalPolicy.DESTROY }),
    });
    // The provider function's DependsOn on its role repeats what its Role attribute already says (cfn-lint W3005).
    const provider = this.node.tryFindChild(JOIN_PROVIDER_ID);
    (provider?.node.defaultChild as CfnResource | undefined)?.addDeletionOverride('DependsOn');

    addOperations(this, { name, stage: s, fn: this.fn, api: this.api, accessLogs: this.accessLogs, deadlineMs: props.deadlineMs });

    if (s.cloudfront && (access.rootOpen || access.paths.some((p) => p.open)) && props.anonymousPlanWithoutProxies) {
      Annotations.of(this).addWarningV2(
        'imagegate:anonymousBehindCloudFront',
        'signed and public routes are served through CloudFront and limited by anonymous.plan, but anonymous.trustedProxies is empty: API Gateway sees CloudFront\'s address, so the anonymous plan would count each edge, not each viewer (docs/deploy-aws.md, "Signed and public sources")',
      );
    }

    new CfnOutput(this, 'ApiUrl', { value: this.api.url, description: 'Base URL; append the image path' });
    new CfnOutput(this, 'FunctionName', { value: this.fn.functionName });
    new CfnOutput(this, 'LogGroupName', { value: logGroup.logGroupName, description: 'Lambda logs' });
    new CfnOutput(this, 'AccessLogGroupName', { value: this.accessLogs.logGroupName, description: 'API Gateway access logs (JSON)' });

    if (s.cloudfront) {
      const cdn = addCloudFront(this, { api: this.api, name, stage: s.stage, env, slot: props.keySlot, rootOpen: access.rootOpen, paths: this.cdnPaths });
      new CfnOutput(this, 'CdnUrl', { value: `https://${cdn.distributionDomainName}/` });
    }
  }

  /** The service endpoints' resources: /_metrics, /_openapi.json, /_admin, /_admin/{proxy+}. */
  private serviceResources(): apigateway.IResource[] {
    return SERVICE_PATHS.map((p) => this.api.root.resourceForPath(p.slice(1).replace('*', '{proxy+}')));
  }
}
