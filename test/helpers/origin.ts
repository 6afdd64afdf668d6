import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ServiceError } from '../../src/errors.ts';

/** A real HTTP server standing in for an origin (or for an internal service it must not reach). */
export interface Origin {
  server: http.Server;
  port: number;
  url: string;
  /** Every request the origin received: method, raw URL and headers. */
  seen: { method: string; url: string; headers: http.IncomingHttpHeaders }[];
  close(): Promise<void>;
}

export async function startOrigin(host: string, handler: http.RequestListener): Promise<Origin> {
  const seen: Origin['seen'] = [];
  const server = http.createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    server,
    port,
    url: `http://${host}:${port}`,
    seen,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Awaits `p` and asserts it rejected with a ServiceError of this status and code. */
export async function rejectsWith(p: Promise<unknown>, status: number, code: string): Promise<ServiceError> {
  const err = await p.then(
    () => assert.fail(`expected ${status} ${code}, got a result`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof ServiceError, `expected a ServiceError, got ${String(err)}`);
  assert.equal(err.code, code, err.message);
  assert.equal(err.status, status);
  return err;
}
