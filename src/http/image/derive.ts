/**
 * The derive stage, a pure function of the request: path → route match → options → output
 * format → whether the answer is the untouched original, and later the result's cache key and
 * ETag. Nothing here reads a source or the clock.
 *
 * Path → route → options is a pure function of the target, so a URL asked for again (a cache
 * hit, a 304) skips it; so is the output format, unless auto=format lets the Accept header
 * choose it. Only targets that parsed are remembered, within a budget of about 16 MB (an entry
 * with its options, route match and cache keys is counted as 1.5 KB plus twice its target).
 */
import { LRUCache } from 'lru-cache';
import type { Config } from '../../config/schema.ts';
import { matchRoute, type CompiledRoute, type RouteMatch } from '../../routes/match.ts';
import { normaliseImagePath } from '../../routes/path.ts';
import { canonicalKey, isIdentity, parseTransform, type TransformOptions } from '../../request/params.ts';
import { clientHintHeaders, clientHintQuery } from '../../request/hints.ts';
import { formatKey, negotiateFormat, type NegotiatedFormat } from '../../request/negotiate.ts';
import { cacheKey, etagFor } from '../../cache/index.ts';

/** What a request target comes to, before any source is asked. */
export interface DerivedRequest {
  match: RouteMatch;
  opts: Readonly<TransformOptions>;
  /** canonicalKey(opts). */
  options: string;
  /** The output format and whether nothing changes, when the Accept header cannot change them. */
  fixed?: { negotiated: NegotiatedFormat; identity: boolean };
  /** The URL names a version of its original (`v=`), so its answer never changes. */
  versioned: boolean;
  /** Per output format: the cache key and ETag last built, and the source (and watermark) identity they were built from. */
  last: Map<string, { sourceEtag: string; mark: string; key: string; etag: string }>;
  /** The client hints `ch=` names, as Accept-CH lists them ('' for none), and Vary when Accept joins them. */
  hints: string;
  varyAccept: string;
}

/** A request as derived for one client: its target's derivation, and the output its headers choose. */
export interface Derived {
  request: DerivedRequest;
  negotiated: NegotiatedFormat;
  /** True when the answer is the original, untouched. */
  identity: boolean;
}

export interface DeriveRules {
  routes: CompiledRoute[];
  maxPathLength: number;
  transform: Config['transform'];
}

/** The request headers derivation reads: Accept, and the client hints `ch=` names (a Hono request is one). */
export interface RequestHeaders {
  header(name: string): string | undefined;
}

/**
 * The derivation for a set of rules. `derive` throws 400 for a bad path or parameter and
 * returns undefined when no route takes the path.
 */
export function deriver(rules: DeriveRules) {
  const derived = new LRUCache<string, DerivedRequest>({ maxSize: 16_000_000, sizeCalculation: (_, k) => 2 * k.length + 1500 });
  const target = (imagePath: string, rawQuery: string): DerivedRequest | undefined => {
    const memoKey = `${imagePath}?${rawQuery}`;
    let d = derived.get(memoKey);
    if (d) return d;
    const path = normaliseImagePath(imagePath, rules.maxPathLength);
    const match = matchRoute(rules.routes, path);
    if (!match) return undefined;
    // Shared by every later request for the same target: frozen, so nothing downstream can change it.
    const opts = Object.freeze(parseTransform(new URLSearchParams(rawQuery), rules.transform));
    const byAccept = !opts.fm && opts.auto?.includes('format') === true;
    const negotiated = byAccept ? undefined : Object.freeze(negotiateFormat(opts, undefined));
    const hints = clientHintHeaders(opts).join(', ');
    d = {
      match,
      opts,
      options: canonicalKey(opts),
      fixed: negotiated && { negotiated, identity: isIdentity(opts, negotiated) },
      last: new Map(),
      versioned: /(^|&)v=[^&]/.test(rawQuery),
      hints,
      varyAccept: hints ? `Accept, ${hints}` : 'Accept',
    };
    derived.set(memoKey, d);
    return d;
  };

  return function derive(imagePath: string, query: string, req: RequestHeaders): Derived | undefined {
    let request = target(imagePath, query);
    if (!request) return undefined;
    // ch=…: client hints stand for parameters, appended to the verified query (the last value wins).
    const hinted = request.opts.ch ? clientHintQuery(request.opts, (name) => req.header(name), rules.transform.compressQuality) : '';
    if (hinted) request = target(imagePath, `${query}&${hinted}`) ?? request;
    if (request.fixed) return { request, negotiated: request.fixed.negotiated, identity: request.fixed.identity };
    const negotiated = negotiateFormat(request.opts, req.header('accept'));
    return { request, negotiated, identity: isIdentity(request.opts, negotiated) };
  };
}

/**
 * The result's cache key and ETag: the source object, its version (`sourceEtag`), the options,
 * the identity of the images parameters pull in (`mark`, see marks.ts) and the output format.
 * The last one built per format is kept on the derivation, so a hit builds no key.
 */
export function resultKey({ request, negotiated }: Derived, sourceEtag: string, mark: string): { key: string; etag: string } {
  const format = formatKey(negotiated);
  const last = request.last.get(format);
  if (last && last.sourceEtag === sourceEtag && last.mark === mark) return last;
  const key = cacheKey({ source: request.match.source, key: request.match.key, etag: sourceEtag, options: request.options + mark, format });
  const built = { sourceEtag, mark, key, etag: etagFor(key) };
  request.last.set(format, built);
  return built;
}
