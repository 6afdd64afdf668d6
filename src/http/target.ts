import type { Context } from 'hono';
import type { AppEnv } from './context.ts';

/**
 * Where a request points, as the adapters see it:
 * - `imagePath`: the image path after the stage / base path, still percent-encoded;
 * - `clientPath`: the path exactly as the client sent it (stage prefix included) — what a
 *   signature covers by default;
 * - `rawQueries`: the query string as it arrived. The Node server and HTTP API (payload 2.0)
 *   see it byte for byte; API Gateway REST (payload 1.0) only passes parsed parameters, so the
 *   Lambda adapter offers the usual encodings of them and a signature may match any one. The
 *   spelling that verified is then the one query the request is rendered from (an unsigned
 *   request uses the first): one canonical query for the signature check and the renderer.
 */
export interface RequestTarget {
  imagePath: string;
  clientPath: string;
  rawQueries: string[];
  /** False when the path did not start with the configured base path (Node server only). */
  inBasePath: boolean;
}

/** Bindings the Lambda adapter passes to `app.fetch` (Hono `c.env`). */
export interface LambdaBindings {
  imagegateTarget?: Omit<RequestTarget, 'inBasePath'>;
}

/** Bindings @hono/node-server passes to `app.fetch`: the request as node:http received it. */
interface NodeBindings {
  incoming?: { url?: string };
}

export function requestTarget(c: Context<AppEnv>, basePath: string): RequestTarget {
  const fromLambda = (c.env as LambdaBindings | undefined)?.imagegateTarget;
  if (fromLambda) {
    const stripped = stripBase(fromLambda.imagePath, basePath);
    return { ...fromLambda, imagePath: stripped ?? fromLambda.imagePath, inBasePath: true };
  }
  // The Node server: the request line as received, never the URL the adapter rebuilds with
  // `new URL()` when the line has a `%` escape or the Host is not lowercase (that re-escapes
  // `'`, folds `..` and `%2e%2e`). The Host header plays no part. In-process requests: the URL.
  const raw = (c.env as NodeBindings | undefined)?.incoming?.url;
  const afterHost = (raw ?? c.req.url).replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?]*/i, '') || '/';
  const q = afterHost.indexOf('?');
  const clientPath = q === -1 ? afterHost : afterHost.slice(0, q);
  const rawQuery = q === -1 ? '' : afterHost.slice(q + 1);
  const stripped = stripBase(clientPath, basePath);
  return { imagePath: stripped ?? clientPath, clientPath, rawQueries: [rawQuery], inBasePath: stripped !== undefined };
}

function stripBase(path: string, basePath: string): string | undefined {
  if (!basePath) return path;
  if (path === basePath) return '/';
  if (path.startsWith(basePath + '/')) return path.slice(basePath.length);
  return undefined;
}
