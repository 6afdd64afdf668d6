/**
 * The DynamoDB usage store against DynamoDB in moto_server: the behaviour suite every store
 * passes, exact quotas across two server processes and across two Lambda handler instances
 * sharing one table, and an outage injected by a TCP proxy in front of moto.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { eventually, fakeAwsEnv, requireCommand, startMoto, type RunningService } from '../helpers/services.ts';
import { freshTable, startTcpProxy, type TcpProxy } from '../helpers/dynamodb.ts';
import { usageConfigSchema } from '../../src/config/usage.ts';
import { createUsageService, type UsageLogger, type UsageService } from '../../src/usage/index.ts';
import { createApp } from '../../src/http/app.ts';
import { createLambdaHandler, type HttpApiEvent } from '../../src/lambda.ts';
import { createLogger } from '../../src/log.ts';
import { makeImageFolder } from '../helpers/app.ts';
import { usageBehaviour } from './behaviour.ts';
import { usageApp, usageConfig } from './app.ts';
import { quotaAcrossTwoServers } from './spawn.ts';

const skip = requireCommand('moto_server');
const quiet: UsageLogger = { info() {}, warn() {}, error() {} };

let moto: RunningService;
let table: string;
const services: UsageService[] = [];
const apps: { close(): Promise<void> }[] = [];

function dynamoUsage(extra: Record<string, unknown> = {}, clock?: () => number, logger: UsageLogger = quiet): UsageService {
  const cfg = usageConfigSchema.parse({
    store: 'dynamodb',
    table,
    endpoint: moto.url,
    region: 'us-east-1',
    prefix: `t${randomBytes(4).toString('hex')}/`,
    commandTimeoutMs: 2000,
    ...extra,
  });
  const s = createUsageService(cfg, { clock, logger });
  services.push(s);
  return s;
}

describe('usage plans, DynamoDB store', { skip }, () => {
  before(async () => {
    fakeAwsEnv();
    moto = await startMoto({ serial: true });
    table = await freshTable(moto.url);
  });
  after(async () => {
    for (const a of apps) await a.close().catch(() => {});
    await Promise.all(services.map((s) => s.close().catch(() => {})));
    await moto?.stop();
  });

  describe('behaviour suite', () => {
    usageBehaviour(async (clock) => {
      const s = dynamoUsage({ headers: 'both' }, clock);
      assert.equal(await s.ready(10_000), true);
      return s;
    });
  });

  test('two server processes, one key with quota N: of 3N requests spread over both, exactly N succeed', async () => {
    const N = 30;
    const prefix = `mp${randomBytes(4).toString('hex')}/`;
    const usage = { store: 'dynamodb', table, endpoint: moto.url, region: 'us-east-1', prefix, commandTimeoutMs: 5000 };
    await quotaAcrossTwoServers(usage, { rate: 1000, burst: 1000, quota: { limit: N, period: 'day' } }, N, async (ports) => {
      // either process reports what both counted (the shared table, not its own memory)
      for (const port of ports) {
        await eventually(async () => {
          const res = await fetch(`http://127.0.0.1:${port}/_admin/usage?key=shared&from=2026-06-15&to=2026-06-15`, { headers: { Authorization: 'Bearer adm' } });
          const report = (await res.json()) as { totals: { requests: number } };
          return report.totals.requests === 3 * N;
        }, 'each process reports the requests of both');
      }
    });
    const reader = dynamoUsage({ prefix });
    const recs = await reader.read({ key: 'shared', days: ['2026-06-15'] });
    assert.equal(recs.length, 1);
    assert.equal(recs[0]!.requests, 3 * N);
    assert.equal(recs[0]!.s2xx, N);
    assert.equal(recs[0]!.quotaExceeded, 2 * N);
  });

  test('two Lambda handler instances, one table, quota N: of 3N invocations exactly N succeed, and both report the same usage', async () => {
    const N = 12;
    const prefix = `lb${randomBytes(4).toString('hex')}/`;
    const folder = await makeImageFolder();
    const frozen = () => Date.parse('2026-06-15T12:00:00.000Z');
    const plans = { limited: { quota: { limit: N, period: 'month' } } };
    const keys = { 'lambda-key': { id: 'lam', plan: 'limited' } };
    const config = usageConfig(folder.root, { plans, keys, adminToken: 'adm' });
    const instances = [0, 1].map(() => {
      const usage = dynamoUsage({ prefix, flushIntervalMs: 0 }, frozen);
      let made: Awaited<ReturnType<typeof createApp>> | undefined;
      const handler = createLambdaHandler(async () => (made = await createApp(config, { usage, logger: createLogger('silent') })));
      return { handler, close: async () => made?.close() };
    });
    apps.push(...instances, { close: async () => folder.cleanup() });
    const event = (path: string, headers: Record<string, string>): HttpApiEvent => ({
      version: '2.0',
      rawPath: path,
      rawQueryString: '',
      headers: { host: 'abc.lambda-url.us-east-1.on.aws', ...headers },
      requestContext: { http: { method: 'GET', path }, stage: '$default' },
    });
    const results = await Promise.all(
      Array.from({ length: 3 * N }, (_, i) => instances[i % 2]!.handler(event('/alpha.png', { 'x-api-key': 'lambda-key' }))),
    );
    const statuses = results.map((r) => r.statusCode);
    assert.equal(statuses.filter((s) => s === 200).length, N);
    assert.equal(statuses.filter((s) => s === 429).length, 2 * N);
    const reports = await Promise.all(
      instances.map(async (inst) => {
        const res = await inst.handler(event('/_admin/usage', { authorization: 'Bearer adm' }));
        return JSON.parse(res.body ?? '') as { totals: { requests: number; quotaExceeded: number } };
      }),
    );
    for (const r of reports) {
      assert.equal(r.totals.requests, 3 * N, 'each instance shows the requests of both');
      assert.equal(r.totals.quotaExceeded, 2 * N);
    }
  });

  test('DynamoDB unreachable: failOpen serves and counts locally, failClosed answers 503; both recover without a restart and nothing is counted twice', async () => {
    const proxy: TcpProxy = await startTcpProxy(moto.port);
    try {
      const plans = { p: { rate: 1000, burst: 1000, quota: { limit: 1000, period: 'day' } } };
      const logged: string[] = [];
      const logger: UsageLogger = { info() {}, warn: (_o, m) => logged.push(`warn ${m}`), error: (_o, m) => logged.push(`error ${m}`) };
      const frozen = () => Date.parse('2026-06-15T12:00:00.000Z');
      const prefix = `out${randomBytes(4).toString('hex')}/`;
      // One store round trip per request (no leases): the fallback at the very next request.
      const viaProxy = { endpoint: proxy.url, prefix, commandTimeoutMs: 500, lease: { maxUnits: 1 } };
      const open = dynamoUsage({ ...viaProxy, onUnavailable: 'failOpen', flushIntervalMs: 60_000 }, frozen, logger);
      const closed = dynamoUsage({ ...viaProxy, onUnavailable: 'failClosed', flushIntervalMs: 60_000 }, frozen);
      const keys = { k: { id: 'kk', plan: 'p' } };
      const openApp = await usageApp({ usage: open, plans, keys });
      const closedApp = await usageApp({ usage: closed, plans, keys, root: openApp.root });
      apps.push(closedApp, openApp);
      let sent = 0;
      const get = async (app: typeof openApp) => {
        sent++;
        const res = await app.get('k', '/alpha.png');
        await res.arrayBuffer();
        return res;
      };
      for (let i = 0; i < 3; i++) {
        assert.equal((await get(openApp)).status, 200);
        assert.equal((await get(closedApp)).status, 200);
      }
      await open.flush();
      await closed.flush();

      await proxy.down();
      const down = await closedApp.get('k', '/alpha.png');
      sent++;
      assert.equal(down.status, 503);
      assert.equal(((await down.json()) as { code: string }).code, 'usage_store_unavailable');
      const served = await get(openApp);
      assert.equal(served.status, 200);
      assert.ok(served.headers.get('RateLimit'), 'limits still stated while degraded');
      assert.equal(open.available(), false);
      assert.ok(logged.some((l) => l.startsWith('error usage store (DynamoDB) unavailable')), 'logged loudly');
      for (let i = 0; i < 4; i++) assert.equal((await get(openApp)).status, 200);
      await open.flush(); // fails: the records stay in memory
      await open.flush();

      await proxy.up();
      await eventually(async () => (await get(closedApp)).status === 200, 'failClosed serves again');
      await eventually(async () => {
        await get(openApp);
        return open.available();
      }, 'failOpen back on DynamoDB');
      assert.ok(logged.includes('warn usage store (DynamoDB) available again'));
      await open.flush(); // records and the quota owed for the degraded requests
      const last = await get(closedApp);
      assert.equal(last.status, 200);
      const remaining = Number(/"day";r=(\d+)/.exec(last.headers.get('RateLimit') ?? '')?.[1]);
      await open.flush();
      await closed.flush();
      // every request of both instances (served, refused 503, degraded) counted once in the one shared record
      const recs = await open.read({ key: 'kk', days: ['2026-06-15'] });
      assert.deepEqual(await closed.read({ key: 'kk', days: ['2026-06-15'] }), recs, 'one shared record');
      assert.equal(recs[0]!.requests, sent);
      assert.equal(recs[0]!.s5xx, 1, "the one 503 of failClosed");
      assert.equal(1000 - remaining, recs[0]!.s2xx, 'every request served, the degraded ones included, used the shared quota once');
    } finally {
      await proxy.close();
    }
  });

  test('throttled by DynamoDB: failClosed answers 503, failOpen serves degraded; both recover when the throttling stops', async () => {
    const proxy = await startTcpProxy(moto.port);
    try {
      const plans = { p: { quota: { limit: 100, period: 'day' } } };
      const frozen = () => Date.parse('2026-06-15T12:00:00.000Z');
      const viaProxy = { endpoint: proxy.url, prefix: `thr${randomBytes(4).toString('hex')}/`, commandTimeoutMs: 2000 };
      const open = dynamoUsage({ ...viaProxy, onUnavailable: 'failOpen' }, frozen);
      const closed = dynamoUsage({ ...viaProxy, onUnavailable: 'failClosed' }, frozen);
      const keys = { k: { id: 'kt', plan: 'p' } };
      const openApp = await usageApp({ usage: open, plans, keys });
      const closedApp = await usageApp({ usage: closed, plans, keys, root: openApp.root });
      apps.push(closedApp, openApp);
      assert.equal((await closedApp.get('k', '/alpha.png')).status, 200);
      proxy.throttle = true;
      const before = proxy.requests.length;
      const refused = await closedApp.get('k', '/alpha.png');
      assert.equal(refused.status, 503);
      assert.equal(((await refused.json()) as { code: string }).code, 'usage_store_unavailable');
      assert.ok(proxy.requests.length - before >= 2, 'the SDK retried the throttled request once before giving up');
      const degraded = await openApp.get('k', '/alpha.png');
      assert.equal(degraded.status, 200);
      assert.equal(open.available(), false);
      proxy.throttle = false;
      assert.equal((await closedApp.get('k', '/alpha.png')).status, 200);
      assert.equal((await openApp.get('k', '/alpha.png')).status, 200);
      assert.equal(open.available(), true);
    } finally {
      await proxy.close();
    }
  });

  test('a record batch whose answer was lost is sent again with the same ClientRequestToken (DynamoDB applies it once)', async () => {
    const proxy = await startTcpProxy(moto.port);
    try {
      const usage = dynamoUsage({ endpoint: proxy.url, commandTimeoutMs: 2000, flushIntervalMs: 60_000 });
      usage.record('tok-user', { requests: 1, s2xx: 1 });
      proxy.dropAnswers = true;
      await usage.flush();
      assert.equal(usage.available(), false, 'no answer: the batch is not confirmed');
      usage.record('tok-user', { requests: 1, s2xx: 1 }); // a newer record goes in a later batch
      proxy.dropAnswers = false;
      await usage.flush();
      assert.equal(usage.available(), true);
      const tokens = proxy.requests
        .filter((r) => r.includes('DynamoDB_20120810.TransactWriteItems'))
        .map((r) => /"ClientRequestToken":"([^"]+)"/.exec(r)?.[1]);
      assert.ok(tokens.length >= 3, `transactions sent: ${tokens.length}`);
      const distinct = [...new Set(tokens)];
      assert.equal(distinct.length, 2, 'the lost batch keeps its token; the newer one has its own');
      assert.equal(tokens.filter((t) => t === distinct[0]).length, tokens.length - 1, 'every retry of the first batch carries its token');
    } finally {
      await proxy.close();
    }
  });
});
