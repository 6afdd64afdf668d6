/**
 * Every physical name and export the app creates, derived from the app name (`imagegate:name`)
 * in one place, so two apps in one account never collide. Names that are unique per account
 * rather than per region (IAM roles, CloudWatch dashboards, CloudFront functions and cache
 * policies) also carry the region, so one app deploys to two regions.
 *
 * `region` is whatever the stack gives (`Aws.REGION`, a token resolved at deploy time, or a
 * literal in tests).
 */
import type { Environment, KeySlot } from './settings.ts';

export function resourceNames(app: string) {
  return {
    globalStack: (env: Environment) => `${app}-global-${env}`,
    apiStack: (stage: string) => `${app}-api-${stage}`,
    // Unique per region.
    apiKeySecret: (env: Environment, slot: KeySlot) => `${app}-global-${env}-api-key-${slot}`,
    apiKey: (env: Environment, slot: KeySlot) => `${app}-${env}-${slot}`,
    usagePlan: (env: Environment) => `${app}-${env}`,
    function: (stage: string) => `${app}-${stage}`,
    restApi: (stage: string) => `${app}-${stage}`,
    alarm: (stage: string, what: string) => `${app}-${stage}-${what}`,
    // Unique per account: the region is part of the name.
    lambdaRole: (env: Environment, region: string) => `${app}-${env}-lambda-${region}`,
    dashboard: (stage: string, region: string) => `${app}-${stage}-${region}`,
    cloudFrontFunction: (stage: string, region: string) => `${app}-${stage}-${region}-accept`,
    cachePolicy: (stage: string, region: string) => `${app}-${stage}-${region}-images`,
    /** The cache policy of signed and public paths (CORS: Origin in the key). */
    openCachePolicy: (stage: string, region: string) => `${app}-${stage}-${region}-open`,
    /** CloudFormation exports of an environment's global stack (unique per region). */
    exports: (env: Environment) => ({
      role: `${app}-global-${env}-role-arn`,
      usagePlan: `${app}-global-${env}-usage-plan-id`,
      largeResponses: `${app}-global-${env}-large-responses`,
      meteringTable: `${app}-global-${env}-metering-table`,
    }),
  };
}

export type ResourceNames = ReturnType<typeof resourceNames>;
