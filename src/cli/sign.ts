/**
 * `imagegate sign <url>`: print the URL signed with a source's token (imgix scheme, `s` last),
 * exactly as the server will verify it — stage prefix included unless the source signs the
 * path after `basePath`.
 */
import { parseCommandArgs } from './args.ts';
import { ConfigError, loadConfigFile } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { compileRoutes, matchRoute, type CompiledRoute, type RouteMatch } from '../routes/match.ts';
import { normaliseImagePath } from '../routes/path.ts';
import { signTarget } from '../request/signature.ts';
import { readSetting, signingToken } from '../config/resolve.ts';

export const help = `Usage: imagegate sign <url> [--source NAME] [--expires WHEN] [--config FILE]
       imagegate sign <url> --token TOKEN

Print <url> signed with the signing token of its source (the source is found through the
routes unless --source names it). <url> is a path with its query (/dev/products/1.jpg?w=400)
or a full URL; an existing s= is replaced. The query is signed as written, never re-encoded.

  --source NAME    the source whose signing token to use
  --expires WHEN   add expires= first: unix seconds, or a duration from now (90s, 30m, 12h, 7d)
  --token TOKEN    sign with this token instead of one from the config
  --config FILE    the YAML config (default: $IMAGEGATE_CONFIG)
  -h, --help       this help

Exit codes: 0 signed URL printed, 1 cannot sign (no token, no route, bad config), 2 usage error.`;

/** Unix seconds from `1735689600` or a duration from now (`90s`, `30m`, `12h`, `7d`). */
export function parseExpires(value: string, nowSeconds = Math.floor(Date.now() / 1000)): number | undefined {
  if (/^\d{9,}$/.test(value)) return Number(value);
  const m = /^(\d+)\s*([smhdw])$/.exec(value.trim());
  if (!m) return undefined;
  const unit = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 }[m[2] as 's' | 'm' | 'h' | 'd' | 'w'];
  return nowSeconds + Number(m[1]) * unit;
}

/** Split a URL or target into origin, path and raw query, without re-encoding anything. */
export function splitTarget(url: string): { origin: string; path: string; query: string } {
  const m = /^([a-z][a-z0-9+.-]*:\/\/[^/?#]+)?([^?#]*)(?:\?([^#]*))?/i.exec(url)!;
  const path = m[2] || '/';
  return { origin: m[1] ?? '', path: path.startsWith('/') ? path : `/${path}`, query: m[3] ?? '' };
}

/** A request path with the base path in front, unless it already starts with it. */
export function withBasePath(basePath: string, path: string): string {
  return basePath && path !== basePath && !path.startsWith(`${basePath}/`) ? basePath + path : path;
}

/**
 * The route a request path (base path included) reaches, read as the server reads it: the image
 * path after the base path is normalised (the server's 400 is thrown for a bad one) and matched.
 */
export function matchTargetPath(cfg: Config, path: string, routes: CompiledRoute[] = compileRoutes(cfg.routes)): { imagePath: string; match?: RouteMatch } {
  const imagePath = normaliseImagePath(path.slice((cfg.server?.basePath ?? '').length), cfg.server?.maxPathLength ?? 1024);
  return { imagePath, match: matchRoute(routes, imagePath) };
}

/** The raw query without any `s=` pair. */
function withoutSignature(query: string): string {
  return query
    .split('&')
    .filter((p) => p !== '' && p !== 's' && !p.startsWith('s='))
    .join('&');
}

interface SignRequest {
  url: string;
  source?: string;
  token?: string;
  expires?: number;
}

/** The signed URL, or throws an Error whose message says why it cannot be signed. */
export function signUrl(cfg: Config | undefined, req: SignRequest, env: NodeJS.ProcessEnv = process.env): string {
  const { origin, path: rawPath, query: rawQuery } = splitTarget(req.url);
  const basePath = cfg?.server?.basePath ?? '';
  const path = withBasePath(basePath, rawPath);
  let query = withoutSignature(rawQuery);
  if (req.expires !== undefined) query = (query ? `${query}&` : '') + `expires=${req.expires}`;

  let token = req.token;
  let signAfterBase = false;
  if (!token) {
    if (!cfg) throw new Error('no config: pass --config FILE (or set IMAGEGATE_CONFIG), or --token');
    let sourceName = req.source;
    if (!sourceName) {
      const { imagePath, match } = matchTargetPath(cfg, path);
      if (!match) throw new Error(`no route matches '${imagePath}'; name the source with --source`);
      sourceName = match.source;
    }
    const source = cfg.sources[sourceName];
    if (!source) throw new Error(`unknown source '${sourceName}' (defined: ${Object.keys(cfg.sources).join(', ')})`);
    if (!source.signing) throw new Error(`source '${sourceName}' has no signing settings (sources.${sourceName}.signing)`);
    const signing = source.signing;
    token = readSetting((problems) => signingToken(sourceName!, signing, env, problems))!;
    signAfterBase = source.signing.path === 'afterBasePath';
  }
  const target = path + (query ? `?${query}` : '');
  if (signAfterBase && basePath) return origin + basePath + signTarget(target.slice(basePath.length), token);
  return origin + signTarget(target, token);
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommandArgs(
    argv,
    { source: { type: 'string' }, expires: { type: 'string' }, token: { type: 'string' }, config: { type: 'string' } },
    help,
    true,
    'sign',
  );
  if (parsed.exit !== undefined) return parsed.exit;
  const v = parsed.values as { source?: string; expires?: string; token?: string; config?: string };
  if (parsed.positionals.length !== 1) {
    console.error(`sign: expected exactly one URL\n\n${help}`);
    return 2;
  }
  let expires: number | undefined;
  if (v.expires !== undefined) {
    expires = parseExpires(v.expires);
    if (expires === undefined) {
      console.error(`sign: --expires: expected unix seconds or a duration like 30m, 12h, 7d; got '${v.expires}'`);
      return 2;
    }
  }
  const file = v.config ?? process.env.IMAGEGATE_CONFIG;
  try {
    const cfg = file ? loadConfigFile(file) : undefined;
    console.log(signUrl(cfg, { url: parsed.positionals[0], source: v.source, token: v.token, expires }));
    return 0;
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      return 1;
    }
    const e = err as Error & { publicMessage?: string };
    console.error(`sign: ${e.publicMessage ?? e.message}`);
    return 1;
  }
}
