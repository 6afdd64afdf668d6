/** Spawns test/usage/server.ts (a usage-plan app) with `settings`; resolves once it listens. */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

export interface SpawnedServer {
  port: number;
  stop(): Promise<void>;
}

export async function startServer(settings: unknown): Promise<SpawnedServer> {
  const script = fileURLToPath(new URL('./server.ts', import.meta.url));
  const proc: ChildProcess = spawn(process.execPath, ['--import', 'tsx', script], {
    env: { ...process.env, IG_TEST: JSON.stringify(settings) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  process.once('exit', () => proc.kill('SIGKILL'));
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    proc.stdout!.on('data', (d) => {
      out += d;
      const m = /listening (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    proc.once('exit', (code) => reject(new Error(`test server exited (${code}) before listening`)));
  });
  return {
    port,
    async stop() {
      if (proc.exitCode !== null) return;
      const done = once(proc, 'exit');
      proc.kill('SIGTERM');
      await done;
    },
  };
}

/**
 * `total` keyed requests for the test images, 8 clients at once, request i going to server
 * i mod n: what the multi-process quota tests send. Returns every status.
 */
async function spreadRequests(ports: number[], total: number, key: string): Promise<number[]> {
  let next = 0;
  const statuses: number[] = [];
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < total) {
        const i = next++;
        const res = await fetch(`http://127.0.0.1:${ports[i % ports.length]}/${['photo.jpg', 'alpha.png', 'sub/inner.webp'][i % 3]}`, {
          headers: { 'X-API-Key': key },
        });
        await res.arrayBuffer();
        statuses.push(res.status);
      }
    }),
  );
  return statuses;
}

/**
 * The multi-process quota check: two servers sharing `usage:`, the key `shared-key` (id
 * `shared`) on `plan`, whose quota is `n` a day (fixed day 2026-06-15). Of 3n requests spread over
 * both, exactly n succeed and 2n get 429. `whileRunning` runs before the servers stop (a graceful
 * stop writes each process's pending usage records).
 */
export async function quotaAcrossTwoServers(usage: Record<string, unknown>, plan: Record<string, unknown>, n: number, whileRunning?: (ports: number[]) => Promise<void>): Promise<void> {
  const settings = {
    usage,
    plans: { limited: plan },
    keys: { 'shared-key': { id: 'shared', plan: 'limited' } },
    adminToken: 'adm',
    fixedNow: '2026-06-15T12:00:00.000Z',
  };
  const procs = await Promise.all([startServer(settings), startServer(settings)]);
  try {
    const statuses = await spreadRequests(procs.map((p) => p.port), 3 * n, 'shared-key');
    assert.equal(statuses.length, 3 * n);
    assert.equal(statuses.filter((s) => s === 200).length, n);
    assert.equal(statuses.filter((s) => s === 429).length, 2 * n);
    await whileRunning?.(procs.map((p) => p.port));
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
  }
}
