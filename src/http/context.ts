import type { KeyRecord } from '../auth/types.ts';

/** Request-scoped values shared by the middlewares (Hono `c.get` / `c.set`). */
export interface AppVariables {
  requestId: string;
  /** Set by the auth middleware for keyed requests. */
  apiKey?: KeyRecord;
  /** Set by the image handler when a transformation ran for this response. */
  transformed?: boolean;
  /** Set by the image handler: which cache tier answered, if any. */
  cacheHit?: 'memory' | 'persistent';
  /** Set by the image handler: body bytes of its response (saves reading the header back). */
  responseBytes?: number;
  /** Route label for metrics: 'image', 'health', 'admin', … */
  routeLabel?: string;
}

export type AppEnv = { Variables: AppVariables };
