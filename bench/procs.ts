/** Child processes for the benchmark: start, wait until listening, read memory, stop. */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** Peak resident set (VmHWM) of a process, MiB. */
export function peakRssMiB(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** Current resident set (VmRSS), MiB. */
export function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export interface Child {
  proc: ChildProcess;
  pid: number;
  url: string;
  stop(): Promise<void>;
}

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

/**
 * Spawns `node [args]` with `env`, its stdout going to `logFile` (a file, as a production log
 * would: a pipe that the busy load generator drains late would block a server that logs
 * synchronously), and waits at most `timeoutMs` for a line matching `ready` in that file.
 */
export async function startChild(opts: {
  args: string[];
  env?: Record<string, string | undefined>;
  port: number;
  ready: RegExp;
  logFile: string;
  timeoutMs?: number;
  /** Working directory of the child (default: this process's). */
  cwd?: string;
}): Promise<Child> {
  const out = openSync(opts.logFile, 'w');
  const proc = spawn(process.execPath, opts.args, {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', out, 'pipe'],
  });
  closeSync(out);
  children.add(proc);
  let tail = '';
  proc.stderr!.on('data', (chunk: Buffer) => {
    tail = (tail + chunk.toString('utf8')).slice(-4000);
  });
  let exited: number | null | undefined;
  proc.once('exit', (code) => (exited = code));
  const end = Date.now() + (opts.timeoutMs ?? 30_000);
  for (;;) {
    if (exited !== undefined) throw new Error(`child exited with ${exited}: ${opts.args.join(' ')}\n${tail}`);
    let text = '';
    try {
      text = readFileSync(opts.logFile, 'utf8');
    } catch {
      /* not yet */
    }
    if (opts.ready.test(text)) break;
    if (Date.now() > end) {
      proc.kill('SIGKILL');
      throw new Error(`child did not start in time: ${opts.args.join(' ')}\n${tail}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    proc,
    pid: proc.pid!,
    url: `http://127.0.0.1:${opts.port}`,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const done = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await done;
      clearTimeout(t);
      children.delete(proc);
    },
  };
}

/** Runs `node [args]` to completion (bounded by `timeoutMs`) and parses the last stdout line as JSON. */
export async function runChildJson<T>(args: string[], env: Record<string, string | undefined> = {}, timeoutMs = 300_000): Promise<T & { pid: number }> {
  const proc = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(proc);
  let out = '';
  let err = '';
  proc.stdout!.on('data', (c: Buffer) => (out += c.toString('utf8')));
  proc.stderr!.on('data', (c: Buffer) => (err = (err + c.toString('utf8')).slice(-4000)));
  const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((r) => proc.once('exit', (c) => r(c)));
  clearTimeout(timer);
  children.delete(proc);
  const last = out.trim().split('\n').at(-1) ?? '';
  if (code !== 0) throw new Error(`${args.join(' ')} exited with ${code}\n${err}`);
  return { ...(JSON.parse(last) as T), pid: proc.pid! };
}
