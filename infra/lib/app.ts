/**
 * The whole deployment: a global stack per environment and an API stack per stage.
 *
 *   imagegate-global-prod   imagegate-global-dev
 *   imagegate-api-prod      imagegate-api-dev      imagegate-api-dev-<engineer> …
 *
 * Stacks carry no account or region: `cdk synth` needs no credentials; `cdk deploy` uses the
 * profile's account and region.
 */
import { AssetHashType, type App } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { ApiStack } from './api-stack.ts';
import { bundleLambda, type Bundle } from './bundle.ts';
import { GlobalStack } from './global-stack.ts';
import { settingsFromNode, type Environment, type Settings } from './settings.ts';

export interface BuiltApp {
  settings: Settings;
  bundle: Bundle;
  global: Record<Environment, GlobalStack>;
  api: Record<string, ApiStack>;
}

export const globalStackName = (name: string, env: Environment) => `${name}-global-${env}`;
export const apiStackName = (name: string, stage: string) => `${name}-api-${stage}`;

export function buildApp(app: App, options: { bundleDir?: string } = {}): BuiltApp {
  const settings = settingsFromNode(app.node);
  const bundle = bundleLambda({
    entry: settings.entry,
    configFiles: settings.configFile,
    projectRoot: settings.projectRoot,
    outDir: options.bundleDir,
  });
  const code = () => lambda.Code.fromAsset(bundle.dir, { assetHash: bundle.hash, assetHashType: AssetHashType.CUSTOM });

  const global = {} as Record<Environment, GlobalStack>;
  for (const env of ['prod', 'dev'] as const) {
    global[env] = new GlobalStack(app, globalStackName(settings.name, env), {
      name: settings.name,
      environment: env,
      imagesBucket: settings.imagesBucket[env],
      description: `imagegate global resources (${env}): Lambda role, API key`,
    });
  }

  const api: Record<string, ApiStack> = {};
  for (const s of settings.stages) {
    const stack = new ApiStack(app, apiStackName(settings.name, s.stage), {
      name: settings.name,
      settings: s,
      code,
      handler: bundle.handler,
      configName: bundle.configNames[s.environment]!,
      description: `imagegate API (${s.stage})`,
    });
    // Imports resolve at deploy time; the order helps `cdk deploy --all`.
    stack.addStackDependency(global[s.environment]);
    api[s.stage] = stack;
  }
  return { settings, bundle, global, api };
}
