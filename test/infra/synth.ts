/** Shared set-up for the infra tests: the CDK app synthesized in-process with cdk.json's context. */
import { readFileSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { buildApp, type BuiltApp } from '../../infra/lib/app.ts';

export const infraDir = path.resolve(import.meta.dirname, '../../infra');

/** cdk.json's context, as `cdk synth` would see it. */
export function cdkJsonContext(): Record<string, unknown> {
  return JSON.parse(readFileSync(path.join(infraDir, 'cdk.json'), 'utf8')).context;
}

export interface Synthesized {
  built: BuiltApp;
  outdir: string;
  template(stackName: string): Template;
  json(stackName: string): { Resources: Record<string, any>; Outputs?: Record<string, any> };
}

/** Build and synthesize the app once; templates are read from the cloud assembly. */
export function synthApp(context: Record<string, unknown>): Synthesized {
  // CDK's built-in template validation (a WASM engine, ~7 s of CPU) runs in the CLI synth test,
  // next to cfn-lint; here only the templates' content matters.
  process.env.CDK_VALIDATION ??= 'false';
  const outdir = mkdtempSync(path.join(os.tmpdir(), 'imagegate-cdk-'));
  const app = new App({ outdir, context: { ...cdkJsonContext(), 'aws:cdk:enable-asset-metadata': true, ...context } });
  const built = buildApp(app);
  const assembly = app.synth();
  const json = (name: string) => assembly.getStackByName(name).template;
  return { built, outdir, json, template: (name) => Template.fromJSON(json(name)) };
}

/** The logical id of the one resource of a type (fails when there are zero or several). */
export function onlyResource(t: Template, type: string): [string, any] {
  const found = Object.entries(t.findResources(type));
  if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}`);
  return found[0]!;
}
