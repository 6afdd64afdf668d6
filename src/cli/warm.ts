/**
 * `imagegate warm`: render derivatives of every object under a prefix into the result cache,
 * the way teams pre-render before a launch. Requests go through the same app the server runs
 * (`createApp` + `app.request()`, in process), so the routes, signing, pipeline, cache keys and
 * cache tiers are exactly the server's; only the network hop is skipped.
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { readFileSync } from 'node:fs';
import { ConfigError, loadConfigFile } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { sha256hex } from '../digest.ts';
import type { KeyLookup } from '../auth/types.ts';
import { compileRoutes, pathForKey } from '../routes/match.ts';
import { negotiateFormat } from '../request/negotiate.ts';
import { parseTransform } from '../request/params.ts';
import type { Storage } from '../storage/types.ts';
import { createLogger } from '../log.ts';
import { ServiceError } from '../errors.ts';
import type { Masters } from '../masters/index.ts';
import { integerOption, parseCommandArgs } from './args.ts';
import { matchTargetPath, signUrl, splitTarget, withBasePath } from './sign.ts';

export const help = `Usage: imagegate warm --source NAME [--prefix P]... --params QUERY [options]
       imagegate warm [URL...] [--file FILE] [-] [options]

Render derivatives into the result cache through the same app as the server (same routes,
pipeline, cache keys and cache tiers). Useful only with a persistent cache tier
(cache.persistent: fs or s3), which the server processes read; with the memory tier alone
the work is lost when warm exits.

What to render: every object under a prefix of a source, or a list of URLs, or both.
  --source NAME       the source to list (fs and s3 sources can list)
  --prefix P          object key prefix (default: the whole source); repeat for several;
                      for an fs source, a folder or a single file
  --params QUERY      parameters of one derivative; repeat for several. Required with
                      --source (unless --masters); with URLs, added to each URL's own query
  --masters           first build the master (downscaled copy) of each original, from
                      which later srcset sizes render; with --source, --params is optional
  URL                 a path with its query (/dev/products/1.jpg?w=400) or a full URL;
                      signed for its source when the source signs URLs
  --file FILE         URLs, one a line (# comments); repeat for several
  -                   URLs from standard input, one a line

  --accept VALUE      Accept header to render with; repeat for several. Default: for
                      auto=format without fm, three variants (AVIF, WebP, neither); else */*
  --concurrency N     requests in flight (default: limits.concurrency or the core count)
  --limit N           stop after N objects
  --dry-run           list the URLs that would be rendered, render nothing
  --allow-memory-only warm even without a persistent cache tier
  --config FILE       the YAML config (default: $IMAGEGATE_CONFIG)
  -h, --help          this help

Output: a progress bar (count, rate, ETA) on a terminal, one line per request (or master)
otherwise, then a summary of failures. The app's request log is off (its warnings and errors go to
standard error). Requests are counted in usage records under the key id 'imagegate-warm'.
Exit codes: 0 all rendered, 1 any failure, 2 usage error.`;

const WARM_KEY_ID = 'imagegate-warm';

/** Accept values that make auto=format produce each format a browser may ask for. */
export const AUTO_FORMAT_ACCEPTS = ['image/avif,image/webp,*/*', 'image/webp,*/*', '*/*'];

function encodePath(p: string): string {
  return p.split('/').map(encodeURIComponent).join('/');
}

interface WarmJob {
  source: string;
  key: string;
  /** Build this original's master instead of requesting `target` (then the path alone, for display). */
  master?: boolean;
  /** Request target as sent to the app (base path, query, signature). */
  target: string;
  accept: string;
  params: string;
}

interface WarmResult {
  job: WarmJob;
  ok: boolean;
  status: number;
  bytes: number;
  contentType?: string;
  /** For a master: made now, already stored, or none for this original. */
  outcome?: MasterOutcome;
  ms: number;
  error?: string;
}

type MasterOutcome = Awaited<ReturnType<Masters['build']>>['outcome'];

function fmtDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--:--';
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1048576) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1048576).toFixed(2)} MiB`;
}

/** One progress-bar line: `[####------] 40/100  40% · 12.5/s · ETA 0:05 · 1 failed`. */
export function progressLine(done: number, total: number, failed: number, elapsedSeconds: number, width = 24): string {
  const frac = total === 0 ? 1 : done / total;
  const filled = Math.round(frac * width);
  const rate = elapsedSeconds > 0 ? done / elapsedSeconds : 0;
  const eta = rate > 0 ? (total - done) / rate : Infinity;
  return (
    `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(done).padStart(String(total).length)}/${total} ` +
    `${String(Math.floor(frac * 100)).padStart(3)}% · ${rate.toFixed(1)}/s · ETA ${done === total ? '0:00' : fmtDuration(eta)}` +
    (failed ? ` · ${failed} failed` : '')
  );
}

interface Reporter {
  start(total: number): void;
  result(r: WarmResult, done: number, failed: number): void;
  end(): void;
}

function ttyReporter(stream: NodeJS.WriteStream): Reporter {
  let total = 0;
  let started = 0;
  let lastDraw = 0;
  const draw = (done: number, failed: number, force = false) => {
    const now = performance.now();
    if (!force && now - lastDraw < 100) return;
    lastDraw = now;
    stream.write(`\r\x1b[2K${progressLine(done, total, failed, (now - started) / 1000, Math.min(40, Math.max(10, (stream.columns ?? 80) - 50)))}`);
  };
  let lastDone = 0;
  let lastFailed = 0;
  return {
    start(t) {
      total = t;
      started = performance.now();
      draw(0, 0, true);
    },
    result(r, done, failed) {
      lastDone = done;
      lastFailed = failed;
      if (!r.ok) stream.write(`\r\x1b[2Kfailed ${r.status || ''} ${r.job.target}: ${r.error}\n`);
      draw(done, failed, !r.ok || done === total);
    },
    end() {
      draw(lastDone, lastFailed, true);
      stream.write('\n');
    },
  };
}

function lineReporter(log: (line: string) => void): Reporter {
  let total = 0;
  let started = 0;
  return {
    start(t) {
      total = t;
      started = performance.now();
      log(`warming ${t} derivative${t === 1 ? '' : 's'}`);
    },
    result(r, done, failed) {
      const elapsed = (performance.now() - started) / 1000;
      const rate = elapsed > 0 ? done / elapsed : 0;
      const head = `[${String(done).padStart(String(total).length)}/${total}] ${r.ok ? 'ok  ' : 'FAIL'} ${r.job.master ? 'master' : r.status || '---'}`;
      const tail = r.ok ? `${r.outcome ?? r.contentType ?? ''} ${fmtBytes(r.bytes)} ${Math.round(r.ms)} ms` : r.error ?? '';
      log(`${head} ${r.job.target} ${r.job.accept === '*/*' ? '' : `(Accept: ${r.job.accept}) `}${tail} · ${rate.toFixed(1)}/s${failed ? ` · ${failed} failed` : ''}`);
    },
    end() {},
  };
}

interface WarmOptions {
  config: Config;
  /** List objects of this source under `prefixes` (with `params`). */
  source?: string;
  prefixes?: string[];
  params?: string[];
  /** Request these URLs (paths with queries, or full URLs); `params` are added to each. */
  urls?: string[];
  accepts?: string[];
  /** Build each original's master before its derivatives. */
  masters?: boolean;
  concurrency: number;
  limit?: number;
  dryRun?: boolean;
  /** Progress output; default a bar on a TTY (stderr), plain lines on stdout otherwise. */
  tty?: boolean;
  log?: (line: string) => void;
  signal?: AbortSignal;
}

interface WarmSummary {
  objects: number;
  requests: number;
  ok: number;
  failed: WarmResult[];
  /** Transformations actually run (the rest were already in the cache). */
  rendered: number;
  /** Masters by outcome (with `masters`). */
  masters: Record<MasterOutcome, number>;
  seconds: number;
  /** Object keys or URLs that no route reaches, with why. */
  skipped: string[];
}

/**
 * The Accept values one derivative is rendered with: the formats auto=format can pick when the
 * server's negotiation says Accept decides the output (read from the query as the server reads
 * it: aliases and `64` forms too), else one request.
 */
function acceptsFor(config: Config, query: string, accepts: string[] | undefined): string[] {
  if (accepts?.length) return accepts;
  let byAccept = false;
  try {
    byAccept = negotiateFormat(parseTransform(new URLSearchParams(query), config.transform), undefined).vary;
  } catch {
    // A query the server refuses: one request, which reports the server's answer.
  }
  return byAccept ? AUTO_FORMAT_ACCEPTS : ['*/*'];
}

/**
 * Jobs for one image path (base path included, encoded) of `source`: its master first when asked,
 * then one per params × Accept, signed when the source signs.
 */
function jobsFor(config: Config, source: string, key: string, path: string, queries: string[], accepts: string[] | undefined, master?: boolean): WarmJob[] {
  const signed = config.sources[source]?.signing !== undefined;
  const derivatives = queries.flatMap((query) => {
    const q = query.replace(/^\?/, '');
    const unsigned = `${path}${q ? `?${q}` : ''}`;
    const target = signed && !/(^|&)s=/.test(q) ? signUrl(config, { url: unsigned, source }) : unsigned;
    return acceptsFor(config, q, accepts).map((accept) => ({ source, key, target, accept, params: q }));
  });
  return master ? [{ source, key, target: path, accept: '*/*', params: '', master }, ...derivatives] : derivatives;
}

/** Build the jobs for every object under the prefixes (keys the routes cannot reach are skipped). */
export async function planWarm(
  config: Config,
  storage: Storage,
  opts: Pick<WarmOptions, 'prefixes' | 'params' | 'accepts' | 'masters' | 'limit' | 'signal'> & { source: string },
): Promise<{ jobs: WarmJob[]; objects: number; skipped: string[] }> {
  if (!storage.list) throw new Error(`source '${opts.source}' (${config.sources[opts.source].type}) cannot list objects; warm needs an fs or s3 source`);
  const compiled = compileRoutes(config.routes);
  const basePath = config.server?.basePath ?? '';
  const jobs: WarmJob[] = [];
  const skipped: string[] = [];
  let objects = 0;
  for (const prefix of opts.prefixes?.length ? opts.prefixes : ['']) {
    for await (const key of storage.list(prefix, opts.signal)) {
      if (opts.limit !== undefined && objects >= opts.limit) break;
      const path = pathForKey(compiled, opts.source, key);
      if (path === undefined) {
        skipped.push(`${key}: no route maps a path to this key`);
        continue;
      }
      objects++;
      jobs.push(...jobsFor(config, opts.source, key, basePath + encodePath(`/${path}`), opts.params ?? [], opts.accepts, opts.masters));
    }
  }
  return { jobs, objects, skipped };
}

/**
 * Jobs for URLs as a user gives them: the path goes through the routes the server uses (the
 * stage prefix is added when missing); `params` are added to each URL's own query.
 */
export function planUrls(config: Config, urls: string[], opts: Pick<WarmOptions, 'params' | 'accepts' | 'masters'> = {}): { jobs: WarmJob[]; skipped: string[] } {
  const compiled = compileRoutes(config.routes);
  const basePath = config.server?.basePath ?? '';
  const jobs: WarmJob[] = [];
  const skipped: string[] = [];
  /** Originals whose master is already planned (once each, however many URLs name them). */
  const mastered = new Set<string>();
  for (const url of urls) {
    const { path: rawPath, query } = splitTarget(url);
    const path = withBasePath(basePath, rawPath);
    let match;
    try {
      match = matchTargetPath(config, path, compiled).match;
    } catch (err) {
      skipped.push(`${url}: ${(err as Error & { publicMessage?: string }).publicMessage ?? (err as Error).message}`);
      continue;
    }
    if (!match) {
      skipped.push(`${url}: no route matches this path`);
      continue;
    }
    const queries = opts.params?.length ? opts.params.map((p) => [query, p.replace(/^\?/, '')].filter(Boolean).join('&')) : [query];
    const original = `${match.source}\u0000${match.key}`;
    const master = opts.masters === true && !mastered.has(original);
    if (master) mastered.add(original);
    jobs.push(...jobsFor(config, match.source, match.key, path, queries, opts.accepts, master));
  }
  return { jobs, skipped };
}

/** URLs from a list's text: one a line, blank lines and `#` comments ignored. */
function urlLines(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
}

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/** Render every job through the app, `concurrency` at a time. */
export async function warm(opts: WarmOptions): Promise<WarmSummary> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const { createApp } = await import('../http/app.ts');
  const secret = randomBytes(24).toString('base64url');
  const digest = sha256hex(secret);
  const keys: KeyLookup = { findByHash: async (h) => (h === digest ? { id: WARM_KEY_ID } : undefined) };
  let rendered = 0;
  // The app's request log would interleave with the progress; its warnings and errors still show.
  const level = LEVELS[Math.max(LEVELS.indexOf('warn'), LEVELS.indexOf(opts.config.server.logLevel))];
  const ig = await createApp(opts.config, { keys, onTransform: () => void rendered++, logger: createLogger(level, { stderr: true }) });
  const started = performance.now();
  try {
    const jobs: WarmJob[] = [];
    const skipped: string[] = [];
    let objects = 0;
    if (opts.source !== undefined) {
      const storage = ig.storages[opts.source];
      if (!storage) throw new Error(`unknown source '${opts.source}' (defined: ${Object.keys(opts.config.sources).join(', ')})`);
      const listed = await planWarm(opts.config, storage, { ...opts, source: opts.source });
      jobs.push(...listed.jobs);
      skipped.push(...listed.skipped);
      objects += listed.objects;
    }
    if (opts.urls?.length) {
      const given = planUrls(opts.config, opts.urls, opts);
      jobs.push(...given.jobs);
      skipped.push(...given.skipped);
      objects += new Set(given.jobs.map((j) => j.key)).size;
    }
    for (const k of skipped.slice(0, 20)) log(`skipped ${k}`);
    if (skipped.length > 20) log(`… and ${skipped.length - 20} more skipped`);
    const masters: WarmSummary['masters'] = { made: 0, exists: 0, ineligible: 0 };
    if (opts.dryRun) {
      for (const j of jobs) log(`${j.master ? 'master ' : ''}${j.target}${j.accept === '*/*' ? '' : `  (Accept: ${j.accept})`}`);
      return { objects, requests: 0, ok: 0, failed: [], rendered: 0, masters, seconds: 0, skipped };
    }
    const tty = opts.tty ?? (process.stderr.isTTY === true);
    const reporter = tty ? ttyReporter(process.stderr) : lineReporter(log);
    reporter.start(jobs.length);
    let next = 0;
    let done = 0;
    let ok = 0;
    const failed: WarmResult[] = [];
    const worker = async () => {
      while (next < jobs.length && !opts.signal?.aborted) {
        const job = jobs[next++];
        const t0 = performance.now();
        let result: WarmResult;
        try {
          if (job.master) {
            const { outcome, bytes } = await ig.masters.build({ source: job.source, key: job.key });
            masters[outcome]++;
            result = { job, ok: true, status: 200, bytes, outcome, ms: performance.now() - t0 };
          } else {
            const res = await ig.app.request(job.target, { headers: { 'X-API-Key': secret, Accept: job.accept } });
            const body = new Uint8Array(await res.arrayBuffer());
            let error: string | undefined;
            if (!res.ok) {
              try {
                const j = JSON.parse(new TextDecoder().decode(body)) as { message?: string; code?: string };
                error = `${j.message ?? `HTTP ${res.status}`}${j.code ? ` (${j.code})` : ''}`;
              } catch {
                error = `HTTP ${res.status}`;
              }
            }
            result = { job, ok: res.ok, status: res.status, bytes: body.length, contentType: res.headers.get('content-type') ?? undefined, ms: performance.now() - t0, error };
          }
        } catch (err) {
          const e = err as Error & { status?: number; publicMessage?: string };
          result = { job, ok: false, status: e instanceof ServiceError ? e.status : 0, bytes: 0, ms: performance.now() - t0, error: e.publicMessage ?? e.message };
        }
        done++;
        if (result.ok) ok++;
        else failed.push(result);
        reporter.result(result, done, failed.length);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.concurrency, jobs.length || 1)) }, worker));
    reporter.end();
    return { objects, requests: done, ok, failed, rendered, masters, seconds: (performance.now() - started) / 1000, skipped };
  } finally {
    await ig.close();
  }
}

export async function run(argv: string[], stdin: NodeJS.ReadableStream = process.stdin): Promise<number> {
  const parsed = parseCommandArgs(
    argv,
    {
      source: { type: 'string' },
      prefix: { type: 'string', multiple: true },
      params: { type: 'string', multiple: true },
      accept: { type: 'string', multiple: true },
      file: { type: 'string', multiple: true },
      concurrency: { type: 'string' },
      limit: { type: 'string' },
      masters: { type: 'boolean' },
      'dry-run': { type: 'boolean' },
      'allow-memory-only': { type: 'boolean' },
      config: { type: 'string' },
    },
    help,
    true,
    'warm',
  );
  if (parsed.exit !== undefined) return parsed.exit;
  const v = parsed.values as {
    source?: string;
    prefix?: string[];
    params?: string[];
    accept?: string[];
    file?: string[];
    concurrency?: string;
    limit?: string;
    masters?: boolean;
    'dry-run'?: boolean;
    'allow-memory-only'?: boolean;
    config?: string;
  };
  const usage = (msg: string) => {
    console.error(`warm: ${msg}\n\n${help}`);
    return 2;
  };
  const urls = parsed.positionals.filter((p) => p !== '-');
  for (const f of v.file ?? []) {
    try {
      urls.push(...urlLines(readFileSync(f, 'utf8')));
    } catch (err) {
      console.error(`warm: --file ${f}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
      return 1;
    }
  }
  if (parsed.positionals.includes('-')) {
    let text = '';
    for await (const chunk of stdin) text += String(chunk);
    urls.push(...urlLines(text));
  }
  const fromLists = (v.file?.length ?? 0) > 0 || parsed.positionals.length > 0;
  if (!v.source && !fromLists) return usage('name a --source to list, or give URLs (arguments, --file FILE, or - for standard input)');
  if (v.source === undefined && v.prefix?.length) return usage('--prefix needs --source');
  if (v.source !== undefined && !v.params?.length && !v.masters) return usage('--params (or --masters) is required with --source (e.g. --params "w=400&auto=format")');
  if (!v.source && urls.length === 0) return usage('the URL list is empty');
  let concurrency: number | undefined;
  let limit: number | undefined;
  try {
    concurrency = integerOption('concurrency', v.concurrency, 1);
    limit = integerOption('limit', v.limit, 1);
  } catch (err) {
    return usage((err as Error).message);
  }
  const file = v.config ?? process.env.IMAGEGATE_CONFIG;
  if (!file) return usage('name a config file with --config (or set IMAGEGATE_CONFIG)');
  let config: Config;
  try {
    config = loadConfigFile(file);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      return 1;
    }
    throw err;
  }
  if (v.source !== undefined && !(v.source in config.sources)) {
    console.error(`warm: unknown source '${v.source}' (defined: ${Object.keys(config.sources).join(', ')})`);
    return 1;
  }
  const cache = config.cache as { enabled?: boolean; persistent?: unknown } | undefined;
  if (!v['dry-run'] && (cache?.enabled === false || !cache?.persistent)) {
    const why = cache?.enabled === false ? 'the result cache is disabled (cache.enabled: false)' : 'no persistent cache tier is configured (cache.persistent)';
    if (!v['allow-memory-only']) {
      console.error(`warm: ${why}; rendered derivatives would be lost when warm exits. Configure cache.persistent (fs or s3), or pass --allow-memory-only.`);
      return 1;
    }
    console.error(`warm: warning: ${why}; the derivatives only live in this process's memory`);
  }
  if (v.masters && !config.cache.masters.enabled) {
    console.error('warm: --masters: masters are off in this config (cache.masters.enabled: false)');
    return 1;
  }
  const limits = (config.limits ?? {}) as { concurrency?: number };
  const ac = new AbortController();
  const onSigint = () => ac.abort();
  process.once('SIGINT', onSigint);
  let summary: WarmSummary;
  try {
    summary = await warm({
      config,
      source: v.source,
      prefixes: v.prefix,
      params: v.params,
      urls,
      accepts: v.accept,
      masters: v.masters,
      concurrency: concurrency ?? limits.concurrency ?? os.availableParallelism(),
      limit,
      dryRun: v['dry-run'],
      signal: ac.signal,
    });
  } catch (err) {
    const e = err as Error & { publicMessage?: string };
    console.error(`warm: ${e.publicMessage ?? e.message}`);
    return 1;
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
  if (v['dry-run']) {
    console.log(`${summary.objects} object${summary.objects === 1 ? '' : 's'}; nothing rendered (--dry-run)`);
    return 0;
  }
  const rate = summary.seconds > 0 ? summary.requests / summary.seconds : 0;
  const m = summary.masters;
  const mastersOk = m.made + m.exists + m.ineligible;
  console.log(
    `warmed ${summary.ok}/${summary.requests} ${v.masters ? 'masters and derivatives' : 'derivatives'} of ${summary.objects} objects in ${summary.seconds.toFixed(1)} s ` +
      `(${rate.toFixed(1)}/s); ${summary.rendered} rendered now, ${Math.max(0, summary.ok - mastersOk - summary.rendered)} already cached` +
      (ac.signal.aborted ? '; interrupted' : ''),
  );
  if (v.masters) {
    console.log(`masters: ${m.made} made now, ${m.exists} already stored, ${m.ineligible} not needed (originals under 1.5 × cache.masters.longEdge, animations, SVG)`);
  }
  if (summary.failed.length) {
    console.log(`${summary.failed.length} failed:`);
    const byReason = new Map<string, number>();
    for (const f of summary.failed) byReason.set(`${f.status || 'error'} ${f.error}`, (byReason.get(`${f.status || 'error'} ${f.error}`) ?? 0) + 1);
    for (const f of summary.failed.slice(0, 50)) console.log(`  ${f.status || '---'} ${f.job.target}: ${f.error}`);
    if (summary.failed.length > 50) console.log(`  … and ${summary.failed.length - 50} more`);
    if (byReason.size > 1) {
      console.log('by reason:');
      for (const [reason, n] of [...byReason.entries()].sort((a, b) => b[1] - a[1])) console.log(`  ${String(n).padStart(6)}  ${reason}`);
    }
  }
  return summary.failed.length || ac.signal.aborted ? 1 : 0;
}
