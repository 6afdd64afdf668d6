/** Shared set-up for the infra tests: the CDK app synthesized in-process with cdk.json's context. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { buildApp, type BuiltApp } from '../../infra/lib/app.ts';
import type { Bundle } from '../../infra/lib/bundle.ts';

export const infraDir = path.resolve(import.meta.dirname, '../../infra');

/** cdk.json's context, as `cdk synth` would see it. */
export function cdkJsonContext(): Record<string, unknown> {
  return JSON.parse(readFileSync(path.join(infraDir, 'cdk.json'), 'utf8')).context;
}

export type TemplateJson = { Resources: Record<string, any>; Outputs?: Record<string, any> };

export interface Synthesized {
  built: BuiltApp;
  outdir: string;
  stackNames: string[];
  template(stackName: string): Template;
  json(stackName: string): TemplateJson;
}

let stub: Bundle | undefined;
/**
 * A stand-in asset (a one-line handler) for tests of the templates' structure: no esbuild, no
 * 25 MB copy per synth. Tests of the code itself use the real bundle (cdk-synth.test.ts).
 */
export function stubBundle(): Bundle {
  if (stub) return stub;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'imagegate-stub-asset-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'index.mjs'), 'export const handler = async () => ({ statusCode: 204 });\n');
  stub = { dir, architecture: 'arm64', handler: 'index.handler', configNames: { prod: 'imagegate.prod.yaml', dev: 'imagegate.dev.yaml' }, hash: 'stub' };
  return stub;
}

/** Build and synthesize the app once; templates are read from the cloud assembly. */
export function synthApp(context: Record<string, unknown>, opts: { realBundle?: boolean } = {}): Synthesized {
  // CDK's built-in template validation (a WASM engine, ~7 s of CPU) runs in the CLI synth test,
  // next to cfn-lint; here only the templates' content matters.
  process.env.CDK_VALIDATION ??= 'false';
  const outdir = mkdtempSync(path.join(os.tmpdir(), 'imagegate-cdk-'));
  const app = new App({ outdir, context: { ...cdkJsonContext(), 'aws:cdk:enable-asset-metadata': true, ...context } });
  let built: BuiltApp;
  let assembly: ReturnType<App['synth']>;
  try {
    built = buildApp(app, opts.realBundle ? {} : { prebuiltBundle: stubBundle() });
    assembly = app.synth();
  } catch (err) {
    rmSync(outdir, { recursive: true, force: true });
    throw err;
  }
  const json = (name: string) => assembly.getStackByName(name).template as TemplateJson;
  return { built, outdir, json, stackNames: assembly.stacks.map((s) => s.stackName), template: (name) => Template.fromJSON(json(name)) };
}

/** The logical id of the one resource of a type (fails when there are zero or several). */
export function onlyResource(t: Template, type: string): [string, any] {
  const found = Object.entries(t.findResources(type));
  if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}`);
  return found[0]!;
}

/**
 * A CloudFormation value as it resolves at deploy time in `region` (Ref to pseudo parameters,
 * Fn::Join, Fn::Sub of pseudo parameters). Anything else (Ref to a resource, GetAtt) is kept as
 * a placeholder naming it, so values stay comparable.
 */
export function resolveValue(v: any, region: string, account = '123456789012'): string {
  if (typeof v === 'string' || typeof v === 'number') return String(v);
  if (v && typeof v === 'object') {
    if ('Ref' in v) {
      const pseudo: Record<string, string> = { 'AWS::Region': region, 'AWS::AccountId': account, 'AWS::Partition': 'aws', 'AWS::URLSuffix': 'amazonaws.com' };
      return pseudo[v.Ref] ?? `<ref:${v.Ref}>`;
    }
    if ('Fn::Join' in v) return v['Fn::Join'][1].map((x: any) => resolveValue(x, region, account)).join(v['Fn::Join'][0]);
    if ('Fn::Sub' in v && typeof v['Fn::Sub'] === 'string') {
      return v['Fn::Sub'].replace(/\$\{([^}]+)\}/g, (_: string, n: string) => resolveValue({ Ref: n }, region, account));
    }
    return `<${Object.keys(v)[0]}>`;
  }
  return String(v);
}
