import type { RouteConfig } from '../config/schema.ts';
import { checkSegments } from './path.ts';

/**
 * Declarative path → (source, key) mapping.
 *
 * A pattern is a `/`-separated list of segments. A segment is literal text with `:name`
 * captures in it (`:id.:ext` captures `67286576` and `jpeg` from `67286576.jpeg`); a capture
 * takes at least one character and never crosses a `/`. A final `*` segment matches one or
 * more remaining segments. Literal text matches case-sensitively.
 *
 * The key template substitutes `{name}` with captures and `{*}` with what `*` matched; with no
 * template the key is the whole path. Keys are built only from the template, so a request can
 * never name an object the rule does not allow. A built key with an empty, `.` or `..` segment
 * (a capture of `..`, an empty `{*}`) is refused with 400 `invalid_path` here, for every source
 * kind alike.
 */
export interface CompiledRoute {
  pattern: string;
  source: string;
  keyTemplate?: string;
  regex: RegExp;
  names: string[];
}

export interface RouteMatch {
  source: string;
  key: string;
  params: Record<string, string>;
}

const NAME = /:([A-Za-z_][A-Za-z0-9_]*)/g;

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Compile once at start-up; throws with the route's index for a bad pattern or template. */
export function compileRoutes(routes: RouteConfig[]): CompiledRoute[] {
  return routes.map((r, i) => {
    const segments = r.match.replace(/^\/+/, '').split('/');
    const names: string[] = [];
    const parts = segments.map((seg, idx) => {
      if (seg === '*') {
        if (idx !== segments.length - 1) throw new Error(`routes.${i}.match: '*' is allowed only as the last segment`);
        names.push('*');
        return '(.+)';
      }
      if (seg === '') throw new Error(`routes.${i}.match: empty segment in '${r.match}'`);
      let out = '';
      let last = 0;
      for (const m of seg.matchAll(NAME)) {
        out += escapeRegex(seg.slice(last, m.index));
        if (names.includes(m[1])) throw new Error(`routes.${i}.match: capture ':${m[1]}' used twice`);
        names.push(m[1]);
        out += '([^/]+?)';
        last = m.index + m[0].length;
      }
      out += escapeRegex(seg.slice(last));
      return out;
    });
    if (r.key) {
      for (const m of r.key.matchAll(/\{([^}]*)\}/g)) {
        if (!names.includes(m[1])) {
          throw new Error(`routes.${i}.key: '{${m[1]}}' is not captured by '${r.match}' (captures: ${names.join(', ') || 'none'})`);
        }
      }
    }
    return { pattern: r.match, source: r.source, keyTemplate: r.key, regex: new RegExp(`^${parts.join('/')}$`), names };
  });
}

/**
 * First matching rule wins; `path` has no leading slash and is already decoded and checked.
 * Throws 400 `invalid_path` when the rule's key template builds a key with an empty, `.` or
 * `..` segment.
 */
export function matchRoute(routes: CompiledRoute[], path: string): RouteMatch | undefined {
  for (const route of routes) {
    const m = route.regex.exec(path);
    if (!m) continue;
    const params: Record<string, string> = {};
    route.names.forEach((n, i) => (params[n] = m[i + 1]));
    const key = route.keyTemplate ? route.keyTemplate.replace(/\{([^}]*)\}/g, (_, n: string) => params[n]) : path;
    checkSegments(key);
    return { source: route.source, key, params };
  }
  return undefined;
}

/**
 * The source of the first rule whose pattern fits `path`, without building a key: what picks
 * the signing token before anything judges the path (a path that is not yet checked).
 */
export function routeSource(routes: CompiledRoute[], path: string): string | undefined {
  return routes.find((route) => route.regex.test(path))?.source;
}
