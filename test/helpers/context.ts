/** Runs `fn` with the Hono context of a real request to a real Hono app, with `vars` set on it first. */
import { Hono, type Context } from 'hono';
import type { AppEnv, AppVariables } from '../../src/http/context.ts';

export async function inContext<T>(url: string, fn: (c: Context<AppEnv>) => T | Promise<T>, opts: { headers?: Record<string, string>; vars?: Partial<AppVariables>; method?: string } = {}): Promise<T> {
  let out: { value: T } | { error: unknown } | undefined;
  const app = new Hono<AppEnv>();
  app.all('*', async (c) => {
    for (const [k, v] of Object.entries(opts.vars ?? {})) c.set(k as keyof AppVariables, v as never);
    try {
      out = { value: await fn(c) };
    } catch (error) {
      out = { error };
    }
    return c.body(null, 204);
  });
  await app.request(url, { method: opts.method ?? 'GET', headers: opts.headers });
  if (!out) throw new Error('the handler did not run');
  if ('error' in out) throw out.error;
  return out.value;
}
