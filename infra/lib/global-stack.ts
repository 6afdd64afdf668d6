/**
 * One global stack per environment (prod, dev): what every API stage of that environment shares.
 *
 * - the Lambda execution role (basic execution, X-Ray writes, read on the images bucket — which
 *   may be in another account: its bucket policy must name this role, see
 *   `imagegate infra bucket-policy`);
 * - two API key slots, a and b: each a secret `{"api_key": "<30 letters/digits>"}`. A slot listed
 *   in `apiKeySlots` also has an API Gateway key whose value is that secret, attached to the
 *   usage plan. API Gateway fixes a key's value when the key is created, so a key is rotated by
 *   bringing up the other slot, moving the callers, then retiring the old slot (its key is
 *   deleted and its secret renewed) — see docs/deploy-aws.md. The Lambda always reads both
 *   secrets, so no stage is redeployed to rotate;
 * - the usage plan every stage of the environment joins (each API stack adds its stage to the
 *   plan's apiStages). One plan per key, whatever the number of stages: API Gateway allows a key
 *   in at most 10 usage plans;
 * - a bucket for responses over Lambda's 6 MB payload limit (objects expire after a day);
 * - the metering table (DynamoDB, no fixed name, on demand, point-in-time recovery,
 *   TTL on `expiresAt`): token buckets, quota counters and usage records of every instance of
 *   every stage, and the keys managed with `imagegate keys` (hashed). The role may read it and
 *   write only the items a request changes (plan state, usage records, a key's last use), never
 *   a key or its hashes.
 *
 * Every named resource here is deleted with the stack (secrets without a recovery window), so
 * the stack can be destroyed and deployed again, and a failed first create can simply be retried.
 * prod's metering table is kept when its stack goes (usage records are billing data); it has no
 * fixed name, so nothing blocks deploying again (a new table; the old one stays for export).
 */
import { Aws, CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { resourceNames } from './names.ts';
import { KEY_SLOTS, type EnvironmentSettings, type KeySlot } from './settings.ts';

/**
 * The metering table's key and TTL attributes: what the app's DynamoDB stores read and write
 * (src/dynamodb.ts TABLE_KEYS; test/infra checks that the two agree).
 */
export const METERING_KEYS = { partition: 'pk', sort: 'sk', ttl: 'expiresAt' } as const;

/** Characters the API key never contains: everything but letters and digits. */
export const API_KEY_EXCLUDED_CHARACTERS = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~';

export interface GlobalStackProps extends StackProps {
  name: string;
  settings: EnvironmentSettings;
  /** Create the account's API Gateway CloudWatch role (API Gateway needs it to write access logs). */
  apiGatewayAccountRole: boolean;
}

export class GlobalStack extends Stack {
  readonly role: iam.Role;
  readonly secrets: Record<KeySlot, secretsmanager.Secret>;
  readonly apiKeys: Partial<Record<KeySlot, apigateway.CfnApiKey>> = {};
  readonly usagePlan: apigateway.CfnUsagePlan;
  readonly largeResponses: s3.Bucket;
  readonly metering: dynamodb.Table;

  constructor(scope: Construct, id: string, props: GlobalStackProps) {
    super(scope, id, props);
    const { name, settings: s } = props;
    const env = s.environment;
    const names = resourceNames(name);
    const exported = names.exports(env);

    this.secrets = {} as Record<KeySlot, secretsmanager.Secret>;
    for (const slot of KEY_SLOTS) {
      const secret = new secretsmanager.Secret(this, `ApiKeySecret${slot.toUpperCase()}`, {
        secretName: names.apiKeySecret(env, slot),
        description: `imagegate API key, slot ${slot} (${env}); live at API Gateway while the slot is in apiKeySlots`,
        generateSecretString: {
          secretStringTemplate: '{}',
          generateStringKey: 'api_key',
          passwordLength: 30,
          excludePunctuation: true,
          excludeCharacters: API_KEY_EXCLUDED_CHARACTERS,
          includeSpace: false,
        },
        // CloudFormation deletes a secret without a recovery window: the name is free again at once.
        removalPolicy: RemovalPolicy.DESTROY,
      });
      this.secrets[slot] = secret;
    }

    this.largeResponses = new s3.Bucket(this, 'LargeResponses', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      lifecycleRules: [{ id: 'expire-large-responses', expiration: Duration.days(1) }],
    });

    this.metering = new dynamodb.Table(this, 'Metering', {
      partitionKey: { name: METERING_KEYS.partition, type: dynamodb.AttributeType.STRING },
      sortKey: { name: METERING_KEYS.sort, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: METERING_KEYS.ttl,
      // prod keeps its usage records and keys when the stack goes; dev (every engineer stage) does not.
      removalPolicy: env === 'prod' ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });

    const bucketArn = `arn:${this.partition}:s3:::${s.imagesBucket}`;
    const prefix = s.imagesPrefix;
    this.role = new iam.Role(this, 'ApiLambdaRole', {
      // Role names are unique per account: the region is part of it (one app, several regions).
      roleName: names.lambdaRole(env, Aws.REGION),
      description: `imagegate Lambda (${env}): reads ${s.imagesBucket}/${prefix}`,
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      managedPolicies: [
        iam.ManagedPolicy.fromAwsManagedPolicyName('service-role/AWSLambdaBasicExecutionRole'),
        iam.ManagedPolicy.fromAwsManagedPolicyName('AWSXRayDaemonWriteAccess'),
      ],
      inlinePolicies: {
        ImagesBucketRead: new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({
              sid: 'ImagesRead',
              actions: ['s3:GetObject', 's3:GetObjectVersion'],
              resources: [`${bucketArn}/${prefix}*`],
            }),
            // Without ListBucket S3 answers 403 for a missing key instead of 404. No s3:prefix
            // condition: a GetObject carries none, so the condition would bring the 403 back.
            new iam.PolicyStatement({ sid: 'ImagesList', actions: ['s3:ListBucket'], resources: [bucketArn] }),
          ],
        }),
        LargeResponses: new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({
              sid: 'LargeResponsesWriteRead',
              actions: ['s3:PutObject', 's3:GetObject'],
              resources: [this.largeResponses.arnForObjects('*')],
            }),
          ],
        }),
        Metering: new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({
              sid: 'MeteringRead',
              actions: ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query'],
              resources: [this.metering.tableArn],
            }),
            // A request takes from its key's plan item and adds to usage records (UpdateItem,
            // also inside TransactWriteItems); a look-up notes the key's last use (PutItem).
            new iam.PolicyStatement({
              sid: 'MeteringCount',
              actions: ['dynamodb:UpdateItem'],
              resources: [this.metering.tableArn],
              conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['plan#*', 'usage#*'] } },
            }),
            new iam.PolicyStatement({
              sid: 'MeteringKeyLastUsed',
              actions: ['dynamodb:PutItem'],
              resources: [this.metering.tableArn],
              conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['keyused#*'] } },
            }),
          ],
        }),
        ApiKeySecretRead: new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({
              sid: 'ApiKeySecretRead',
              actions: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
              resources: KEY_SLOTS.map((slot) => this.secrets[slot].secretArn),
            }),
          ],
        }),
      },
    });

    this.usagePlan = new apigateway.CfnUsagePlan(this, 'UsagePlan', {
      usagePlanName: names.usagePlan(env),
      description: `imagegate ${env}: every ${env} stage; throttle ${s.rateLimit}/s (burst ${s.burstLimit}) per key, ${
        s.quota ? `quota ${s.quota.limit} per ${s.quota.period.toLowerCase()}` : 'no quota (usage is tracked, not capped)'
      }`,
      throttle: { rateLimit: s.rateLimit, burstLimit: s.burstLimit },
      ...(s.quota ? { quota: { limit: s.quota.limit, period: s.quota.period } } : {}),
    });

    for (const slot of s.apiKeySlots) {
      const key = new apigateway.CfnApiKey(this, `ApiKey${slot.toUpperCase()}`, {
        name: names.apiKey(env, slot),
        description: `imagegate API key (${env}), slot ${slot}; value from the secret ${names.apiKeySecret(env, slot)}`,
        enabled: true,
        // {{resolve:secretsmanager:<secret arn>:SecretString:api_key::}}, read when the key is created.
        value: this.secrets[slot].secretValueFromJson('api_key').unsafeUnwrap(),
      });
      new apigateway.CfnUsagePlanKey(this, `UsagePlanKey${slot.toUpperCase()}`, {
        keyId: key.ref,
        keyType: 'API_KEY',
        usagePlanId: this.usagePlan.ref,
      });
      this.apiKeys[slot] = key;
      new CfnOutput(this, `ApiKeyId${slot.toUpperCase()}`, { value: key.ref, description: `API Gateway key id of slot ${slot}` });
    }

    if (props.apiGatewayAccountRole) {
      // API Gateway writes access logs only with an account-wide CloudWatch role (one setting per
      // account and region). The role has no fixed name and is kept when the stack goes, so
      // another stack's logging keeps working.
      const cwRole = new iam.Role(this, 'ApiGatewayCloudWatchRole', {
        assumedBy: new iam.ServicePrincipal('apigateway.amazonaws.com'),
        managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('service-role/AmazonAPIGatewayPushToCloudWatchLogs')],
      });
      cwRole.applyRemovalPolicy(RemovalPolicy.RETAIN);
      new apigateway.CfnAccount(this, 'ApiGatewayAccount', { cloudWatchRoleArn: cwRole.roleArn });
    }

    new CfnOutput(this, 'ApiRoleArn', { value: this.role.roleArn, exportName: exported.role });
    new CfnOutput(this, 'UsagePlanId', { value: this.usagePlan.ref, exportName: exported.usagePlan });
    new CfnOutput(this, 'MeteringTable', {
      value: this.metering.tableName,
      exportName: exported.meteringTable,
      description: 'usage plans, usage records, managed keys (IMAGEGATE_METERING_TABLE for imagegate keys/usage)',
    });
    new CfnOutput(this, 'LargeResponsesBucket', { value: this.largeResponses.bucketName, exportName: exported.largeResponses });
    for (const slot of KEY_SLOTS) {
      new CfnOutput(this, `ApiKeySecret${slot.toUpperCase()}Name`, { value: names.apiKeySecret(env, slot) });
    }
  }
}
