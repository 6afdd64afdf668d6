/**
 * The deployable artifacts themselves: `cdk synth` through the real CLI with no AWS credentials,
 * cfn-lint on every template it wrote, and the bundled Lambda (from cdk.out, not the source)
 * answering API Gateway REST events in a separate Node process.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import sharp from 'sharp';
import { fakeAwsEnv, inCI, requireCommand, startMoto, type RunningService } from '../helpers/services.ts';
import { infraDir } from './synth.ts';

const repoRoot = path.resolve(infraDir, '..');
const API_KEY = 'Abcdefghij0123456789KLMNOPqrst';
const PHOTO = '/usr/share/backgrounds/Fossa_by_Jasper_Roks.jpg';
const BIG_PHOTO = '/usr/share/backgrounds/Kleiber_by_Lukas_Baubkus.jpg';
const photosMissing = !existsSync(PHOTO) || !existsSync(BIG_PHOTO);
if (photosMissing && inCI) throw new Error(`${PHOTO} and ${BIG_PHOTO} are required under CI (apt-get install lomiri-wallpapers-20.04)`);

/** Environment with every credential source removed: no keys, no profile files, no metadata service. */
function offlineEnv(home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(AWS_|CDK_|NODE_OPTIONS$)/.test(k)) env[k] = v;
  return {
    ...env,
    HOME: home,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: path.join(home, 'no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: path.join(home, 'no-aws-credentials'),
  };
}

/** A REST API (payload 1.0) proxy event as API Gateway sends it for GET /<stage>/<path>. */
function restEvent(p: string, query: Record<string, string>, headers: Record<string, string>): unknown {
  const stage = 'dev-alice';
  const allHeaders: Record<string, string> = {
    Accept: 'image/avif,image/webp,image/apng,image/*,*/*;q=0.8',
    Host: 'abc123defg.execute-api.eu-west-1.amazonaws.com',
    'User-Agent': 'python-requests/2.31.0',
    'X-Amzn-Trace-Id': 'Root=1-6745a1b2-0123456789abcdef01234567',
    'X-Forwarded-For': '203.0.113.7',
    'X-Forwarded-Port': '443',
    'X-Forwarded-Proto': 'https',
    ...headers,
  };
  const hasQuery = Object.keys(query).length > 0;
  return {
    resource: '/{proxy+}',
    path: `/${p}`,
    httpMethod: 'GET',
    headers: allHeaders,
    multiValueHeaders: Object.fromEntries(Object.entries(allHeaders).map(([k, v]) => [k, [v]])),
    queryStringParameters: hasQuery ? query : null,
    multiValueQueryStringParameters: hasQuery ? Object.fromEntries(Object.entries(query).map(([k, v]) => [k, [v]])) : null,
    pathParameters: { proxy: p },
    stageVariables: null,
    requestContext: {
      resourceId: 'a1b2c3',
      resourcePath: '/{proxy+}',
      httpMethod: 'GET',
      extendedRequestId: 'BxKp5FZxDoEFq8A=',
      requestTime: '26/Nov/2026:02:00:00 +0000',
      path: `/${stage}/${p}`,
      accountId: '123456789012',
      protocol: 'HTTP/1.1',
      stage,
      domainPrefix: 'abc123defg',
      requestTimeEpoch: 1795658400000,
      requestId: 'c6af9ac6-7b61-11e6-9a41-93e8deadbeef',
      identity: { sourceIp: '203.0.113.7', userAgent: 'python-requests/2.31.0', apiKey: headers['X-API-KEY'] ?? null, apiKeyId: 'k3y1d' },
      domainName: 'abc123defg.execute-api.eu-west-1.amazonaws.com',
      apiId: 'abc123defg',
    },
    body: null,
    isBase64Encoded: false,
  };
}

interface Result {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
  isBase64Encoded: boolean;
}

const cfnLintSkip = requireCommand('cfn-lint');
const motoSkip = requireCommand('moto_server');

describe('cdk synth (CLI, offline, no credentials), cfn-lint and the bundled Lambda', { skip: photosMissing ? 'photos missing' : undefined }, () => {
  let work: string;
  let outdir: string;
  let templates: string[];
  let assetDir: string;
  let moto: RunningService | undefined;

  before(async () => {
    work = mkdtempSync(path.join(os.tmpdir(), 'imagegate-synth-'));
    outdir = path.join(work, 'cdk.out');
    const images = path.join(work, 'images');
    mkdirSync(images);
    copyFileSync(PHOTO, path.join(images, '67286576.jpeg'));
    copyFileSync(BIG_PHOTO, path.join(images, 'kleiber.jpg'));
    const config = path.join(work, 'lambda.yaml');
    writeFileSync(
      config,
      [
        'sources:',
        `  images: { type: fs, root: '${images}' }`,
        'routes:',
        '  - match: partnerimages/:a/:b/:id.:ext',
        '    source: images',
        "    key: '{id}.{ext}'",
        'keys:',
        `  - id: dev`,
        `    sha256: ${createHash('sha256').update(API_KEY).digest('hex')}`,
        'lambda:',
        '  largeResponseBucket: large-responses',
        '  largeResponsePrefix: big/',
        '  largeResponseUrlTtlSeconds: 60',
        '',
      ].join('\n'),
    );

    const home = path.join(work, 'home');
    mkdirSync(home);
    const res = spawnSync(
      path.join(repoRoot, 'node_modules/.bin/cdk'),
      [
        'synth',
        '--quiet',
        '--no-notices',
        '--no-version-reporting',
        '-o',
        outdir,
        '-c',
        'imagegate:stages=dev-alice',
        '-c',
        'imagegate:cloudfront=true',
        '-c',
        `imagegate:config=${config}`,
      ],
      { cwd: infraDir, env: offlineEnv(home), encoding: 'utf8', timeout: 180_000 },
    );
    assert.equal(res.status, 0, `cdk synth failed:\n${res.stdout}\n${res.stderr}`);
    templates = readdirSync(outdir).filter((f) => f.endsWith('.template.json')).map((f) => path.join(outdir, f));
    const tpl = JSON.parse(readFileSync(path.join(outdir, 'imagegate-api-dev-alice.template.json'), 'utf8'));
    const fn = Object.values(tpl.Resources as Record<string, any>).find((r) => r.Type === 'AWS::Lambda::Function');
    assetDir = path.join(outdir, fn.Metadata['aws:asset:path']);
  });

  after(async () => {
    await moto?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test('cdk synth wrote every stack without credentials', () => {
    assert.deepEqual(templates.map((t) => path.basename(t)).sort(), [
      'imagegate-api-dev-alice.template.json',
      'imagegate-api-dev.template.json',
      'imagegate-api-prod.template.json',
      'imagegate-global-dev.template.json',
      'imagegate-global-prod.template.json',
    ]);
    const alice = readFileSync(path.join(outdir, 'imagegate-api-dev-alice.template.json'), 'utf8');
    assert.match(alice, /AWS::CloudFront::Distribution/);
  });

  test('cfn-lint passes on every synthesized template', { skip: cfnLintSkip }, () => {
    const res = spawnSync('cfn-lint', ['--format', 'parseable', '--', ...templates], { encoding: 'utf8', timeout: 180_000 });
    assert.equal(res.status, 0, `cfn-lint found problems:\n${res.stdout}${res.stderr}`);
    assert.equal(res.stdout.trim(), '');
  });

  test('the bundled Lambda from cdk.out answers REST proxy events with the right image, base64 encoded', { skip: motoSkip }, async () => {
    fakeAwsEnv();
    moto = await startMoto();
    const s3 = new S3Client({ endpoint: moto.url, forcePathStyle: true, region: 'us-east-1' });
    await s3.send(new CreateBucketCommand({ Bucket: 'large-responses' }));
    s3.destroy();

    // Outside the repository: nothing can be resolved from the project's node_modules.
    assert.ok(!assetDir.startsWith(repoRoot));
    const events = [
      restEvent('partnerimages/67/28/67286576.jpeg', { w: '200', fm: 'webp' }, { 'X-API-KEY': API_KEY }),
      restEvent('partnerimages/67/28/67286576.jpeg', {}, { 'X-API-KEY': API_KEY, Accept: 'image/jpeg' }),
      restEvent('partnerimages/67/28/67286576.jpeg', { w: '120' }, {}),
      restEvent('partnerimages/1/2/kleiber.jpg', { q: '100', fm: 'jpg' }, { 'X-API-KEY': API_KEY }),
    ];
    const eventsFile = path.join(work, 'events.json');
    const outFile = path.join(work, 'results.json');
    writeFileSync(eventsFile, JSON.stringify(events));
    const runner = path.join(work, 'invoke.mjs');
    writeFileSync(
      runner,
      `import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
const [bundle, eventsFile, outFile] = process.argv.slice(2);
const mod = await import(pathToFileURL(bundle).href);
const results = [];
for (const event of JSON.parse(readFileSync(eventsFile, 'utf8'))) results.push(await mod.handler(event, { awsRequestId: 'test' }));
const sharpPath = createRequire(bundle).resolve('sharp');
writeFileSync(outFile, JSON.stringify({ sharpPath, results }));
`,
    );
    const home = path.join(work, 'home');
    const res = spawnSync(process.execPath, [runner, path.join(assetDir, 'index.mjs'), eventsFile, outFile], {
      cwd: assetDir,
      encoding: 'utf8',
      timeout: 120_000,
      env: {
        ...offlineEnv(home),
        IMAGEGATE_CONFIG: path.join(assetDir, 'imagegate.config.yaml'),
        AWS_ACCESS_KEY_ID: 'testing',
        AWS_SECRET_ACCESS_KEY: 'testing',
        AWS_REGION: 'us-east-1',
        AWS_ENDPOINT_URL_S3: moto.url,
      },
    });
    assert.equal(res.status, 0, `bundled handler failed:\n${res.stdout}\n${res.stderr}`);
    const { sharpPath, results } = JSON.parse(readFileSync(outFile, 'utf8')) as { sharpPath: string; results: Result[] };
    assert.ok(sharpPath.startsWith(path.join(assetDir, 'node_modules', 'sharp')), `sharp loaded from ${sharpPath}`);

    const [webp, original, noKey, big] = results as [Result, Result, Result, Result];
    assert.equal(webp.statusCode, 200, webp.body);
    assert.equal(webp.isBase64Encoded, true);
    assert.equal(webp.headers['content-type'], 'image/webp');
    const webpMeta = await sharp(Buffer.from(webp.body, 'base64')).metadata();
    assert.equal(webpMeta.format, 'webp');
    assert.equal(webpMeta.width, 200);
    assert.equal(webpMeta.height, Math.round((200 * 2304) / 4096));

    assert.equal(original.statusCode, 200, original.body);
    assert.equal(original.isBase64Encoded, true);
    assert.equal(original.headers['content-type'], 'image/jpeg');
    const jpegMeta = await sharp(Buffer.from(original.body, 'base64')).metadata();
    assert.equal(jpegMeta.format, 'jpeg');
    assert.equal(jpegMeta.width, 4096);

    assert.equal(noKey.statusCode, 403);
    assert.equal(noKey.isBase64Encoded, false);

    // 9 MB of JPEG: over Lambda's 6 MB limit, so it is redirected to the large-response bucket.
    assert.equal(big.statusCode, 307, big.body);
    assert.equal(big.headers['cache-control'], 'no-store');
    const fetched = await fetch(big.headers.location!);
    assert.equal(fetched.status, 200);
    assert.equal(fetched.headers.get('content-type'), 'image/jpeg');
    const bigMeta = await sharp(Buffer.from(await fetched.arrayBuffer())).metadata();
    assert.equal(bigMeta.format, 'jpeg');
    assert.equal(bigMeta.width, 6028);
  });
});
