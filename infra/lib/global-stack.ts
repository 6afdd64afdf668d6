/**
 * One global stack per environment (prod, dev): what every API stage of that environment shares.
 *
 * - the Lambda execution role (basic execution + read on the images bucket, which may be in
 *   another account: its bucket policy must name this role, see `imagegate infra bucket-policy`);
 * - the API key value, generated into Secrets Manager as `{"api_key": "<30 letters/digits>"}`;
 * - the API Gateway API key itself, whose value is a dynamic reference to that secret. API
 *   Gateway refuses a second key with the same value in an account and region ("409 API Key
 *   already exists"), so the key lives here once and every stage's usage plan attaches it;
 * - a bucket for responses over Lambda's 6 MB payload limit (objects expire after a day).
 */
import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import type { Environment } from './settings.ts';

/** Names of the values a global stack exports; API stacks import them with Fn.importValue. */
export const exportNames = (env: Environment) => ({
  role: `global--api-role--${env}`,
  key: `global--api-key--${env}`,
  keyId: `global--api-key-id--${env}`,
  largeResponses: `global--large-responses--${env}`,
});

/** Role name, fixed so a bucket policy in another account can name it before it exists. */
export const lambdaRoleName = (name: string, env: Environment) => `${name}-global-${env}-lambda-role`;

/** Characters the API key never contains: everything but letters and digits. */
export const API_KEY_EXCLUDED_CHARACTERS = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~';

export interface GlobalStackProps extends StackProps {
  name: string;
  environment: Environment;
  imagesBucket: string;
}

export class GlobalStack extends Stack {
  readonly role: iam.Role;
  readonly secret: secretsmanager.Secret;
  readonly apiKey: apigateway.CfnApiKey;
  readonly largeResponses: s3.Bucket;

  constructor(scope: Construct, id: string, props: GlobalStackProps) {
    super(scope, id, props);
    const { name, environment: env, imagesBucket } = props;
    const names = exportNames(env);

    this.secret = new secretsmanager.Secret(this, 'ApiKeySecret', {
      secretName: `${name}-global-${env}--api-key`,
      description: `imagegate API key (${env}); the API Gateway key of every ${env} stage has this value`,
      generateSecretString: {
        secretStringTemplate: '{}',
        generateStringKey: 'api_key',
        passwordLength: 30,
        excludePunctuation: true,
        excludeCharacters: API_KEY_EXCLUDED_CHARACTERS,
        includeSpace: false,
      },
    });

    this.largeResponses = new s3.Bucket(this, 'LargeResponses', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      lifecycleRules: [{ id: 'expire-large-responses', expiration: Duration.days(1) }],
    });

    const bucketArn = `arn:${this.partition}:s3:::${imagesBucket}`;
    this.role = new iam.Role(this, 'ApiLambdaRole', {
      roleName: lambdaRoleName(name, env),
      description: `imagegate Lambda (${env}): reads ${imagesBucket}`,
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('service-role/AWSLambdaBasicExecutionRole')],
      inlinePolicies: {
        ImagesBucketRead: new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({
              sid: 'ImagesBucketRead',
              actions: ['s3:Get*', 's3:List*'],
              resources: [bucketArn, `${bucketArn}/*`],
            }),
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
        ApiKeySecretRead: new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({
              sid: 'ApiKeySecretRead',
              actions: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
              resources: [this.secret.secretArn],
            }),
          ],
        }),
      },
    });

    this.apiKey = new apigateway.CfnApiKey(this, 'ApiKey', {
      name: `${name}-${env}`,
      description: `imagegate API key (${env}), shared by every ${env} stage; value from ${names.key}`,
      enabled: true,
      // {{resolve:secretsmanager:<secret arn>:SecretString:api_key::}}
      value: this.secret.secretValueFromJson('api_key').unsafeUnwrap(),
    });

    new CfnOutput(this, 'ApiRoleArn', { value: this.role.roleArn, exportName: names.role });
    new CfnOutput(this, 'ApiKeySecretArn', { value: this.secret.secretArn, exportName: names.key });
    new CfnOutput(this, 'ApiKeyId', { value: this.apiKey.ref, exportName: names.keyId });
    new CfnOutput(this, 'LargeResponsesBucket', {
      value: this.largeResponses.bucketName,
      exportName: names.largeResponses,
    });
  }
}
