/**
 * Builds the Lambda asset folder without Docker: esbuild bundles the handler into one ESM file,
 * sharp stays external and is copied in with the native packages of the chosen architecture
 * only (linux, glibc), and the generated imagegate configs are written next to the handler.
 *
 * The native packages come from the project's node_modules when they are there (x64 on an x64
 * Linux machine), otherwise from a cache folder filled once by npm itself:
 * `npm install --cpu=<arch> --os=linux --libc=glibc sharp@<the project's version>`.
 * After that first fill (or with the packages installed), `cdk synth` runs offline.
 */
import { buildSync } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Architecture } from './settings.ts';

export interface BundleOptions {
  /** Handler source, e.g. src/lambda.ts; it must export `handler`. */
  entry: string;
  /** Per environment: the generated imagegate config (YAML text). */
  configs: Record<string, string>;
  /** Folder whose node_modules holds sharp. */
  projectRoot: string;
  architecture: Architecture;
  /** Output folder; default: a fresh temporary folder removed when the process exits. */
  outDir?: string;
}

export interface Bundle {
  dir: string;
  architecture: Architecture;
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

/** The font packages `txt` draws with (the service resolves their TTF files from node_modules). */
export const FONT_PACKAGES = ['@expo-google-fonts/noto-sans', '@expo-google-fonts/noto-serif', '@expo-google-fonts/noto-sans-mono', '@expo-google-fonts/noto-emoji'];

/** Of a font package: its package.json and licence, and the TTF files of the regular and bold faces (italics too), not the other weights or previews. */
function fontFileFilter(root: string): (src: string) => boolean {
  return (src) => {
    const parts = path.relative(root, src).split(path.sep).filter(Boolean);
    if (parts.length === 0) return true;
    if (parts.length === 1) return parts[0] === 'package.json' || parts[0]!.startsWith('LICENSE') || /^(400Regular|700Bold)(_Italic)?$/.test(parts[0]!);
    return parts.length === 2 && /^(400Regular|700Bold)(_Italic)?$/.test(parts[0]!) && parts[1]!.endsWith('.ttf');
  };
}

/** npm's name for an architecture (`--cpu`). */
export const npmCpu = (arch: Architecture) => (arch === 'arm64' ? 'arm64' : 'x64');

/** sharp's native packages for Lambda's Linux (glibc) runtime of an architecture. */
export const nativePackages = (arch: Architecture) => [`@img/sharp-linux-${npmCpu(arch)}`, `@img/sharp-libvips-linux-${npmCpu(arch)}`];

const cache = new Map<string, Bundle>();

/** Bundle once per (entry, configs, architecture) for the whole process; every API stack shares the asset. */
export function bundleLambda(opts: BundleOptions): Bundle {
  const cacheKey = JSON.stringify([opts.entry, opts.configs, opts.projectRoot, opts.architecture, opts.outDir]);
  const hit = cache.get(cacheKey);
  if (hit && existsSync(path.join(hit.dir, 'index.mjs'))) return hit;

  if (!existsSync(opts.entry)) throw new Error(`Lambda entry not found: ${opts.entry}`);
  const modules = path.join(opts.projectRoot, 'node_modules');
  const native = nativePackages(opts.architecture);
  const nativeModules = nativeModulesDir(modules, opts.architecture);

  const dir = opts.outDir ?? mkdtempSync(path.join(os.tmpdir(), 'imagegate-lambda-'));
  if (!opts.outDir) process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });

  buildSync({
    entryPoints: { index: opts.entry },
    outdir: dir,
    outExtension: { '.js': '.mjs' },
    // What the handler imports on its first request (the app, the AWS SDK clients, pino, the
    // dashboard…) goes to chunks read only then: the module Lambda loads at init stays small.
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'esm',
    minify: false,
    // A map for reading stack traces offline; the function does not load it (no
    // --enable-source-maps: it costs ~60 ms of every cold start).
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

  const hash = createHash('sha256').update(`arch=${opts.architecture}\0`);
  for (const f of readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => /\.mjs(\.map)?$/.test(f)).sort()) {
    hash.update(f).update('\0').update(readFileSync(path.join(dir, f)));
  }
  for (const { name, from } of packageClosure([modules, nativeModules], [...EXTERNAL_PACKAGES, ...native], opts.architecture)) {
    const version = (JSON.parse(readFileSync(path.join(from, 'package.json'), 'utf8')) as { version?: string }).version;
    hash.update(`${name}@${version}\0`);
    cpSync(from, path.join(dir, 'node_modules', name), {
      recursive: true,
      dereference: true,
      filter: (src) => !/[\\/](test|docs?|\.github)$/.test(src) && !src.endsWith('.d.ts'),
    });
  }

  for (const name of FONT_PACKAGES) {
    const from = path.join(modules, name);
    if (!existsSync(from)) continue;
    const version = (JSON.parse(readFileSync(path.join(from, 'package.json'), 'utf8')) as { version?: string }).version;
    hash.update(`${name}@${version}\0`);
    cpSync(from, path.join(dir, 'node_modules', name), { recursive: true, dereference: true, filter: fontFileFilter(from) });
  }

  const configNames: Record<string, string> = {};
  for (const [env, text] of Object.entries(opts.configs)) {
    configNames[env] = `imagegate.${env}.yaml`;
    writeFileSync(path.join(dir, configNames[env]), text);
    hash.update(configNames[env]).update('\0').update(text);
  }
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ type: 'module', private: true }, null, 2) + '\n');

  const bundle: Bundle = { dir, architecture: opts.architecture, handler: 'index.handler', configNames, hash: hash.digest('hex') };
  cache.set(cacheKey, bundle);
  return bundle;
}

/**
 * The node_modules folder holding sharp's native packages for `arch`: the project's own when they
 * are installed there, else a cache folder that npm fills once for that architecture and version.
 */
export function nativeModulesDir(modules: string, arch: Architecture): string {
  const native = nativePackages(arch);
  if (native.every((p) => existsSync(path.join(modules, p, 'package.json')))) return modules;
  const sharpJson = path.join(modules, 'sharp', 'package.json');
  if (!existsSync(sharpJson)) throw new Error(`sharp is not installed in ${modules}: run npm install`);
  const version = (JSON.parse(readFileSync(sharpJson, 'utf8')) as { version: string }).version;
  const prefix = path.join(modules, '.cache', 'imagegate-lambda', `sharp-${version}-linux-${npmCpu(arch)}`);
  const cached = path.join(prefix, 'node_modules');
  if (native.every((p) => existsSync(path.join(cached, p, 'package.json')))) return cached;
  const args = ['install', '--no-save', '--no-package-lock', '--no-audit', '--no-fund', '--ignore-scripts', '--prefix', prefix,
    `--cpu=${npmCpu(arch)}`, '--os=linux', '--libc=glibc', `sharp@${version}`];
  mkdirSync(prefix, { recursive: true });
  const res = spawnSync('npm', args, { encoding: 'utf8', timeout: 300_000 });
  if (res.status !== 0 || !native.every((p) => existsSync(path.join(cached, p, 'package.json')))) {
    throw new Error(
      `${native.join(' and ')} (sharp for Lambda ${arch}) are not installed and npm could not fetch them ` +
        `(npm ${args.join(' ')}):\n${res.stderr ?? res.error}\nInstall them once with network access, or set -c imagegate:architecture=${arch === 'arm64' ? 'x86_64' : 'arm64'}.`,
    );
  }
  return cached;
}

/**
 * The named packages and everything they depend on (installed optional dependencies included),
 * each with the folder it is copied from: the first of `moduleDirs` that holds it. sharp's
 * prebuilt binaries for other platforms are never included.
 */
export function packageClosure(moduleDirs: string[], roots: string[], arch: Architecture): { name: string; from: string }[] {
  const native = nativePackages(arch);
  const seen = new Map<string, string>();
  const visit = (name: string, required: boolean) => {
    if (seen.has(name)) return;
    const dir = moduleDirs.map((m) => path.join(m, name)).find((d) => existsSync(path.join(d, 'package.json')));
    if (!dir) {
      if (required) throw new Error(`package ${name} not found in ${moduleDirs.join(' or ')}`);
      return;
    }
    seen.set(name, dir);
    const meta = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>;
      optionalDependencies?: Record<string, string>;
    };
    for (const dep of Object.keys(meta.dependencies ?? {})) visit(dep, true);
    for (const dep of Object.keys(meta.optionalDependencies ?? {})) {
      // Other platforms' prebuilt binaries (darwin, musl, wasm, the other architecture) never run on this Lambda.
      if (/^@img\/sharp-/.test(dep) && !native.includes(dep)) continue;
      visit(dep, false);
    }
  };
  for (const r of roots) visit(r, true);
  return [...seen].map(([name, from]) => ({ name, from })).sort((a, b) => a.name.localeCompare(b.name));
}
