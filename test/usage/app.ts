/**
 * A small Hono app for usage tests and the benchmark: a stand-in auth (X-API-Key → key record by
 * SHA-256, like the real one), the usage middleware, an admin usage route, and an image-like
 * handler returning fixed bytes. `/img?status=404&transform=1&hit=1&size=100` shapes the answer.
 */
import { Hono } from 'hono';
import { createHash, timingSafeEqual } from 'node:crypto';
import { ServiceError } from '../../src/errors.ts';
import type { AppEnv } from '../../src/http/context.ts';
import { adminUsageHandler, usageMiddleware } from '../../src/http/usage.ts';
import type { KeyLookup, KeyRecord } from '../../src/auth/types.ts';
import type { PlansConfig } from '../../src/usage/config.ts';
import type { UsageService } from '../../src/usage/index.ts';

export const sha256 = (v: string) => createHash('sha256').update(v, 'utf8').digest('hex');

export function mapLookup(keys: Record<string, KeyRecord>): KeyLookup {
  const byHash = new Map(Object.entries(keys).map(([value, rec]) => [sha256(value), rec]));
  return { findByHash: async (h) => byHash.get(h) };
}

export function buildTestApp(opts: {
  usage?: UsageService;
  plans?: PlansConfig;
  keys: KeyLookup;
  adminToken?: string;
}): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.onError((err, c) => {
    if (err instanceof ServiceError) {
      for (const [k, v] of Object.entries(err.headers)) c.header(k, v);
      return c.json({ message: err.publicMessage, code: err.code }, err.status as 400);
    }
    return c.json({ message: 'Internal server error', code: 'internal_error', detail: String(err) }, 500);
  });
  if (opts.usage && opts.adminToken) {
    const digest = Buffer.from(sha256(opts.adminToken), 'hex');
    app.get(
      '/_admin/usage',
      async (c, next) => {
        const m = /^Bearer\s+(.+)$/i.exec(c.req.header('authorization') ?? '');
        const got = Buffer.from(sha256(m?.[1] ?? ''), 'hex');
        if (!m || !timingSafeEqual(got, digest)) throw new ServiceError(401, 'admin_unauthorized', 'Unauthorized');
        await next();
      },
      adminUsageHandler(opts.usage),
    );
  }
  const body = Buffer.alloc(64 * 1024, 7);
  app.on(
    ['GET', 'HEAD'],
    '/img',
    async (c, next) => {
      const presented = c.req.header('x-api-key');
      if (!presented) throw new ServiceError(403, 'forbidden', 'Forbidden');
      const rec = await opts.keys.findByHash(sha256(presented));
      if (!rec) throw new ServiceError(403, 'forbidden', 'Forbidden');
      c.set('apiKey', rec);
      await next();
    },
    ...(opts.usage ? [usageMiddleware(opts.usage, opts.plans ?? {})] : []),
    (c) => {
      const status = Number(c.req.query('status') ?? 200);
      if (status >= 500 && c.req.query('throw')) throw new Error('boom');
      if (c.req.query('transform')) c.set('transformed', true);
      if (c.req.query('hit')) c.set('cacheHit', 'memory');
      if (status === 304) return c.body(null, 304);
      const size = Math.min(body.length, Number(c.req.query('size') ?? 100));
      return c.body(body.subarray(0, size), status as 200, { 'Content-Type': 'image/jpeg', 'Content-Length': String(size) });
    },
  );
  return app;
}
