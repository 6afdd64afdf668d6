/**
 * `imagegate check-config <file>`: validate a config file and explain what it will do —
 * sources, routes in match order, keys by id (never values), plans, cache — with warnings for
 * settings that are valid but probably not what was meant. Exit 1 lists every problem.
 */
import { existsSync, statSync } from 'node:fs';
import { parseCommandArgs } from './args.ts';
import { drainTime, inspectConfigFile, type Inspection } from '../config/load.ts';
import { ENV_SETTINGS } from '../config/env.ts';
import { environmentProblems } from '../config/resolve.ts';
import type { Config } from '../config/schema.ts';
import { redactUrl } from '../log.ts';
import { compileRoute } from '../routes/match.ts';

export const help = `Usage: imagegate check-config [FILE] [--config FILE] [--all] [--json]

Validate a configuration file, as the environment here completes it (\${VAR} references,
IMAGEGATE_* overrides), and explain it: sources, routes (first match wins), keys by id
(never their values), plans, usage store, cache, warnings, and where each setting's value
comes from (the file, an environment variable, or the default).

  FILE, --config FILE   the YAML file (default: $IMAGEGATE_CONFIG)
  --all                 list the settings left at their defaults too
  --json                print {ok, file, problems, warnings, settings} as JSON
  -h, --help            this help

Environment overrides: ${ENV_SETTINGS.map((e) => e.env).join(', ')}.

Exit codes: 0 valid, 1 invalid (every problem is listed), 2 usage error.`;

interface ConfigReport {
  ok: boolean;
  problems: string[];
  warnings: string[];
  /** Human-readable explanation, one line each (empty when invalid). */
  lines: string[];
}

/** One effective setting and where its value came from: `file`, `env VAR`, `file, ${VAR}`, `default`. */
interface SettingOrigin {
  setting: string;
  value: unknown;
  from: string;
}

const SECRET_SETTING = /(^|\.)(token|tokenSha256|sha256)$|(^|\.)headers\./;

function has(raw: unknown, path: string[]): boolean {
  let node = raw;
  for (const p of path) {
    if (node === null || typeof node !== 'object' || !Object.hasOwn(node, p)) return false;
    node = (node as Record<string, unknown>)[p];
  }
  return true;
}

/** Every leaf setting of the validated config with its origin; secrets are shown as `[hidden]`. */
function settingOrigins(cfg: Config, inspection: Pick<Inspection, 'raw' | 'origins'>): SettingOrigin[] {
  const out: SettingOrigin[] = [];
  const visit = (node: unknown, path: string[]) => {
    const scalarList = Array.isArray(node) && node.every((v) => v === null || typeof v !== 'object');
    if (node !== null && typeof node === 'object' && !scalarList) {
      for (const [k, v] of Object.entries(node)) visit(v, [...path, k]);
      return;
    }
    const setting = path.join('.');
    let value = node;
    if (SECRET_SETTING.test(setting)) value = '[hidden]';
    else if (typeof value === 'string') value = redactUrl(value);
    out.push({ setting, value, from: inspection.origins.get(setting) ?? (has(inspection.raw, path) ? 'file' : 'default') });
  };
  visit(cfg, []);
  if (cfg.server.drainMs === undefined) out.push({ setting: 'server.drainMs', value: drainTime(cfg), from: 'default (limits.deadlineMs + 5000)' });
  return out;
}

/** Bad route patterns and key templates, every one (not only the first). */
function routeProblems(routes: unknown): string[] {
  if (!Array.isArray(routes)) return [];
  return routes.flatMap((r, i) => {
    const route = r as { match?: unknown; key?: unknown; source?: unknown } | null;
    if (typeof route?.match !== 'string' || route.match === '' || (route.key !== undefined && typeof route.key !== 'string')) return [];
    try {
      compileRoute({ match: route.match, key: route.key as string | undefined, source: String(route.source) }, i);
      return [];
    } catch (err) {
      return [(err as Error).message.replace(/^(routes\.\d+\.\w+)/, `$1 (route '${route.match}')`)];
    }
  });
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function describeSource(src: Config['sources'][string]): string {
  switch (src.type) {
    case 'fs':
      return `fs folder ${src.root}`;
    case 's3':
      return `s3://${src.bucket}/${src.prefix}${src.region ? ` (${src.region})` : ''}${src.endpoint ? ` via ${redactUrl(src.endpoint)}` : ''}`;
    case 'http':
      return `http origin ${redactUrl(src.baseUrl)}`;
  }
}

function describePlan(plan: unknown): string {
  if (!plan || typeof plan !== 'object') return String(plan);
  const p = plan as { rate?: number; burst?: number; quota?: { limit?: number; period?: string } };
  const parts: string[] = [];
  if (p.rate !== undefined) parts.push(`${p.rate} req/s`);
  if (p.burst !== undefined) parts.push(`burst ${p.burst}`);
  if (p.quota?.limit !== undefined) parts.push(`quota ${p.quota.limit} per ${p.quota.period ?? 'period'}`);
  return parts.join(', ') || 'no limits';
}

/** Validate and explain an already-loaded config; `problems` holds checks beyond the schema. */
function explainConfig(cfg: Config, env: NodeJS.ProcessEnv = process.env): ConfigReport {
  const problems: string[] = [];
  const warnings: string[] = [];
  const lines: string[] = [];

  const s = cfg.server;
  lines.push(`server: listens on ${s.host}:${s.port}${s.basePath ? `, stage prefix ${s.basePath} stripped` : ''}; Cache-Control "${s.cacheControl}"`);
  const internal = cfg.server?.internalEndpoints ?? 'admin';
  const metricsAt = cfg.server?.metrics ? `; /_metrics on its own listener ${cfg.server.metrics.host}:${cfg.server.metrics.port} only` : '';
  lines.push(`internal endpoints (/_metrics, /_openapi.json): ${internal === 'admin' ? 'admin token' : internal === 'public' ? 'open to anyone' : 'not served'} on the image listener${metricsAt}`);
  lines.push(
    `  on SIGTERM: drains for up to ${drainTime(cfg)} ms; /_ready probes the sources ${s.probeIntervalMs ? `every ${s.probeIntervalMs} ms` : 'once, at start'}`,
  );

  lines.push(`sources (${Object.keys(cfg.sources).length}):`);
  const usedSources = new Set(cfg.routes.map((r) => r.source));
  for (const [name, src] of Object.entries(cfg.sources)) {
    const signing = src.signing
      ? `; signed URLs ${src.signing.required ? 'required' : 'accepted'} (token from ${src.signing.token ? 'config' : `$${src.signing.tokenFromEnv}`}, path ${src.signing.path})`
      : '';
    lines.push(`  ${name}: ${describeSource(src)}${signing}`);
    if (src.type === 'fs' && !existsSync(src.root)) warnings.push(`sources.${name}.root: folder ${src.root} does not exist`);
    else if (src.type === 'fs' && !statSync(src.root).isDirectory()) problems.push(`sources.${name}.root: ${src.root} is not a folder`);
    if (src.type === 'http' && src.allowPrivateNetworks) warnings.push(`sources.${name}.allowPrivateNetworks: SSRF protection is off`);
    if (!usedSources.has(name)) warnings.push(`sources.${name}: no route uses this source`);
  }

  lines.push(`routes (first match wins):`);
  problems.push(...routeProblems(cfg.routes));
  let catchAll = -1;
  cfg.routes.forEach((r, i) => {
    lines.push(`  ${i + 1}. ${r.match} → ${r.source}${r.key ? ` key "${r.key}"` : ' (key = the path)'}`);
    if (catchAll >= 0) warnings.push(`routes.${i}: never reached, routes.${catchAll} ('${cfg.routes[catchAll].match}') matches every path first`);
    if (catchAll < 0 && r.match.replace(/^\/+/, '') === '*') catchAll = i;
  });

  const plans = (cfg.plans ?? {}) as Record<string, unknown>;
  lines.push(`keys (${cfg.keys.length}${cfg.keyStore ? ` + managed keys in the ${cfg.keyStore.type} key store` : ''}):`);
  for (const k of cfg.keys) {
    const from = k.sha256 ? 'sha256 in config' : k.valueFromEnv ? `$${k.valueFromEnv}` : `secret ${k.secret!.id} field ${k.secret!.field}`;
    lines.push(`  ${k.id}: value from ${from}; plan ${k.plan ?? '(none: unlimited)'}`);
  }
  if (cfg.keys.length === 0 && !cfg.keyStore) warnings.push('keys: none configured and no keyStore — every image request will be answered 403');

  const planNames = Object.keys(plans);
  lines.push(`plans (${planNames.length}):`);
  const usedPlans = new Set(cfg.keys.map((k) => k.plan).filter(Boolean));
  for (const name of planNames) {
    lines.push(`  ${name}: ${describePlan(plans[name])}`);
    if (!usedPlans.has(name) && !cfg.keyStore) warnings.push(`plans.${name}: no key uses this plan`);
  }
  const usage = cfg.usage as { store?: string; url?: string; table?: string; tableFromEnv?: string; onUnavailable?: string } | undefined;
  if (usage?.store) {
    const where = usage.url
      ? ` at ${redactUrl(usage.url)}`
      : usage.store === 'dynamodb'
        ? ` table ${usage.table ?? `from $${usage.tableFromEnv}`}`
        : ' (this process only; counts are lost on restart)';
    lines.push(`usage store: ${usage.store}${where}${usage.onUnavailable ? `; when unreachable: ${usage.onUnavailable}` : ''}`);
    if (usage.store === 'memory' && cfg.keys.some((k) => k.plan)) {
      warnings.push('usage.store: memory — with more than one replica each enforces its own rate and quota; use redis or dynamodb to share them');
    }
  }

  const cache = cfg.cache as { enabled?: boolean; memory?: { enabled?: boolean; maxBytes?: number }; persistent?: { type: string; dir?: string; bucket?: string } } | undefined;
  if (cache) {
    if (cache.enabled === false) lines.push('cache: off (every request renders)');
    else {
      const mem = cache.memory?.enabled === false ? 'no memory tier' : `memory ${Math.round((cache.memory?.maxBytes ?? 0) / 1048576)} MiB`;
      const per = cache.persistent ? `, persistent ${cache.persistent.type} ${cache.persistent.dir ?? cache.persistent.bucket}` : ', no persistent tier';
      lines.push(`cache: ${mem}${per}`);
    }
  }
  const limits = cfg.limits as { concurrency?: number; queue?: number; deadlineMs?: number } | undefined;
  if (limits?.concurrency) lines.push(`limits: ${plural(limits.concurrency, 'transformation')} at once, queue ${limits.queue}, deadline ${limits.deadlineMs} ms`);

  if (!cfg.admin) warnings.push('admin: no admin token — /_admin/ (usage, dashboard) is disabled');
  else {
    const from = cfg.admin.token ? 'config' : cfg.admin.tokenFromEnv ? `$${cfg.admin.tokenFromEnv}` : cfg.admin.tokenSha256 ? 'sha256 in config' : undefined;
    if (!from) problems.push('admin: set one of token, tokenFromEnv or tokenSha256');
    else lines.push(`admin: token from ${from}`);
  }
  // The `…FromEnv` settings, read as start-up reads them (a deployment may set them where this runs not).
  warnings.push(...environmentProblems(cfg, env).map((p) => `${p} here (start-up would fail)`));
  return { ok: problems.length === 0, problems, warnings, lines };
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommandArgs(argv, { config: { type: 'string' }, json: { type: 'boolean' }, all: { type: 'boolean' } }, help, true, 'check-config');
  if (parsed.exit !== undefined) return parsed.exit;
  if (parsed.positionals.length > 1) {
    console.error(`check-config: one file at a time\n\n${help}`);
    return 2;
  }
  const file = parsed.positionals[0] ?? (parsed.values.config as string | undefined) ?? process.env.IMAGEGATE_CONFIG;
  if (!file) {
    console.error(`check-config: name a config file (or set IMAGEGATE_CONFIG)\n\n${help}`);
    return 2;
  }
  const inspection = inspectConfigFile(file);
  let report: ConfigReport;
  let settings: SettingOrigin[] = [];
  if (inspection.config) {
    report = explainConfig(inspection.config);
    settings = settingOrigins(inspection.config, inspection);
  } else {
    // Every problem at once: the schema's, the references', and the route templates'.
    const routes = (inspection.raw as { routes?: unknown } | undefined)?.routes;
    report = { ok: false, problems: [...inspection.problems, ...routeProblems(routes)], warnings: [], lines: [] };
  }
  if (parsed.values.json) {
    console.log(JSON.stringify({ ok: report.ok, file, problems: report.problems, warnings: report.warnings, settings }, null, 2));
    return report.ok ? 0 : 1;
  }
  if (!report.ok) {
    console.error(`${file}: ${plural(report.problems.length, 'problem')}`);
    for (const p of report.problems) console.error(`  ✗ ${p}`);
    return 1;
  }
  console.log(`${file}: valid`);
  for (const l of report.lines) console.log(l);
  const shown = parsed.values.all ? settings : settings.filter((x) => x.from !== 'default' && !x.from.startsWith('default '));
  console.log(`settings (value, and where it comes from):`);
  const width = Math.min(48, Math.max(...shown.map((x) => x.setting.length), 0));
  for (const x of shown) console.log(`  ${x.setting.padEnd(width)} = ${JSON.stringify(x.value)}  (${x.from})`);
  if (!parsed.values.all) console.log(`  … and ${settings.length - shown.length} more at their defaults (--all lists them)`);
  if (report.warnings.length) {
    console.log(`warnings (${report.warnings.length}):`);
    for (const w of report.warnings) console.log(`  ! ${w}`);
  }
  return 0;
}
