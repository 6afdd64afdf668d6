/**
 * `imagegate usage`: usage records per key and UTC day, read from the shared usage store
 * (Redis or DynamoDB) or from a running server's admin endpoint (`--url`, any store).
 */
import { parseArgs } from 'node:util';
import { isServiceError } from '../errors.ts';
import { createUsageService } from '../usage/index.ts';
import { readSetting, usageSettings } from '../config/resolve.ts';
import { parseUsageQuery, usageReport, type UsageReport } from '../usage/report.ts';
import { defaultIO, loadCliConfig, table, type CliIO } from './keys.ts';

export const help = `Usage: imagegate usage [--key ID] [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--json]
                      [--config FILE | --url URL]

Print usage records (requests, responses by status class, bytes sent, transformations, cache
hits, requests refused by rate or quota, requests let in by a signed URL) per key and UTC day,
with totals. Requests without a key (public sources, source-token signatures) are the key
~anonymous.

  --key ID        one key (default: every key)
  --from DAY      first UTC day (default: the first of --to's month)
  --to DAY        last UTC day, included (default: today)
  --json          the records as JSON (the same document as GET /_admin/usage)
  --config FILE   the YAML config whose usage: store to read (default: $IMAGEGATE_CONFIG);
                  needs store: redis or dynamodb — a memory store lives inside the server, use --url
  --url URL       ask a running server instead: GET URL/_admin/usage with the admin token
                  from $IMAGEGATE_ADMIN_TOKEN
  -h, --help      this help

Exit codes: 0 printed, 1 failed (store or server unreachable, bad config), 2 usage error.`;

function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

/** The report as an aligned table with a total line. */
function renderUsage(r: UsageReport): string {
  const rows = [['DATE', 'KEY', 'REQUESTS', '2XX', '3XX', '4XX', '5XX', 'BYTES', 'TRANSFORMS', 'CACHE HITS', 'RATE 429', 'QUOTA 429', 'SIGNED']];
  const line = (date: string, key: string, d: UsageReport['totals']) => [
    date,
    key,
    String(d.requests),
    String(d.responses['2xx']),
    String(d.responses['3xx']),
    String(d.responses['4xx']),
    String(d.responses['5xx']),
    fmtBytes(d.bytes),
    String(d.transformations),
    String(d.cacheHits),
    String(d.rateLimited),
    String(d.quotaExceeded),
    String(d.signed),
  ];
  for (const rec of r.records) rows.push(line(rec.date, rec.key, rec));
  rows.push(line('TOTAL', r.key ?? 'all keys', r.totals));
  return `${r.from} to ${r.to} (UTC)\n${table(rows)}`;
}

export async function run(argv: string[], io: CliIO = defaultIO): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        key: { type: 'string' },
        from: { type: 'string' },
        to: { type: 'string' },
        json: { type: 'boolean' },
        config: { type: 'string' },
        url: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    io.err(`${(err as Error).message}\n\n${help}`);
    return 2;
  }
  if (values.help) {
    io.out(help);
    return 0;
  }
  let query;
  try {
    query = parseUsageQuery({ key: values.key, from: values.from, to: values.to }, Date.now());
  } catch (err) {
    io.err(`imagegate usage: --${isServiceError(err) ? err.publicMessage : String(err)}`);
    return 2;
  }

  let report: UsageReport;
  if (values.url) {
    const token = io.env.IMAGEGATE_ADMIN_TOKEN;
    if (!token) {
      io.err('imagegate usage: --url needs the admin token in $IMAGEGATE_ADMIN_TOKEN');
      return 2;
    }
    const u = new URL('_admin/usage', values.url.endsWith('/') ? values.url : `${values.url}/`);
    if (query.key) u.searchParams.set('key', query.key);
    u.searchParams.set('from', query.from);
    u.searchParams.set('to', query.to);
    try {
      const res = await fetch(u, { headers: { Authorization: `Bearer ${token}` } });
      const body = (await res.json().catch(() => ({}))) as UsageReport & { message?: string };
      if (!res.ok) {
        io.err(`imagegate usage: ${u.origin} answered ${res.status}: ${body.message ?? ''}`);
        return 1;
      }
      report = body;
    } catch (err) {
      io.err(`imagegate usage: cannot reach ${u.origin}: ${(err as Error).message}`);
      return 1;
    }
  } else {
    const cfg = loadCliConfig(values.config, io);
    if (typeof cfg === 'number') return cfg;
    const u = cfg.usage;
    if (u.store === 'memory') {
      io.err('imagegate usage: usage.store is memory: the records live inside the server process; use --url http://server:port (admin token in $IMAGEGATE_ADMIN_TOKEN)');
      return 1;
    }
    let usage: ReturnType<typeof createUsageService>;
    try {
      usage = createUsageService({ ...readSetting((problems) => usageSettings(u, io.env, problems))!, onUnavailable: 'failClosed' }, { logger: { info() {}, warn() {}, error() {} } });
    } catch (err) {
      io.err(`imagegate usage: ${(err as Error).message}`);
      return 1;
    }
    try {
      if (!(await usage.ready(5000))) {
        const where = u.store === 'redis' ? `Redis at ${u.url.replace(/\/\/[^@/]*@/, '//***@')}` : `the DynamoDB table ${u.table ?? `named by $${u.tableFromEnv}`}`;
        io.err(`imagegate usage: cannot reach ${where}`);
        return 1;
      }
      report = await usageReport(usage, query);
    } catch (err) {
      io.err(`imagegate usage: ${(err as Error).message}`);
      return 1;
    } finally {
      await usage.close();
    }
  }
  io.out(values.json ? JSON.stringify(report, null, 2) : renderUsage(report));
  return 0;
}
