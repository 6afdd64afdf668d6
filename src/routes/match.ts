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
  /** The path this rule maps to `key` (unchecked), or undefined when its template cannot produce it. */
  invert(key: string): string | undefined;
}

export interface RouteMatch {
  source: string;
  key: string;
  params: Record<string, string>;
}

const NAME = /:([A-Za-z_][A-Za-z0-9_]*)/g;
const TEMPLATE_NAME = /\{([^}]*)\}/g;

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Compile once at start-up; throws with the route's index for a bad pattern or template. */
export function compileRoutes(routes: RouteConfig[]): CompiledRoute[] {
  return routes.map(compileRoute);
}

/** One rule (`index` names it in errors): the matcher, and the same pattern run backwards for pathForKey. */
export function compileRoute(r: Pick<RouteConfig, 'match' | 'source' | 'key'>, index: number): CompiledRoute {
  const segments = r.match.replace(/^\/+/, '').split('/');
  const names: string[] = [];
  /** The path as literal pieces and capture names, to build it back from captures. */
  const pieces: ({ text: string } | { name: string })[][] = [];
  const parts = segments.map((seg, idx) => {
    if (seg === '*') {
      if (idx !== segments.length - 1) throw new Error(`routes.${index}.match: '*' is allowed only as the last segment`);
      names.push('*');
      pieces.push([{ name: '*' }]);
      return '(.+)';
    }
    if (seg === '') throw new Error(`routes.${index}.match: empty segment in '${r.match}'`);
    const segPieces: ({ text: string } | { name: string })[] = [];
    let out = '';
    let last = 0;
    for (const m of seg.matchAll(NAME)) {
      out += escapeRegex(seg.slice(last, m.index));
      segPieces.push({ text: seg.slice(last, m.index) }, { name: m[1] });
      if (names.includes(m[1])) throw new Error(`routes.${index}.match: capture ':${m[1]}' used twice`);
      names.push(m[1]);
      out += '([^/]+?)';
      last = m.index + m[0].length;
    }
    out += escapeRegex(seg.slice(last));
    segPieces.push({ text: seg.slice(last) });
    pieces.push(segPieces);
    return out;
  });
  let keyRegex: RegExp | undefined;
  const keyNames: string[] = [];
  if (r.key) {
    let re = '';
    let last = 0;
    for (const m of r.key.matchAll(TEMPLATE_NAME)) {
      if (!names.includes(m[1])) {
        throw new Error(`routes.${index}.key: '{${m[1]}}' is not captured by '${r.match}' (captures: ${names.join(', ') || 'none'})`);
      }
      re += escapeRegex(r.key.slice(last, m.index)) + (m[1] === '*' ? '(.+?)' : '([^/]+?)');
      keyNames.push(m[1]);
      last = m.index + m[0].length;
    }
    keyRegex = new RegExp(`^${re}${escapeRegex(r.key.slice(last))}$`);
  }
  return {
    pattern: r.match,
    source: r.source,
    keyTemplate: r.key,
    regex: new RegExp(`^${parts.join('/')}$`),
    names,
    invert: (key) => {
      const params: Record<string, string> = {};
      if (keyRegex) {
        const m = keyRegex.exec(key);
        if (!m) return undefined;
        for (const [i, n] of keyNames.entries()) {
          if (params[n] !== undefined && params[n] !== m[i + 1]) return undefined;
          params[n] = m[i + 1];
        }
      } else return key;
      const out: string[] = [];
      for (const seg of pieces) {
        let text = '';
        for (const p of seg) {
          if ('text' in p) text += p.text;
          else if (params[p.name] === undefined) return undefined; // the key does not determine this capture
          else text += params[p.name];
        }
        out.push(text);
      }
      return out.join('/');
    },
  };
}

/**
 * The image path (after the base path, decoded) that the routes map to `source` + `key`: the
 * first route of that source whose key template fits, checked by matching the path forward.
 * Undefined when no route reaches the key.
 */
export function pathForKey(routes: CompiledRoute[], source: string, key: string): string | undefined {
  for (const r of routes) {
    if (r.source !== source) continue;
    const candidate = r.invert(key);
    if (candidate === undefined) continue;
    let back: RouteMatch | undefined;
    try {
      back = matchRoute(routes, candidate);
    } catch {
      continue; // a key the server would refuse (an empty, `.` or `..` segment)
    }
    if (back && back.source === source && back.key === key) return candidate;
  }
  return undefined;
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
    const key = route.keyTemplate ? route.keyTemplate.replace(TEMPLATE_NAME, (_, n: string) => params[n]) : path;
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
