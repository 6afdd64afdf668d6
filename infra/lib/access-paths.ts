/**
 * Which API Gateway resources need API Gateway's key check, derived from the generated imagegate
 * config (its routes and each source's `access`), so the two can never disagree.
 *
 * A browser's `<img src>` cannot send `X-API-Key`: a route to a `signed` or `public` source must
 * reach the Lambda without API Gateway's check, where the app's own access decision is the gate
 * (a valid signature, or the anonymous plan per client address). Every other route keeps
 * `apiKeyRequired`. Each route becomes the API Gateway path of its leading literal segments:
 *
 *   p/*                          → /p/{proxy+}
 *   partnerimages/:a/:b/:id.:ext → /partnerimages/{proxy+}
 *   logo.png                     → /logo.png (exact)
 *   *  or  :id.:ext              → /{proxy+} (the root resource)
 *
 * API Gateway picks the most specific resource, so nested prefixes work as the routes say
 * (`thumbs/public/*` open inside a keyed `thumbs/*`). Where a route to a `key` source lands on
 * the same resource as an open one, the resource is open and the app alone refuses keyless
 * requests to the key source (403 `forbidden`; it never trusts API Gateway to have checked a
 * key): those routes are listed in `keyRoutesOpen` so synth can say so.
 */

export interface AccessPath {
  /** Path segments under the stage (basePath included), without `{proxy+}`. */
  segments: string[];
  /** `/segments/{proxy+}` (true) or the exact path (false). */
  proxy: boolean;
  /** Served without API Gateway's key check. */
  open: boolean;
}

export interface AccessPaths {
  /** The root `{proxy+}` is open (a `signed` or `public` route starts with a capture or `*`). */
  rootOpen: boolean;
  /** Resources other than the root `{proxy+}`, most specific first, each once. */
  paths: AccessPath[];
  /** Routes to `key` sources that share an open resource (the app's check is their only one). */
  keyRoutesOpen: string[];
}

/** Characters API Gateway allows in a literal path part. */
const PATH_PART = /^[A-Za-z0-9._-]+$/;

type Access = 'key' | 'signed' | 'public';

/** The open and keyed resources of a generated config (its parsed YAML). */
export function accessPaths(config: { server?: { basePath?: string }; sources?: Record<string, { access?: Access } | undefined>; routes?: { match: string; source: string }[] }): AccessPaths {
  const base = (config.server?.basePath ?? '').split('/').filter(Boolean);
  const byPath = new Map<string, AccessPath & { keyRoutes: string[] }>();
  let rootOpen = false;
  const rootKeyRoutes: string[] = [];
  for (const route of config.routes ?? []) {
    const open = (config.sources?.[route.source]?.access ?? 'key') !== 'key';
    const parts = route.match.replace(/^\/+/, '').split('/');
    let n = 0;
    while (n < parts.length && parts[n] !== '*' && !parts[n]!.includes(':') && PATH_PART.test(parts[n]!)) n++;
    const proxy = n < parts.length;
    const segments = [...base, ...parts.slice(0, n)];
    if (proxy && segments.length === 0) {
      if (open) rootOpen = true;
      else rootKeyRoutes.push(route.match);
      continue;
    }
    const id = `${segments.join('/')}${proxy ? '/{proxy+}' : ''}`;
    const entry = byPath.get(id) ?? { segments, proxy, open: false, keyRoutes: [] };
    if (open) entry.open = true;
    else entry.keyRoutes.push(route.match);
    byPath.set(id, entry);
  }
  const entries = [...byPath.values()];
  const keyRoutesOpen = [...(rootOpen ? rootKeyRoutes : []), ...entries.filter((e) => e.open).flatMap((e) => e.keyRoutes)];
  // A resource is needed only where it changes what its closest enclosing `{proxy+}` decides:
  // with no open route the API stays the one keyed `{proxy+}` it always was.
  const inherited = (e: AccessPath) => {
    const enclosing = entries
      .filter((o) => o.proxy && o.segments.length < e.segments.length && o.segments.every((s, i) => e.segments[i] === s))
      .sort((a, b) => b.segments.length - a.segments.length)[0];
    return enclosing ? enclosing.open : rootOpen;
  };
  const paths = entries
    .filter((e) => e.open !== inherited(e))
    .map(({ segments, proxy, open }) => ({ segments, proxy, open }))
    .sort((a, b) => b.segments.length - a.segments.length || Number(a.proxy) - Number(b.proxy) || a.segments.join('/').localeCompare(b.segments.join('/')));
  return { rootOpen, paths, keyRoutesOpen };
}
