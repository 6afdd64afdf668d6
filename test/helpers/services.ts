/**
 * Real services for integration tests, each started on a free loopback port and stopped with
 * the test process. Outside CI a missing binary skips the tests that need it (with a reason);
 * under CI=true it fails them: a missing service is never silently skipped there.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawnSync } from 'node:child_process';

export const inCI = !!process.env.CI && process.env.CI !== 'false';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export function hasCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** Returns a skip reason for node:test, or throws under CI when the command is missing. */
export function requireCommand(cmd: string): string | undefined {
  if (hasCommand(cmd)) return undefined;
  if (inCI) throw new Error(`${cmd} is required under CI but was not found on PATH`);
  return `${cmd} not installed`;
}

export interface RunningService {
  port: number;
  url: string;
  proc: ChildProcess;
  stop(): Promise<void>;
}

function track(proc: ChildProcess): () => Promise<void> {
  const kill = () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  };
  process.once('exit', kill);
  return async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const done = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    const t = setTimeout(() => proc.kill('SIGKILL'), 3000);
    await done;
    clearTimeout(t);
  };
}

/** Polls `check` (a throw counts as false) until it is true; generous, so a slow machine never fails the test. */
export async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check().catch(() => false)) return;
    await sleep(100);
  }
  assert.fail(`${what}: not within ${timeoutMs} ms`);
}

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check().catch(() => false)) return;
    await sleep(100);
  }
  throw new Error(`${what} did not become ready in ${timeoutMs} ms`);
}

/**
 * moto's server app answering one request at a time. moto_server runs requests on threads and
 * its DynamoDB has no locks, so two concurrent conditional writes to one item can both pass;
 * DynamoDB applies each request to an item atomically. Serial answers give that guarantee.
 */
const SERIAL_MOTO = `
import sys
from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
run_simple(sys.argv[1], int(sys.argv[2]), DomainDispatcherApplication(create_backend_app), threaded=False)
`;

/** moto_server (S3, Secrets Manager, DynamoDB, …) on a free loopback port; `serial`: one request at a time (see SERIAL_MOTO). */
export async function startMoto(options: { serial?: boolean } = {}): Promise<RunningService> {
  const port = await freePort();
  const proc = options.serial
    ? spawn('python3', ['-c', SERIAL_MOTO, '127.0.0.1', String(port)], { stdio: 'ignore' })
    : spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  const stop = track(proc);
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${url}/moto-api/`)).status < 500, 'moto_server');
  return { port, url, proc, stop };
}

/** A private redis-server (no persistence) on a free loopback port; `port` may be given to restart one. */
export async function startRedis(port?: number): Promise<RunningService> {
  const p = port ?? (await freePort());
  const proc = spawn(
    'redis-server',
    ['--port', String(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  const stop = track(proc);
  await waitFor(async () => {
    const r = spawnSync('redis-cli', ['-p', String(p), 'ping'], { encoding: 'utf8' });
    return r.stdout.trim() === 'PONG';
  }, 'redis-server');
  return { port: p, url: `redis://127.0.0.1:${p}/0`, proc, stop };
}

/** Credentials that moto accepts; set before creating AWS SDK clients in a test. */
export function fakeAwsEnv(): void {
  process.env.AWS_ACCESS_KEY_ID ??= 'testing';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'testing';
  process.env.AWS_REGION ??= 'us-east-1';
  process.env.AWS_EC2_METADATA_DISABLED = 'true';
}
