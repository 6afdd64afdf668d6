/**
 * The whole deployment: a global stack per environment and an API stack per stage.
 *
 *   <name>-global-prod   <name>-global-dev
 *   <name>-api-prod      <name>-api-dev      <name>-api-dev-<engineer> …
 *
 * Stacks carry no account or region: `cdk synth` needs no credentials; `cdk deploy` uses the
 * profile's account and region. The Lambda code is one asset for every stage: its configs are
 * generated per environment, never per stage, so adding or dropping an engineer's stage never
 * changes the code of another.
 */
import { AssetHashType, type App } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { parse as parseYaml } from 'yaml';
import { accessPaths, type AccessPaths } from './access-paths.ts';
import { ApiStack } from './api-stack.ts';
import { bundleLambda, type Bundle } from './bundle.ts';
import { GlobalStack } from './global-stack.ts';
import { generateLambdaConfig } from './lambda-config.ts';
import { resourceNames } from './names.ts';
import { ENVIRONMENTS, settingsFromNode, type Environment, type Settings } from './settings.ts';

export interface BuiltApp {
  settings: Settings;
  /** The generated imagegate config per environment (what the bundle holds). */
  configs: Record<Environment, string>;
  /** Per environment: which API Gateway resources are served without the key check. */
  access: Record<Environment, AccessPaths>;
  bundle: Bundle;
  global: Record<Environment, GlobalStack>;
  api: Record<string, ApiStack>;
}

export interface BuildOptions {
  /** Where the Lambda asset is built (default: a temporary folder). */
  bundleDir?: string;
  /**
   * Use this asset folder instead of bundling (tests that check structure only); it must hold
   * index.mjs. The generated configs are still written into it.
   */
  prebuiltBundle?: Bundle;
}

export function buildApp(app: App, options: BuildOptions = {}): BuiltApp {
  const settings = settingsFromNode(app.node);
  const names = resourceNames(settings.name);
  const configs = Object.fromEntries(
    ENVIRONMENTS.map((env) => [env, generateLambdaConfig({ name: settings.name, env: settings.environments[env], baseFile: settings.configFile[env] })]),
  ) as Record<Environment, string>;
  const parsed = Object.fromEntries(ENVIRONMENTS.map((env) => [env, parseYaml(configs[env])])) as Record<Environment, any>;
  const access = Object.fromEntries(ENVIRONMENTS.map((env) => [env, accessPaths(parsed[env])])) as Record<Environment, AccessPaths>;
  const bundle =
    options.prebuiltBundle ??
    bundleLambda({ entry: settings.entry, configs, projectRoot: settings.projectRoot, architecture: settings.architecture, outDir: options.bundleDir });
  const code = () => lambda.Code.fromAsset(bundle.dir, { assetHash: bundle.hash, assetHashType: AssetHashType.CUSTOM });

  const global = {} as Record<Environment, GlobalStack>;
  for (const env of ENVIRONMENTS) {
    global[env] = new GlobalStack(app, names.globalStack(env), {
      name: settings.name,
      settings: settings.environments[env],
      apiGatewayAccountRole: settings.apiGatewayAccountRole,
      description: `imagegate global resources (${env}): Lambda role, API keys, usage plan`,
    });
  }

  const api: Record<string, ApiStack> = {};
  for (const s of settings.stages) {
    const envSettings = settings.environments[s.environment];
    const stack = new ApiStack(app, names.apiStack(s.stage), {
      name: settings.name,
      settings: s,
      architecture: settings.architecture,
      code,
      handler: bundle.handler,
      configName: bundle.configNames[s.environment]!,
      deadlineMs: envSettings.deadlineMs,
      serviceEndpoints: envSettings.serviceEndpoints,
      keySlot: envSettings.apiKeySlots[envSettings.apiKeySlots.length - 1]!,
      access: access[s.environment],
      anonymousPlanWithoutProxies: Boolean(parsed[s.environment].anonymous?.plan) && !parsed[s.environment].anonymous?.trustedProxies?.length,
      description: `imagegate API (${s.stage})`,
    });
    // Imports resolve at deploy time; the order helps `cdk deploy --all`.
    stack.addStackDependency(global[s.environment]);
    api[s.stage] = stack;
  }
  return { settings, configs, access, bundle, global, api };
}
