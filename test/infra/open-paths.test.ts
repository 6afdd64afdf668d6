/**
 * Signed and public sources on AWS: API Gateway serves their routes without its key check (a
 * browser's `<img src>` has no header to send) and every other route keeps it; CloudFront sends
 * the environment's key only on keyed paths. The bundled Lambda (the real asset, in a separate
 * process, against moto) is then the gate and the meter: a signed URL counts in the usage
 * records of the key whose secret signed it, a tampered one is refused, a key source reached
 * through an open resource without a key is refused by the app itself, and a public source over
 * its anonymous quota answers 429 per client address.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import sharp from 'sharp';
import { parse as parseYaml } from 'yaml';
import { accessPaths } from '../../infra/lib/access-paths.ts';
import { buildUrl } from '../../src/client/index.ts';
import { run as usageCli } from '../../src/cli/usage.ts';
import { parseConfig } from '../../src/config/load.ts';
import { createDynamoClient, createTable } from '../../src/dynamodb.ts';
import { DynamoKeyStore } from '../../src/auth/dynamodb-store.ts';
import { usageConfigSchema } from '../../src/config/usage.ts';
import { createUsageService } from '../../src/usage/index.ts';
import { ANONYMOUS_KEY } from '../../src/usage/types.ts';
import { fakeAwsEnv, requireCommand, startMoto, type RunningService } from '../helpers/services.ts';
import { invokeBundle, METERING_TABLE, restEvent, type Result } from './lambda-run.ts';
import { synthApp, type Synthesized, type TemplateJson } from './synth.ts';

const PHOTO = '/usr/share/backgrounds/Fossa_by_Jasper_Roks.jpg';
const KEY_A = 'Abcdefghij0123456789KLMNOPqrst';
const KEY_B = 'Bbcdefghij0123456789KLMNOPqrst';

/**
 * A base config with a signed source (`s/…`), a public one (`p/…`) limited to 3 requests a day
 * per client address, a key route that shares `p/`'s resource, and the images source (key)
 * everywhere else.
 */
const MIXED = `
sources:
  gallery: { type: s3, bucket: open-images, access: signed }
  pub: { type: s3, bucket: open-images, access: public }
routes:
  - match: s/*
    source: gallery
    key: '{*}'
  - match: p/:a/:id.:ext
    source: images
    key: '{id}.{ext}'
  - match: p/*
    source: pub
    key: '{*}'
  - match: logo.png
    source: pub
  - match: partnerimages/:a/:b/:id.:ext
    source: images
    key: '{id}.{ext}'
  - match: '*'
    source: images
plans:
  partner: { rate: 1000, burst: 1000 }
  anon: { rate: 1000, burst: 1000, quota: { limit: 3, period: day } }
anonymous: { plan: anon }
usage: { flushIntervalMs: 0 }
`;

let dir: string;
const file = (name: string, text: string) => {
  const f = path.join(dir, name);
  writeFileSync(f, text);
  return f;
};
before(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'ig-open-'));
});
after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Every Lambda or mock method of an API stack: `ANY /p/{proxy+}` → whether API Gateway checks the key. */
function methods(t: TemplateJson): Record<string, { key: boolean; lambda: boolean }> {
  const res = t.Resources;
  const pathOf = (ref: any): string => {
    if (ref?.['Fn::GetAtt']?.[1] === 'RootResourceId') return '';
    const r = res[ref.Ref];
    return `${pathOf(r.Properties.ParentId)}/${r.Properties.PathPart}`;
  };
  const out: Record<string, { key: boolean; lambda: boolean }> = {};
  for (const r of Object.values(res)) {
    if (r.Type !== 'AWS::ApiGateway::Method') continue;
    out[`${r.Properties.HttpMethod} ${pathOf(r.Properties.ResourceId)}`] = { key: r.Properties.ApiKeyRequired === true, lambda: r.Properties.Integration.Type === 'AWS_PROXY' };
  }
  return out;
}

/** The distribution's behaviours in order: path pattern → the x-api-key it sends (or none). */
function behaviours(t: TemplateJson): [string, boolean][] {
  const dist = Object.values(t.Resources).find((r) => r.Type === 'AWS::CloudFront::Distribution')!.Properties.DistributionConfig;
  const keyOf = (originId: string) => {
    const o = dist.Origins.find((x: any) => x.Id === originId);
    return (o.OriginCustomHeaders ?? []).some((h: any) => h.HeaderName.toLowerCase() === 'x-api-key');
  };
  return [...(dist.CacheBehaviors ?? []).map((b: any) => [b.PathPattern, keyOf(b.TargetOriginId)]), ['default', keyOf(dist.DefaultCacheBehavior.TargetOriginId)]];
}

/** The distribution's behaviours in order: path pattern → the headers of its cache key. */
function cacheKeyHeaders(t: TemplateJson): [string, string[]][] {
  const dist = Object.values(t.Resources).find((r) => r.Type === 'AWS::CloudFront::Distribution')!.Properties.DistributionConfig;
  const headers = (b: any) => [...t.Resources[b.CachePolicyId.Ref].Properties.CachePolicyConfig.ParametersInCacheKeyAndForwardedToOrigin.HeadersConfig.Headers].sort();
  return [...(dist.CacheBehaviors ?? []).map((b: any) => [b.PathPattern, headers(b)]), ['default', headers(dist.DefaultCacheBehavior)]];
}

describe('which API Gateway resources check the key (from the generated config)', () => {
  test('the default config opens nothing: one keyed {proxy+}, CloudFront sends the key everywhere', () => {
    const s = synthApp({ 'imagegate:imagesBucket': 'images-x', 'imagegate:cloudfront': true });
    try {
      const t = s.json('imagegate-api-dev');
      const lambdas = Object.entries(methods(t)).filter(([, m]) => m.lambda);
      assert.deepEqual(lambdas, [['ANY /{proxy+}', { key: true, lambda: true }]]);
      assert.deepEqual(behaviours(t), [['default', true]]);
      assert.deepEqual(s.built.access.dev, { rootOpen: false, paths: [], keyRoutesOpen: [] });
    } finally {
      rmSync(s.outdir, { recursive: true, force: true });
    }
  });

  test('signed and public routes get resources without the key check, key routes keep it; CloudFront sends the key only where it is checked', () => {
    const s = synthApp({ 'imagegate:imagesBucket': 'images-x', 'imagegate:config': file('mixed.yaml', MIXED), 'imagegate:cloudfront': true });
    try {
      for (const stage of ['prod', 'dev']) {
        const t = s.json(`imagegate-api-${stage}`);
        const lambdas = Object.fromEntries(Object.entries(methods(t)).filter(([, m]) => m.lambda).map(([k, m]) => [k, m.key]));
        assert.deepEqual(lambdas, { 'ANY /{proxy+}': true, 'ANY /s/{proxy+}': false, 'ANY /p/{proxy+}': false, 'ANY /logo.png': false });
        // The service endpoints stay API Gateway's own keyed 404s.
        for (const p of ['/_metrics', '/_openapi.json', '/_admin', '/_admin/{proxy+}']) assert.deepEqual(methods(t)[`ANY ${p}`], { key: true, lambda: false });
        const open = Object.values(t.Resources).filter((r) => r.Type === 'AWS::ApiGateway::Method' && r.Properties.ApiKeyRequired === false);
        assert.deepEqual(open.map((m) => m.Properties.RequestParameters ?? null).sort(), [{ 'method.request.path.proxy': true }, { 'method.request.path.proxy': true }, null].sort(), '{proxy+} resources name the path parameter, the exact one none');
        assert.deepEqual(behaviours(t), [['/logo.png', false], ['/p/*', false], ['/s/*', false], ['default', true]]);
        assert.deepEqual(cacheKeyHeaders(t), [
          ['/logo.png', ['Accept', 'Access-Control-Request-Headers', 'Access-Control-Request-Method', 'Origin']],
          ['/p/*', ['Accept', 'Access-Control-Request-Headers', 'Access-Control-Request-Method', 'Origin']],
          ['/s/*', ['Accept', 'Access-Control-Request-Headers', 'Access-Control-Request-Method', 'Origin']],
          ['default', ['Accept']],
        ], 'CORS answers are cached per Origin on open paths; keyed paths keep their cache key');
        // The app reads the same config: the open resources lead only to what it guards itself.
        const cfg = parseConfig(parseYaml(s.built.configs[stage as 'prod' | 'dev']));
        assert.equal(cfg.sources.gallery!.access, 'signed');
      }
      // The key route sharing /p/{proxy+} is named at synth.
      assert.deepEqual(s.built.access.dev.keyRoutesOpen, ['p/:a/:id.:ext']);
      const warnings = s.built.api.dev!.node.metadata.filter((m) => m.type === 'aws:cdk:warning').map((m) => String(m.data));
      assert.ok(warnings.some((w) => w.includes("route 'p/:a/:id.:ext' (a key source) shares an API Gateway resource")), warnings.join('\n'));
      assert.ok(warnings.some((w) => w.includes('anonymous.trustedProxies is empty')), 'the anonymous plan behind CloudFront needs the edge addresses trusted');
    } finally {
      rmSync(s.outdir, { recursive: true, force: true });
    }
  });

  test('a public catch-all opens the root; key prefixes and the service endpoints keep the key check, in API Gateway and CloudFront', () => {
    const base = `
imagesSource: { access: public }
sources:
  private: { type: s3, bucket: images-x }
routes:
  - match: thumbs/public/*
    source: images
  - match: thumbs/*
    source: private
  - match: '*'
    source: images
plans:
  anon: { rate: 10, quota: { limit: 1000, period: day } }
anonymous: { plan: anon, trustedProxies: [130.176.0.0/16] }
`;
    for (const serviceEndpoints of [false, true]) {
      const s = synthApp({ 'imagegate:imagesBucket': 'images-x', 'imagegate:config': file('root.yaml', base), 'imagegate:cloudfront': true, 'imagegate:serviceEndpoints': serviceEndpoints });
      try {
        const t = s.json('imagegate-api-dev');
        const m = methods(t);
        assert.deepEqual(m['ANY /{proxy+}'], { key: false, lambda: true });
        assert.deepEqual(m['ANY /thumbs/{proxy+}'], { key: true, lambda: true });
        assert.deepEqual(m['ANY /thumbs/public/{proxy+}'], { key: false, lambda: true }, 'more specific than the keyed thumbs/');
        for (const p of ['/_metrics', '/_openapi.json', '/_admin', '/_admin/{proxy+}']) {
          assert.deepEqual(m[`ANY ${p}`], { key: true, lambda: serviceEndpoints }, `${p} keeps the key check with serviceEndpoints=${serviceEndpoints}`);
        }
        assert.deepEqual(behaviours(t), [
          ['/_metrics', true],
          ['/_openapi.json', true],
          ['/_admin', true],
          ['/_admin/*', true],
          ['/thumbs/public/*', false],
          ['/thumbs/*', true],
          ['default', false],
        ]);
        const warnings = s.built.api.dev!.node.metadata.filter((x) => x.type === 'aws:cdk:warning');
        assert.deepEqual(warnings, [], 'an anonymous plan with trusted proxies, no key route on an open resource');
      } finally {
        rmSync(s.outdir, { recursive: true, force: true });
      }
    }
  });

  test('route patterns to resources: leading literal segments, exact paths, base path; only what differs from its enclosing resource', () => {
    const sources = { k: {}, o: { access: 'public' as const }, g: { access: 'signed' as const } };
    const r = (match: string, source: string) => ({ match, source });
    assert.deepEqual(accessPaths({ sources, routes: [r('logo.png', 'o'), r('a/b/:id.png', 'g'), r('a/:x/*', 'k'), r('c/d/e.png', 'k'), r('*', 'k')] }), {
      rootOpen: false,
      paths: [
        { segments: ['a', 'b'], proxy: true, open: true },
        { segments: ['logo.png'], proxy: false, open: true },
      ],
      keyRoutesOpen: [],
    });
    // `a/{proxy+}` is open, so the keyed exact `a/k.png` under it needs its own resource.
    assert.deepEqual(accessPaths({ server: { basePath: '/img' }, sources, routes: [r('a/k.png', 'k'), r('a/*', 'o'), r('*', 'k')] }).paths, [
      { segments: ['img', 'a', 'k.png'], proxy: false, open: false },
      { segments: ['img', 'a'], proxy: true, open: true },
    ]);
    // A key route without a literal first segment next to an open catch-all: guarded by the app alone, and said so.
    assert.deepEqual(accessPaths({ sources, routes: [r(':t/private/*', 'k'), r('*', 'o')] }), { rootOpen: true, paths: [], keyRoutesOpen: [':t/private/*'] });
    // A segment API Gateway cannot name (`~`) ends the literal part.
    assert.deepEqual(accessPaths({ sources, routes: [r('x/~y/*', 'o'), r('*', 'k')] }).paths, [{ segments: ['x'], proxy: true, open: true }]);
  });

  test('cfn-lint passes on the API stack with open resources and their CloudFront behaviours', { skip: requireCommand('cfn-lint') }, () => {
    const s = synthApp({ 'imagegate:imagesBucket': 'images-x', 'imagegate:config': file('lint.yaml', MIXED), 'imagegate:cloudfront': true });
    try {
      const f = file('api-dev.json', JSON.stringify(s.json('imagegate-api-dev')));
      const res = spawnSync('cfn-lint', ['--format', 'parseable', '--', f], { encoding: 'utf8', timeout: 180_000 });
      assert.equal(res.status, 0, `cfn-lint found problems:\n${res.stdout}${res.stderr}`);
    } finally {
      rmSync(s.outdir, { recursive: true, force: true });
    }
  });
});

describe('the bundled Lambda on open resources: the app is the gate and the meter', { skip: requireCommand('moto_server') ?? (existsSync(PHOTO) ? undefined : 'photo missing') }, () => {
  let moto: RunningService;
  let synth: Synthesized;
  let work: string;
  const host = 'https://abc123defg.execute-api.eu-west-1.amazonaws.com/dev-alice';

  before(async () => {
    fakeAwsEnv();
    moto = await startMoto();
    work = mkdtempSync(path.join(os.tmpdir(), 'ig-open-lambda-'));
    mkdirSync(path.join(work, 'home'));
    // Behind CloudFront: its origin-facing addresses are trusted proxies (one range stands for them).
    const config = MIXED.replace('anonymous: { plan: anon }', 'anonymous: { plan: anon, trustedProxies: [130.176.0.0/16] }');
    synth = synthApp({ 'imagegate:name': 'open', 'imagegate:imagesBucket': 'open-images', 'imagegate:architecture': 'x86_64', 'imagegate:config': file('bundle.yaml', config) }, { realBundle: true });
    const s3 = new S3Client({ endpoint: moto.url, forcePathStyle: true, region: 'us-east-1' });
    const sm = new SecretsManagerClient({ endpoint: moto.url, region: 'us-east-1' });
    const dynamo = createDynamoClient({ endpoint: moto.url, region: 'us-east-1', timeoutMs: 10_000 });
    try {
      await createTable(dynamo, METERING_TABLE);
      await s3.send(new CreateBucketCommand({ Bucket: 'open-images' }));
      await s3.send(new PutObjectCommand({ Bucket: 'open-images', Key: '67286576.jpeg', Body: readFileSync(PHOTO), ContentType: 'image/jpeg' }));
      for (const [slot, key] of [['a', KEY_A], ['b', KEY_B]]) {
        await sm.send(new CreateSecretCommand({ Name: `open-global-dev-api-key-${slot}`, SecretString: JSON.stringify({ api_key: key }) }));
      }
    } finally {
      s3.destroy();
      sm.destroy();
      dynamo.destroy();
    }
  });
  after(async () => {
    await moto?.stop();
    if (synth) rmSync(synth.outdir, { recursive: true, force: true });
    if (work) rmSync(work, { recursive: true, force: true });
  });

  /** A REST event for a URL built by the client, through the resource API Gateway picks for it. */
  const eventFor = (url: string, resource: string, headers: Record<string, string> = {}, sourceIp?: string) => {
    const u = new URL(url);
    const p = u.pathname.replace(/^\/dev-alice\//, '');
    return restEvent(p, Object.fromEntries(u.searchParams), headers, { resource, sourceIp });
  };
  const run = (events: unknown[]) => invokeBundle(work, synth.built.bundle.dir, 'imagegate.dev.yaml', events, moto.url).results;
  const code = (r: Result) => (JSON.parse(r.body) as { code?: string }).code;

  test('a URL signed with a key\'s secret is served without a header and counted for that key; tampered, foreign and unsigned ones are refused', async () => {
    const admin = new DynamoKeyStore({ table: METERING_TABLE, endpoint: moto.url, region: 'us-east-1', prefix: '' }, Date.now);
    await admin.create({ id: 'partner', plan: 'partner' });
    const { secret } = await admin.createSecret('partner');
    await admin.create({ id: 'other', plan: 'partner' });
    await admin.close();

    const signed = buildUrl('s/67286576.jpeg', { w: 100, fm: 'webp' }, { baseUrl: host, signWith: { token: secret, keyId: 'partner' } });
    const tampered = signed.replace('w=100', 'w=101');
    const foreign = signed.replace('ixkey=partner', 'ixkey=other');
    const results = run([
      eventFor(signed, '/s/{proxy+}'),
      eventFor(signed, '/s/{proxy+}'),
      eventFor(tampered, '/s/{proxy+}'),
      eventFor(foreign, '/s/{proxy+}'),
      eventFor(`${host}/s/67286576.jpeg?w=100&fm=webp`, '/s/{proxy+}'),
    ]);
    const [first, second, tamperedR, foreignR, unsigned] = results as Result[];
    for (const r of [first!, second!]) {
      assert.equal(r.statusCode, 200, r.body);
      const meta = await sharp(Buffer.from(r.body, 'base64')).metadata();
      assert.equal(meta.format, 'webp');
      assert.equal(meta.width, 100);
    }
    assert.equal(tamperedR!.statusCode, 403);
    assert.equal(code(tamperedR!), 'invalid_signature');
    assert.equal(foreignR!.statusCode, 403, 'one key\'s signature under another key\'s id');
    assert.equal(unsigned!.statusCode, 403);

    // The owning key's usage records in the table: exactly the two images served, both signed.
    const usage = createUsageService(usageConfigSchema.parse({ store: 'dynamodb', table: METERING_TABLE, endpoint: moto.url, region: 'us-east-1' }));
    try {
      const today = new Date().toISOString().slice(0, 10);
      const [partner] = await usage.read({ key: 'partner', days: [today] });
      assert.equal(partner?.requests, 2);
      assert.equal(partner?.signed, 2);
      assert.equal(partner?.s2xx, 2);
      assert.deepEqual(await usage.read({ key: 'other', days: [today] }), [], 'nothing is counted for the key named by a forged ixkey');
    } finally {
      await usage.close();
    }
  });

  test('a key source reached through an open resource: 403 from the app without a valid X-API-Key, whatever requestContext says', () => {
    // As if API Gateway had checked a key: identity names one, the header is absent.
    const forged = restEvent('p/67/67286576.jpeg', { w: '80' }, {}, { resource: '/p/{proxy+}' }) as { requestContext: { identity: Record<string, unknown> } };
    Object.assign(forged.requestContext.identity, { apiKey: KEY_A, apiKeyId: 'k3y1d' });
    const results = run([
      restEvent('p/67/67286576.jpeg', { w: '80' }, {}, { resource: '/p/{proxy+}' }),
      forged,
      restEvent('p/67/67286576.jpeg', { w: '80' }, { 'X-API-KEY': 'Wrongwrongwrongwrongwrongwrong' }, { resource: '/p/{proxy+}' }),
      restEvent('p/67/67286576.jpeg', { w: '80' }, { 'X-API-KEY': KEY_A }, { resource: '/p/{proxy+}' }),
    ]);
    assert.equal(results[0]!.statusCode, 403, results[0]!.body);
    assert.deepEqual(JSON.parse(results[0]!.body), { message: 'Forbidden' }, 'the app\'s answer for a missing key');
    assert.equal(results[1]!.statusCode, 403, 'requestContext.identity is never read as a key');
    assert.equal(results[2]!.statusCode, 403);
    assert.equal(results[3]!.statusCode, 200, 'the app checks the key itself');
  });

  test('a public source: anonymous, limited per client address (sourceIp), never by a forwarding header from an untrusted peer', () => {
    const pub = (ip: string, headers: Record<string, string> = {}) => restEvent('p/67286576.jpeg', { w: '60' }, headers, { resource: '/p/{proxy+}', sourceIp: ip });
    const results = run([
      pub('198.51.100.1'),
      pub('198.51.100.1'),
      pub('198.51.100.1'),
      pub('198.51.100.1'),
      pub('198.51.100.1', { 'X-Forwarded-For': '192.0.2.99' }),
      pub('198.51.100.2'),
    ]);
    assert.deepEqual(results.map((r) => r.statusCode), [200, 200, 200, 429, 429, 200]);
    assert.equal(code(results[3]!), 'quota_exceeded');
    assert.equal(results[0]!.headers['cache-control']?.includes('public'), true);
  });

  test('behind CloudFront (a trusted peer): the viewer is the right-most untrusted X-Forwarded-For address, whatever it was prefixed with', () => {
    const viaEdge = (xff: string) => restEvent('p/67286576.jpeg', { w: '60' }, { 'X-Forwarded-For': xff }, { resource: '/p/{proxy+}', sourceIp: '130.176.1.1' });
    const results = run([
      viaEdge('192.0.2.10'),
      viaEdge('203.0.113.1, 192.0.2.10'), // a viewer's own header: CloudFront appends the address it saw
      viaEdge('192.0.2.10, 130.176.1.1'), // and if API Gateway appends the edge's, it is skipped as trusted
      viaEdge('192.0.2.10'),
      viaEdge('192.0.2.11'),
    ]);
    assert.deepEqual(results.map((r) => r.statusCode), [200, 200, 200, 429, 200], 'one viewer limited on its own, not the edge');
  });

  test('anonymous traffic is recorded under the anonymous key, never under the environment\'s', async () => {
    const usage = createUsageService(usageConfigSchema.parse({ store: 'dynamodb', table: METERING_TABLE, endpoint: moto.url, region: 'us-east-1' }));
    try {
      const today = new Date().toISOString().slice(0, 10);
      const [anon] = await usage.read({ key: ANONYMOUS_KEY, days: [today] });
      assert.equal(anon?.requests, 11);
      assert.equal(anon?.quotaExceeded, 3);
      const [envKey] = await usage.read({ key: 'dev-a', days: [today] });
      assert.equal(envKey?.requests, 1, 'only the request that sent the environment key');
    } finally {
      await usage.close();
    }
  });

  test('imagegate usage on the generated config prints the signed requests per key and the anonymous ones', async () => {
    const out: string[] = [];
    const io = { out: (l: string) => out.push(l), err: (l: string) => out.push(l), env: process.env };
    // What an operator exports (docs/deploy-aws.md): the table's name; here also moto's endpoint.
    const saved = { ...process.env };
    process.env.IMAGEGATE_METERING_TABLE = METERING_TABLE;
    process.env.AWS_ENDPOINT_URL_DYNAMODB = moto.url;
    try {
      assert.equal(await usageCli(['--config', path.join(synth.built.bundle.dir, 'imagegate.dev.yaml')], io), 0, out.join('\n'));
    } finally {
      process.env = saved;
    }
    const text = out.join('\n');
    assert.match(text, /QUOTA 429\s+SIGNED\n/);
    assert.match(text, /\d{4}-\d\d-\d\d\s+partner\s+2\s+2\s+(\S+\s+){9}2\n/, text);
    assert.match(text, /\s~anonymous\s+11\s+8\s+0\s+3\s+0\s+(\S+ \S+|\S+)\s+\d+\s+\d+\s+0\s+3\s+0\n/, text);
  });
});
