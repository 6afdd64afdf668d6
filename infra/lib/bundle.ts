/**
 * Builds the Lambda asset folder offline: esbuild bundles the handler into one ESM file, sharp
 * stays external and is copied in with its linux-x64 (glibc) native packages from the project's
 * node_modules, and the imagegate config file is placed next to the handler. No Docker, no
 * network: `cdk synth` works on a laptop or a CI runner without credentials.
 */
import { buildSync } from 'esbuild';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface BundleOptions {
  /** Handler source, e.g. src/lambda.ts; it must export `handler`. */
  entry: string;
  /** imagegate config file per environment, copied into the asset. */
  configFiles: Record<string, string>;
  /** Folder whose node_modules holds sharp and @img/sharp-linux-x64. */
  projectRoot: string;
  /** Output folder; default: a fresh temporary folder removed when the process exits. */
  outDir?: string;
}

export interface Bundle {
  dir: string;
  /** Lambda `handler` setting. */
  handler: string;
  /** Per environment: file name of its config inside the asset (IMAGEGATE_CONFIG = /var/task/<name>). */
  configNames: Record<string, string>;
  /**
   * Content hash of the asset: the handler, the configs and the name@version of every copied
   * package. Used as the CDK asset hash so synth does not re-read 25 MB of native libraries.
   */
  hash: string;
}

/** Packages that must be installed (not bundled) in the asset: sharp loads a native addon. */
export const EXTERNAL_PACKAGES = ['sharp'];

/** Native packages for Lambda's x86_64 runtime (glibc). */
export const LAMBDA_NATIVE_PACKAGES = ['@img/sharp-linux-x64', '@img/sharp-libvips-linux-x64'];

const cache = new Map<string, Bundle>();

/** Bundle once per (entry, config) for the whole process; every API stack shares the asset. */
export function bundleLambda(opts: BundleOptions): Bundle {
  const cacheKey = JSON.stringify([opts.entry, opts.configFiles, opts.projectRoot, opts.outDir]);
  const hit = cache.get(cacheKey);
  if (hit && existsSync(path.join(hit.dir, 'index.mjs'))) return hit;

  if (!existsSync(opts.entry)) throw new Error(`Lambda entry not found: ${opts.entry}`);
  for (const [env, file] of Object.entries(opts.configFiles)) {
    if (!existsSync(file)) {
      throw new Error(`imagegate config for the ${env} Lambda not found: ${file} (set -c imagegate:config=FILE)`);
    }
  }
  const modules = path.join(opts.projectRoot, 'node_modules');
  for (const pkg of LAMBDA_NATIVE_PACKAGES) {
    if (!existsSync(path.join(modules, pkg, 'package.json'))) {
      throw new Error(
        `${pkg} is not installed in ${modules}: the Lambda needs sharp's linux-x64 glibc build (npm install --cpu=x64 --os=linux --libc=glibc sharp)`,
      );
    }
  }
  const dir = opts.outDir ?? mkdtempSync(path.join(os.tmpdir(), 'imagegate-lambda-'));
  if (!opts.outDir) process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });

  buildSync({
    entryPoints: [opts.entry],
    outfile: path.join(dir, 'index.mjs'),
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'esm',
    minify: false,
    sourcemap: 'linked',
    sourcesContent: false,
    legalComments: 'none',
    logLevel: 'error',
    external: EXTERNAL_PACKAGES,
    // CommonJS dependencies call require() on Node built-ins; give the ESM bundle one.
    banner: {
      js: "import { createRequire as __imagegateCreateRequire } from 'node:module'; const require = __imagegateCreateRequire(import.meta.url);",
    },
    // Paths in the source map are relative to the project: the same code gives the same asset hash anywhere.
    absWorkingDir: opts.projectRoot,
  });

  const hash = createHash('sha256');
  for (const f of ['index.mjs', 'index.mjs.map']) hash.update(f).update('\0').update(readFileSync(path.join(dir, f)));
  for (const pkg of packageClosure(modules, [...EXTERNAL_PACKAGES, ...LAMBDA_NATIVE_PACKAGES])) {
    const version = (JSON.parse(readFileSync(path.join(modules, pkg, 'package.json'), 'utf8')) as { version?: string }).version;
    hash.update(`${pkg}@${version}\0`);
    cpSync(path.join(modules, pkg), path.join(dir, 'node_modules', pkg), {
      recursive: true,
      dereference: true,
      filter: (src) => !/[\\/](test|docs?|\.github)$/.test(src) && !src.endsWith('.d.ts'),
    });
  }

  // One file when every environment uses the same config; imagegate.<env>.yaml otherwise.
  const distinct = new Set(Object.values(opts.configFiles));
  const configNames: Record<string, string> = {};
  for (const [env, file] of Object.entries(opts.configFiles)) {
    const ext = path.extname(file) || '.yaml';
    configNames[env] = distinct.size === 1 ? `imagegate.config${ext}` : `imagegate.${env}${ext}`;
    cpSync(file, path.join(dir, configNames[env]));
    hash.update(configNames[env]).update('\0').update(readFileSync(file));
  }
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ type: 'module', private: true }, null, 2) + '\n');

  const bundle: Bundle = { dir, handler: 'index.handler', configNames, hash: hash.digest('hex') };
  cache.set(cacheKey, bundle);
  return bundle;
}

/** The named packages and everything they depend on (installed optional dependencies included). */
export function packageClosure(modules: string, roots: string[]): string[] {
  const seen = new Set<string>();
  const visit = (name: string, required: boolean) => {
    if (seen.has(name)) return;
    const pj = path.join(modules, name, 'package.json');
    if (!existsSync(pj)) {
      if (required) throw new Error(`package ${name} not found in ${modules}`);
      return;
    }
    seen.add(name);
    const meta = JSON.parse(readFileSync(pj, 'utf8')) as {
      dependencies?: Record<string, string>;
      optionalDependencies?: Record<string, string>;
    };
    for (const dep of Object.keys(meta.dependencies ?? {})) visit(dep, true);
    for (const dep of Object.keys(meta.optionalDependencies ?? {})) {
      // Other platforms' prebuilt binaries (darwin, musl, arm64…) never run on Lambda x86_64.
      if (/^@img\/sharp-/.test(dep) && !LAMBDA_NATIVE_PACKAGES.includes(dep)) continue;
      visit(dep, false);
    }
  };
  for (const r of roots) visit(r, true);
  return [...seen].sort();
}
