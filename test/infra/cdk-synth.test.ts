/**
 * The deployable artifacts themselves: `cdk synth` through the real CLI with no AWS credentials,
 * cfn-lint on every template it wrote (warnings included), and the bundled Lambda (from cdk.out,
 * not the source) answering API Gateway REST events in a separate Node process, against moto's
 * S3 and Secrets Manager with the bucket and secrets the context names.
 */
import { createDynamoClient, createTable } from '../../src/dynamodb.ts';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import sharp from 'sharp';
import { fakeAwsEnv, inCI, requireCommand, startMoto, type RunningService } from '../helpers/services.ts';
import { run as infraCli } from '../../src/cli/infra.ts';
import { nativePackages } from '../../infra/lib/bundle.ts';
import { infraDir, synthApp } from './synth.ts';
import { invokeBundle, METERING_TABLE, offlineEnv, restEvent, type Result } from './lambda-run.ts';

const repoRoot = path.resolve(infraDir, '..');
const KEY_A = 'Abcdefghij0123456789KLMNOPqrst';
const KEY_B = 'Bbcdefghij0123456789KLMNOPqrst';
const PHOTO = '/usr/share/backgrounds/Fossa_by_Jasper_Roks.jpg';
const BIG_PHOTO = '/usr/share/backgrounds/Kleiber_by_Lukas_Baubkus.jpg';
const photosMissing = !existsSync(PHOTO) || !existsSync(BIG_PHOTO);
if (photosMissing && inCI) throw new Error(`${PHOTO} and ${BIG_PHOTO} are required under CI (apt-get install lomiri-wallpapers-20.04)`);

const cfnLintSkip = requireCommand('cfn-lint');
const motoSkip = requireCommand('moto_server');


/** The images bucket and the key secrets of an app, and the metering table, in moto. */
async function seed(motoUrl: string, app: string, bucket: string, keys: { a: string; b: string }): Promise<void> {
  const s3 = new S3Client({ endpoint: motoUrl, forcePathStyle: true, region: 'us-east-1' });
  const sm = new SecretsManagerClient({ endpoint: motoUrl, region: 'us-east-1' });
  const dynamo = createDynamoClient({ endpoint: motoUrl, region: 'us-east-1', timeoutMs: 10_000 });
  try {
    await createTable(dynamo, METERING_TABLE).catch((err) => {
      if ((err as Error).name !== 'ResourceInUseException') throw err;
    });
    for (const b of [bucket, 'large-responses']) await s3.send(new CreateBucketCommand({ Bucket: b })).catch(() => undefined);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: '67286576.jpeg', Body: readFileSync(PHOTO), ContentType: 'image/jpeg' }));
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'kleiber.jpg', Body: readFileSync(BIG_PHOTO), ContentType: 'image/jpeg' }));
    for (const slot of ['a', 'b'] as const) {
      await sm.send(new CreateSecretCommand({ Name: `${app}-global-dev-api-key-${slot}`, SecretString: JSON.stringify({ api_key: keys[slot] }) }));
    }
  } finally {
    s3.destroy();
    sm.destroy();
    dynamo.destroy();
  }
}

const image = (key: string, query: Record<string, string> = { w: '200', fm: 'webp' }) => restEvent('partnerimages/67/28/67286576.jpeg', query, { 'X-API-KEY': key });

async function assertWebp(r: Result): Promise<void> {
  assert.equal(r.statusCode, 200, r.body);
  assert.equal(r.isBase64Encoded, true);
  const meta = await sharp(Buffer.from(r.body, 'base64')).metadata();
  assert.equal(meta.format, 'webp');
  assert.equal(meta.width, 200);
}

describe('cdk synth (CLI, offline, no credentials), cfn-lint and the bundled Lambda', { skip: photosMissing ? 'photos missing' : undefined }, () => {
  let work: string;
  let outdir: string;
  let templates: string[];
  let assetDir: string;
  let moto: RunningService | undefined;

  before(async () => {
    work = mkdtempSync(path.join(os.tmpdir(), 'imagegate-synth-'));
    outdir = path.join(work, 'cdk.out');
    const home = path.join(work, 'home');
    mkdirSync(home);
    // A custom app name and bucket; x86_64 so this machine can run the bundle.
    const res = spawnSync(
      path.join(repoRoot, 'node_modules/.bin/cdk'),
      ['synth', '--quiet', '--no-notices', '--no-version-reporting', '-o', outdir, '-c', 'imagegate:name=acme', '-c', 'imagegate:imagesBucket=acme-images',
        '-c', 'imagegate:architecture=x86_64', '-c', 'imagegate:stages=dev-alice', '-c', 'imagegate:cloudfront=true'],
      { cwd: infraDir, env: offlineEnv(home), encoding: 'utf8', timeout: 180_000 },
    );
    assert.equal(res.status, 0, `cdk synth failed:\n${res.stdout}\n${res.stderr}`);
    templates = readdirSync(outdir).filter((f) => f.endsWith('.template.json')).map((f) => path.join(outdir, f));
    const tpl = JSON.parse(readFileSync(path.join(outdir, 'acme-api-dev-alice.template.json'), 'utf8'));
    const fn = Object.values(tpl.Resources as Record<string, any>).find((r) => r.Type === 'AWS::Lambda::Function' && r.Properties.FunctionName === 'acme-dev-alice');
    assetDir = path.join(outdir, fn.Metadata['aws:asset:path']);
  });

  after(async () => {
    await moto?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test('cdk synth wrote every stack without credentials, named after the app', () => {
    assert.deepEqual(templates.map((t) => path.basename(t)).sort(), [
      'acme-api-dev-alice.template.json',
      'acme-api-dev.template.json',
      'acme-api-prod.template.json',
      'acme-global-dev.template.json',
      'acme-global-prod.template.json',
    ]);
    assert.match(readFileSync(path.join(outdir, 'acme-api-dev-alice.template.json'), 'utf8'), /AWS::CloudFront::Distribution/);
  });

  test('cfn-lint passes on every synthesized template, warnings included', { skip: cfnLintSkip }, () => {
    const res = spawnSync('cfn-lint', ['--format', 'parseable', '--', ...templates], { encoding: 'utf8', timeout: 180_000 });
    assert.equal(res.status, 0, `cfn-lint found problems:\n${res.stdout}${res.stderr}`);
    assert.equal(res.stdout.trim(), '');
  });

  test('the bundled Lambda reads the bucket and secrets the context names: images, both key slots, no metrics or OpenAPI, large responses', { skip: motoSkip }, async () => {
    fakeAwsEnv();
    moto = await startMoto();
    await seed(moto.url, 'acme', 'acme-images', { a: KEY_A, b: KEY_B });
    // Outside the repository: nothing can be resolved from the project's node_modules.
    assert.ok(!assetDir.startsWith(repoRoot));
    const { sharpPath, results } = invokeBundle(work, assetDir, 'imagegate.dev.yaml', [
      image(KEY_A),
      image(KEY_B),
      image('Wrongwrongwrongwrongwrongwrong'),
      restEvent('partnerimages/67/28/67286576.jpeg', { w: '120' }, {}),
      restEvent('_metrics', {}, { 'X-API-KEY': KEY_A }),
      restEvent('_openapi.json', {}, { 'X-API-KEY': KEY_A }),
      restEvent('_admin/', {}, { 'X-API-KEY': KEY_A }),
      restEvent('_admin/usage', {}, { 'X-API-KEY': KEY_A }),
      restEvent('partnerimages/1/2/kleiber.jpg', { q: '100', fm: 'jpg' }, { 'X-API-KEY': KEY_A }),
      restEvent('partnerimages/1/2/missing.jpg', {}, { 'X-API-KEY': KEY_A }),
      restEvent('_health', {}, { 'X-API-KEY': KEY_A }),
      restEvent('partnerimages/67/28/67286576.jpeg', { w: '200', txt: 'Hello', 'txt-size': '30', fm: 'png' }, { 'X-API-KEY': KEY_A }),
    ], moto.url);
    assert.ok(sharpPath.startsWith(path.join(assetDir, 'node_modules', 'sharp')), `sharp loaded from ${sharpPath}`);
    const [a, b, wrong, noKey, metrics, openapi, admin, adminUsage, big, missing, health, text] = results as Result[];
    assert.equal(health!.statusCode, 200, 'the health check stays');
    assert.equal(text!.statusCode, 200, 'txt draws with the fonts the bundle ships');
    await assertWebp(a!);
    await assertWebp(b!);
    assert.equal(wrong!.statusCode, 403);
    assert.equal(noKey!.statusCode, 403);
    // server.internalEndpoints: off in the generated config; API Gateway answers /_admin itself
    // (stacks.test.ts), and behind it the dashboard's data has no admin token to open it.
    for (const r of [metrics, openapi]) assert.equal(r!.statusCode, 404, `service endpoint: ${r!.body}`);
    assert.equal(adminUsage!.statusCode, 403);
    assert.equal(JSON.parse(adminUsage!.body).code, 'admin_disabled');
    assert.equal(admin!.headers['content-type']?.startsWith('text/html'), true, 'the page alone, no data');
    assert.equal(missing!.statusCode, 404);
    // 9 MB of JPEG: over Lambda's 6 MB limit, so it is redirected to the large-response bucket.
    assert.equal(big!.statusCode, 307, big!.body);
    const fetched = await fetch(big!.headers.location!);
    assert.equal(fetched.status, 200);
    assert.equal((await sharp(Buffer.from(await fetched.arrayBuffer())).metadata()).width, 6028);
  });

  test('key rotation at the Lambda: both slots before and during; after renew-key on the retired slot, its old value is refused', { skip: motoSkip }, async () => {
    assert.ok(moto, 'moto started by the previous test');
    const before = invokeBundle(work, assetDir, 'imagegate.dev.yaml', [image(KEY_A), image(KEY_B)], moto!.url).results;
    assert.deepEqual(before.map((r) => r.statusCode), [200, 200]);
    // Slot a retired (deployed with apiKeySlots=b): renew its secret.
    const env = { ...process.env };
    process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = moto!.url;
    process.env.AWS_REGION = 'us-east-1';
    const log = console.log;
    console.log = () => undefined;
    try {
      assert.equal(await infraCli(['renew-key', '--name', 'acme', '--env', 'dev', '--slot', 'a']), 0);
      assert.equal(await infraCli(['renew-key', '--name', 'acme', '--env', 'dev', '--slot', 'c']), 2);
    } finally {
      console.log = log;
      process.env = env;
    }
    const after = invokeBundle(work, assetDir, 'imagegate.dev.yaml', [image(KEY_A), image(KEY_B)], moto!.url).results;
    assert.deepEqual(after.map((r) => r.statusCode), [403, 200], 'the retired value is refused, the live one served');
    const sm = new SecretsManagerClient({ endpoint: moto!.url, region: 'us-east-1' });
    const { GetSecretValueCommand } = await import('@aws-sdk/client-secrets-manager');
    const renewed = JSON.parse((await sm.send(new GetSecretValueCommand({ SecretId: 'acme-global-dev-api-key-a' }))).SecretString!).api_key as string;
    sm.destroy();
    assert.match(renewed, /^[A-Za-z0-9]{30}$/);
    const third = invokeBundle(work, assetDir, 'imagegate.dev.yaml', [image(renewed)], moto!.url).results;
    assert.equal(third[0]!.statusCode, 200, 'the renewed value is ready for the next rotation');
  });

  test('with the default context the same: images-bucket and imagegate-global-dev-api-key-*', { skip: motoSkip }, async () => {
    assert.ok(moto, 'moto started by the first Lambda test');
    await seed(moto!.url, 'imagegate', 'images-bucket', { a: KEY_B, b: KEY_A });
    const s = synthApp({ 'imagegate:architecture': 'x86_64' }, { realBundle: true });
    try {
      const results = invokeBundle(work, s.built.bundle.dir, 'imagegate.dev.yaml', [image(KEY_B), image('Wrongwrongwrongwrongwrongwrong')], moto!.url).results;
      await assertWebp(results[0]!);
      assert.equal(results[1]!.statusCode, 403);
    } finally {
      rmSync(s.outdir, { recursive: true, force: true });
    }
  });
});

describe('Lambda bundles per architecture', () => {
  test('arm64 (default) and x86_64 bundles each hold exactly the sharp binaries of their architecture', () => {
    for (const arch of ['arm64', 'x86_64'] as const) {
      const s = synthApp({ 'imagegate:architecture': arch }, { realBundle: true });
      try {
        const dir = s.built.bundle.dir;
        const img = readdirSync(path.join(dir, 'node_modules', '@img')).map((p) => `@img/${p}`).sort();
        const binaries = img.filter((p) => /^@img\/sharp-/.test(p));
        assert.deepEqual(binaries, nativePackages(arch).sort(), `${arch}: ${img.join(', ')}`);
        const addon = readdirSync(path.join(dir, 'node_modules', nativePackages(arch)[0]!, 'lib')).filter((f) => f.endsWith('.node'));
        assert.equal(addon.length, 1);
        // The ELF header names the machine: 0xB7 aarch64, 0x3E x86-64.
        const elf = readFileSync(path.join(dir, 'node_modules', nativePackages(arch)[0]!, 'lib', addon[0]!));
        assert.equal(elf.readUInt16LE(18), arch === 'arm64' ? 0xb7 : 0x3e);
        for (const f of ['index.mjs', 'imagegate.prod.yaml', 'imagegate.dev.yaml', 'node_modules/sharp/package.json', 'node_modules/@expo-google-fonts/noto-sans/400Regular/NotoSans_400Regular.ttf', 'node_modules/@expo-google-fonts/noto-emoji/400Regular/NotoEmoji_400Regular.ttf']) {
          assert.ok(existsSync(path.join(dir, f)), `${arch}: ${f}`);
        }
        assert.ok(!existsSync(path.join(dir, 'node_modules/@expo-google-fonts/noto-sans/100Thin')), `${arch}: only the weights txt uses`);
        s.template('imagegate-api-dev').hasResourceProperties('AWS::Lambda::Function', { FunctionName: 'imagegate-dev', Architectures: [arch] });
      } finally {
        rmSync(s.outdir, { recursive: true, force: true });
      }
    }
  });
});
