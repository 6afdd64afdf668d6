/**
 * What the DynamoDB usage store costs per request: DynamoDB operations (counted on the client,
 * retries included) and the time a usage check adds, against the memory store on the same
 * machine. DynamoDB here is moto_server on loopback, started by this script (one request at a
 * time, as DynamoDB applies requests to one item): the operation counts are what AWS would bill;
 * the latencies are moto's, not DynamoDB's (AWS answers single-digit milliseconds in region).
 *
 *   node --import tsx bench/usage-dynamodb.ts [--requests 2000] [--concurrency 16]
 *
 * Three loads: one key, one request at a time (latency); 50 keys, `concurrency` in flight; one
 * key, `concurrency` in flight (every request races for one item: the worst case for the
 * conditional update's branch guess). Usage records are flushed once a second as in production.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { createDynamoClient, createTable } from '../src/dynamodb.ts';
import { plansConfigSchema, usageConfigSchema } from '../src/config/usage.ts';
import { DynamoUsageStore } from '../src/usage/dynamodb.ts';
import { createUsageService, UsageService, type UsageLogger } from '../src/usage/index.ts';
import { freePort } from './procs.ts';

const { values } = parseArgs({
  options: { requests: { type: 'string', default: '2000' }, concurrency: { type: 'string', default: '16' } },
});
const total = Number(values.requests);
const concurrency = Number(values.concurrency);

process.env.AWS_ACCESS_KEY_ID ??= 'bench';
process.env.AWS_SECRET_ACCESS_KEY ??= 'bench';
process.env.AWS_EC2_METADATA_DISABLED = 'true';

const quiet: UsageLogger = { info() {}, warn() {}, error: (o, m) => console.error(m, JSON.stringify(o)) };
// Limits no request of the run reaches: every request takes the full path (a token and a unit of quota).
const plan = plansConfigSchema.parse({ bench: { rate: 1_000_000, burst: 1_000_000, quota: { limit: 100_000_000, period: 'month' } } }).bench!;

const SERIAL_MOTO = `
import sys
from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
run_simple(sys.argv[1], int(sys.argv[2]), DomainDispatcherApplication(create_backend_app), threaded=False)
`;

async function startMoto(): Promise<{ url: string; stop(): void }> {
  const port = await freePort();
  // Not moto_server itself: its threads let two conditional writes to one item both pass.
  const proc = spawn('python3', ['-c', SERIAL_MOTO, '127.0.0.1', String(port)], { stdio: 'ignore' });
  process.once('exit', () => proc.kill('SIGKILL'));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 300; i++) {
    if (await fetch(`${url}/moto-api/`).then((r) => r.ok, () => false)) return { url, stop: () => proc.kill('SIGTERM') };
    await sleep(100);
  }
  throw new Error('moto_server did not start');
}

interface Run {
  perReqMs: number[];
  wallMs: number;
}

/** `total` checks + records over `keys` keys, `inFlight` at a time; per-check latency. */
async function load(usage: UsageService, keys: number, inFlight: number): Promise<Run> {
  const lat: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < total) {
        const i = next++;
        const key = `k${i % keys}`;
        const s = performance.now();
        const d = await usage.check(key, plan);
        lat.push(performance.now() - s);
        if (!d.allowed || d.degraded) throw new Error(`request ${i} not allowed: ${JSON.stringify(d)}`);
        usage.record(key, { requests: 1, s2xx: 1, bytes: 2048 });
      }
    }),
  );
  await usage.flush();
  return { perReqMs: lat, wallMs: performance.now() - t0 };
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;

async function main(): Promise<void> {
  const moto = await startMoto();
  try {
    const table = `bench-${randomBytes(4).toString('hex')}`;
    const admin = createDynamoClient({ endpoint: moto.url, region: 'us-east-1', timeoutMs: 10_000 });
    await createTable(admin, table);
    admin.destroy();

    const loads: [string, number, number][] = [
      ['1 key, 1 in flight', 1, 1],
      [`50 keys, ${concurrency} in flight`, 50, concurrency],
      [`1 key, ${concurrency} in flight`, 1, concurrency],
    ];
    const rows: string[][] = [['load', 'store', 'check p50 ms', 'p99 ms', 'req/s', 'UpdateItem/req', 'TransactWriteItems (records)', 'other ops']];
    for (const [label, keys, inFlight] of loads) {
      const memory = createUsageService(usageConfigSchema.parse({ store: 'memory' }), { logger: quiet });
      await load(memory, keys, inFlight); // warm-up
      const m = await load(memory, keys, inFlight);
      await memory.close();

      const cfg = usageConfigSchema.parse({ store: 'dynamodb', table, endpoint: moto.url, region: 'us-east-1', prefix: `${randomBytes(3).toString('hex')}/`, commandTimeoutMs: 5000 });
      if (cfg.store !== 'dynamodb') throw new Error('unreachable');
      const client = createDynamoClient({ endpoint: moto.url, region: 'us-east-1', timeoutMs: 5000 });
      const ops = new Map<string, number>();
      client.middlewareStack.add(
        (next, context) => (args) => {
          const name = context.commandName ?? '?';
          ops.set(name, (ops.get(name) ?? 0) + 1);
          return next(args);
        },
        { step: 'finalizeRequest', name: 'countOperations' },
      );
      const dynamo = new UsageService(cfg, () => new DynamoUsageStore({ ...cfg, table }, client), Date.now, quiet);
      await dynamo.ready(10_000);
      await load(dynamo, keys, inFlight); // warm-up (connections, JIT)
      ops.clear();
      const d = await load(dynamo, keys, inFlight);
      await dynamo.close();
      const per = (name: string) => ((ops.get(name) ?? 0) / total).toFixed(3);
      const other = [...ops].filter(([n]) => n !== 'UpdateItemCommand' && n !== 'TransactWriteItemsCommand').map(([n, c]) => `${n} ${c}`).join(', ');
      rows.push([label, 'memory', pct(m.perReqMs, 0.5).toFixed(3), pct(m.perReqMs, 0.99).toFixed(3), (total / (m.wallMs / 1000)).toFixed(0), '0', '0', '']);
      rows.push([
        label,
        'dynamodb (moto)',
        pct(d.perReqMs, 0.5).toFixed(3),
        pct(d.perReqMs, 0.99).toFixed(3),
        (total / (d.wallMs / 1000)).toFixed(0),
        per('UpdateItemCommand'),
        `${ops.get('TransactWriteItemsCommand') ?? 0} (${keys} key${keys > 1 ? 's' : ''}, 1/s)`,
        other || '—',
      ]);
    }
    const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    console.log(`usage check + record, ${total} requests per run; DynamoDB = moto_server on loopback (not AWS), one request at a time`);
    for (const r of rows) console.log(r.map((c, i) => c.padEnd(w[i]!)).join('  '));
  } finally {
    moto.stop();
  }
}

await main();
