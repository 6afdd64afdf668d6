/**
 * API keys whose values live in AWS Secrets Manager (the CloudFormation global stack writes
 * `{"api_key": "…"}`) or in the environment, against a real moto_server. Keys are resolved
 * once at start-up; every failure is reported together, naming the key and the secret, and
 * never echoing a key value.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CreateSecretCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createApp, type ImagegateApp } from '../../src/http/app.ts';
import { ConfigError } from '../../src/config/load.ts';
import { sha256hex } from '../../src/auth/keys.ts';
import { resolveConfig, secretsManagerFetcher } from '../../src/config/resolve.ts';
import { createLogger } from '../../src/log.ts';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { makeImageFolder, testConfig, TEST_KEY } from '../helpers/app.ts';
import { fakeAwsEnv, freePort, requireCommand, startMoto, type RunningService } from '../helpers/services.ts';

const skip = requireCommand('moto_server');

const PROD_VALUE = 'prod-Zq3v8Xk1b9Lr0TnW5yHc2JfM7sPd4aGe';
const DEV_VALUE = 'dev-shared-Hn6Rk2Wq9Tb3Lx8Vc1Mz5Pj7';
const CUSTOM_VALUE = 'partner-Yt4Ew8Qa2Zs6Xd0Cf3Vg7Bh1';

describe('keys from Secrets Manager and the environment (moto_server)', { skip }, () => {
  let moto: RunningService;
  let sm: SecretsManagerClient;
  let folder: Awaited<ReturnType<typeof makeImageFolder>>;
  let prodArn: string;

  const aws = () => ({ region: 'us-east-1', endpoint: moto.url });
  const config = (keys: unknown[], extra: Record<string, unknown> = {}) =>
    testConfig(folder.root, { keys, aws: aws(), ...extra });
  const app = (keys: unknown[], extra: Record<string, unknown> = {}) =>
    createApp(config(keys, extra), { logger: createLogger('silent') });
  const fetchWith = (ig: ImagegateApp, key: string | undefined, url = 'http://localhost/photo.jpg') =>
    Promise.resolve(ig.app.request(url, { headers: key === undefined ? {} : { 'X-API-Key': key } }));

  /** Expect createApp to reject with a ConfigError; returns its problems. */
  async function configProblems(keys: unknown[]): Promise<string[]> {
    let caught: unknown;
    try {
      await app(keys);
    } catch (err) {
      caught = err;
    }
    assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${String(caught)}`);
    return caught.problems;
  }

  before(async () => {
    fakeAwsEnv();
    moto = await startMoto();
    folder = await makeImageFolder();
    sm = new SecretsManagerClient({ region: 'us-east-1', endpoint: moto.url });
    const create = async (Name: string, SecretString: string) =>
      (await sm.send(new CreateSecretCommand({ Name, SecretString }))).ARN!;
    prodArn = await create('global--api-key--prod', JSON.stringify({ api_key: PROD_VALUE }));
    await create('global--api-key--dev', JSON.stringify({ api_key: DEV_VALUE }));
    await create('partner--credentials', JSON.stringify({ username: 'partner', apiKey: CUSTOM_VALUE }));
    await create('broken--not-json', 'plain-text-sEcReTvAlUe-not-json');
    await create('broken--wrong-field', JSON.stringify({ apikey: 'wrong-field-sEcReTvAlUe' }));
    await create('broken--empty-field', JSON.stringify({ api_key: '' }));
    await create('broken--number-field', JSON.stringify({ api_key: 12345678 }));
    await sm.send(new CreateSecretCommand({ Name: 'broken--binary', SecretBinary: Buffer.from('binary-only') }));
  });

  after(async () => {
    sm?.destroy();
    await moto?.stop();
    folder?.cleanup();
  });

  test('a key from a secret is accepted in X-API-Key; anything else is 403 Forbidden', async () => {
    const ig = await app([{ id: 'prod', secret: { id: 'global--api-key--prod', field: 'api_key' } }]);
    const ok = await fetchWith(ig, PROD_VALUE);
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('content-type'), 'image/jpeg');

    for (const key of [undefined, '', 'wrong', `${PROD_VALUE}x`, PROD_VALUE.slice(0, -1), PROD_VALUE.toUpperCase(), TEST_KEY, sha256hex(PROD_VALUE), JSON.stringify({ api_key: PROD_VALUE })]) {
      const res = await fetchWith(ig, key);
      assert.equal(res.status, 403, `key ${JSON.stringify(key)}`);
      assert.deepEqual(await res.json(), { message: 'Forbidden' });
    }
    // Not from the query string either.
    const inQuery = await fetchWith(ig, undefined, `http://localhost/photo.jpg?api_key=${PROD_VALUE}`);
    assert.equal(inQuery.status, 403);
  });

  test('field defaults to api_key; another field and an ARN work too', async () => {
    const ig = await app([
      { id: 'prod', secret: { id: prodArn } },
      { id: 'partner', secret: { id: 'partner--credentials', field: 'apiKey' } },
    ]);
    assert.match(prodArn, /^arn:aws:secretsmanager:us-east-1:\d+:secret:global--api-key--prod-/);
    assert.equal((await fetchWith(ig, PROD_VALUE)).status, 200);
    assert.equal((await fetchWith(ig, CUSTOM_VALUE)).status, 200);
    assert.equal((await fetchWith(ig, 'partner')).status, 403, 'another field of the same secret is not a key');
  });

  test('resolved keys hold an id per hash, never a key value', async () => {
    const { keys } = await resolveConfig(
      config([
        { id: 'prod', secret: { id: 'global--api-key--prod' } },
        { id: 'dev', secret: { id: 'global--api-key--dev' } },
      ]),
    );
    assert.deepEqual(keys.get(sha256hex(PROD_VALUE)), { id: 'prod' });
    assert.deepEqual(keys.get(sha256hex(DEV_VALUE)), { id: 'dev' });
    assert.equal(keys.size, 2);
    const dump = JSON.stringify([...keys.entries()]);
    assert.ok(!dump.includes(PROD_VALUE) && !dump.includes(DEV_VALUE), 'only hashes are held');
  });

  test('one key serves several deployments: prod and every dev stack', async () => {
    // Each deployment is its own app with its own base path (stage); the dev key is shared.
    const prod = await app(
      [
        { id: 'prod', secret: { id: 'global--api-key--prod' } },
      ],
      { server: { basePath: '/prod' } },
    );
    const dev = await app([{ id: 'dev', secret: { id: 'global--api-key--dev' } }], { server: { basePath: '/dev' } });
    const personal = await app([{ id: 'dev', secret: { id: 'global--api-key--dev' } }], { server: { basePath: '/alice' } });

    assert.equal((await fetchWith(prod, PROD_VALUE, 'http://localhost/prod/photo.jpg')).status, 200);
    assert.equal((await fetchWith(dev, DEV_VALUE, 'http://localhost/dev/photo.jpg')).status, 200);
    assert.equal((await fetchWith(personal, DEV_VALUE, 'http://localhost/alice/photo.jpg')).status, 200);
    // Keys do not leak between deployments.
    assert.equal((await fetchWith(prod, DEV_VALUE, 'http://localhost/prod/photo.jpg')).status, 403);
    assert.equal((await fetchWith(dev, PROD_VALUE, 'http://localhost/dev/photo.jpg')).status, 403);
  });

  test('a missing secret stops start-up, naming the key and the secret', async () => {
    const problems = await configProblems([{ id: 'prod', secret: { id: 'global--api-key--nope' } }]);
    assert.equal(problems.length, 1);
    assert.match(problems[0], /keys\.0\.secret \(key 'prod'\)/);
    assert.match(problems[0], /global--api-key--nope/);
  });

  test('a SecretString that is not JSON, lacks the field, or has an empty or non-string field stops start-up', async () => {
    const cases: [string, RegExp][] = [
      ['broken--not-json', /not JSON/],
      ['broken--wrong-field', /api_key/],
      ['broken--empty-field', /api_key/],
      ['broken--number-field', /api_key/],
      ['broken--binary', /SecretString/],
    ];
    for (const [secret, why] of cases) {
      const problems = await configProblems([{ id: 'prod', secret: { id: secret } }]);
      assert.equal(problems.length, 1, secret);
      assert.match(problems[0], /keys\.0\.secret \(key 'prod'\)/, secret);
      assert.ok(problems[0].includes(`'${secret}'`), `${problems[0]} names the secret`);
      assert.match(problems[0], why, secret);
      assert.doesNotMatch(problems[0], /sEcReTvAlUe/, 'the secret value never appears in the error');
    }
  });

  test('every key problem is reported at once, each naming its key', async () => {
    delete process.env.IMAGEGATE_TEST_UNSET_KEY;
    let caught: unknown;
    try {
      await app([
        { id: 'good', secret: { id: 'global--api-key--prod' } },
        { id: 'gone', secret: { id: 'global--api-key--gone' } },
        { id: 'env', valueFromEnv: 'IMAGEGATE_TEST_UNSET_KEY' },
        { id: 'text', secret: { id: 'broken--not-json' } },
      ]);
    } catch (err) {
      caught = err;
    }
    assert.ok(caught instanceof ConfigError);
    const text = caught.problems.join('\n');
    assert.equal(caught.problems.length, 3, text);
    assert.match(text, /keys\.1\.secret \(key 'gone'\): secret 'global--api-key--gone'/);
    assert.match(text, /keys\.2\.valueFromEnv \(key 'env'\): environment variable \$IMAGEGATE_TEST_UNSET_KEY is not set/);
    assert.match(text, /keys\.3\.secret \(key 'text'\): secret 'broken--not-json'/);
    assert.doesNotMatch(text, /\(key 'good'\)/);
    assert.ok(!caught.message.includes(PROD_VALUE));
  });

  test('two keys with the same value are a configuration error', async () => {
    const problems = await configProblems([
      { id: 'prod', secret: { id: 'global--api-key--prod' } },
      { id: 'copy', sha256: sha256hex(PROD_VALUE) },
    ]);
    assert.equal(problems.length, 1);
    assert.match(problems[0], /same value as key/);
  });

  test('Secrets Manager unreachable stops start-up with the key named', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    let caught: unknown;
    try {
      await createApp(testConfig(folder.root, { aws: { region: 'us-east-1', endpoint: dead }, keys: [{ id: 'prod', secret: { id: 'global--api-key--prod' } }] }), {
        logger: createLogger('silent'),
      });
    } catch (err) {
      caught = err;
    }
    assert.ok(caught instanceof ConfigError, String(caught));
    assert.match(caught.problems[0], /keys\.0\.secret \(key 'prod'\): secret 'global--api-key--prod'/);
  });

  test("a secret's own endpoint and region override the aws defaults", async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const ig = await createApp(
      testConfig(folder.root, {
        aws: { region: 'eu-west-1', endpoint: dead },
        keys: [{ id: 'prod', secret: { id: 'global--api-key--prod', region: 'us-east-1', endpoint: moto.url } }],
      }),
      { logger: createLogger('silent') },
    );
    assert.equal((await fetchWith(ig, PROD_VALUE)).status, 200);
  });

  test('secretsManagerFetcher reads the field and follows a new secret version', async () => {
    const name = 'global--api-key--rotating';
    await sm.send(new CreateSecretCommand({ Name: name, SecretString: JSON.stringify({ api_key: 'first-value-0123456789' }) }));
    const fetchSecret = secretsManagerFetcher(aws());
    assert.equal(await fetchSecret({ id: name, field: 'api_key' }), 'first-value-0123456789');
    await sm.send(new PutSecretValueCommand({ SecretId: name, SecretString: JSON.stringify({ api_key: 'second-value-0123456789' }) }));
    assert.equal(await fetchSecret({ id: name, field: 'api_key' }), 'second-value-0123456789');
    // An app started after the rotation takes the new value; the old one is refused.
    const ig = await app([{ id: 'rot', secret: { id: name } }]);
    assert.equal((await fetchWith(ig, 'second-value-0123456789')).status, 200);
    assert.equal((await fetchWith(ig, 'first-value-0123456789')).status, 403);
  });

  test('no key value ever reaches a log line', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'trace' }, { write: (line: string) => void lines.push(line) });
    const ig = await createApp(config([{ id: 'prod', secret: { id: 'global--api-key--prod' } }]), { logger });
    const wrong = 'wrong-key-Ab3Cd5Ef7Gh9Ij1Kl3Mn5';
    assert.equal((await fetchWith(ig, PROD_VALUE)).status, 200);
    assert.equal((await fetchWith(ig, wrong)).status, 403);
    assert.equal((await fetchWith(ig, PROD_VALUE, 'http://localhost/nope.jpg')).status, 404);
    assert.equal((await fetchWith(ig, undefined, `http://localhost/photo.jpg?api_key=${PROD_VALUE}&w=10`)).status, 403);
    assert.equal((await fetchWith(ig, undefined, `http://localhost/photo.jpg?x-api-key=${wrong}`)).status, 403);
    assert.ok(lines.length >= 5, 'requests are logged');
    const all = lines.join('');
    assert.ok(all.includes('"keyId":"prod"'), 'the key id is logged');
    assert.ok(!all.includes(PROD_VALUE), 'the key value is not');
    assert.ok(!all.includes(wrong), 'nor a refused key value');
    assert.ok(!all.includes(sha256hex(PROD_VALUE)), 'nor its hash');
  });

  test('the deployed Lambda handler takes its keys from Secrets Manager', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'imagegate-secrets-'));
    const file = path.join(dir, 'imagegate.yaml');
    writeFileSync(
      file,
      [
        'server: { logLevel: silent }',
        `aws: { region: us-east-1, endpoint: "${moto.url}" }`,
        `sources: { local: { type: fs, root: ${JSON.stringify(folder.root)} } }`,
        'routes: [{ match: "*", source: local }]',
        'keys:',
        '  - { id: prod, secret: { id: global--api-key--prod, field: api_key } }',
        '  - { id: dev, secret: { id: global--api-key--dev } }',
        '',
      ].join('\n'),
    );
    const saved = process.env.IMAGEGATE_CONFIG;
    process.env.IMAGEGATE_CONFIG = file;
    try {
      const { handler } = await import('../../src/lambda.ts');
      const event = (key?: string) => ({
        version: '2.0',
        routeKey: 'ANY /{proxy+}',
        rawPath: '/prod/photo.jpg',
        rawQueryString: '',
        headers: { host: 'a1b2c3d4e5.execute-api.us-east-1.amazonaws.com', ...(key ? { 'x-api-key': key } : {}) },
        requestContext: { domainName: 'a1b2c3d4e5.execute-api.us-east-1.amazonaws.com', http: { method: 'GET', path: '/prod/photo.jpg' }, stage: 'prod' },
        isBase64Encoded: false,
      });
      const photo = readFileSync(path.join(folder.root, 'photo.jpg'));
      for (const key of [PROD_VALUE, DEV_VALUE]) {
        const r = await handler(event(key));
        assert.equal(r.statusCode, 200);
        assert.equal(r.isBase64Encoded, true);
        assert.ok(Buffer.from(r.body!, 'base64').equals(photo));
      }
      for (const key of [undefined, 'nope', CUSTOM_VALUE]) {
        const r = await handler(event(key));
        assert.equal(r.statusCode, 403);
        assert.deepEqual(JSON.parse(r.body!), { message: 'Forbidden' });
      }
    } finally {
      if (saved === undefined) delete process.env.IMAGEGATE_CONFIG;
      else process.env.IMAGEGATE_CONFIG = saved;
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('valueFromEnv keys', () => {
    const VAR = 'IMAGEGATE_TEST_CI_KEY';
    const saved = process.env[VAR];
    after(() => {
      if (saved === undefined) delete process.env[VAR];
      else process.env[VAR] = saved;
    });

    test('the value of the variable is a key, alongside a secret key', async () => {
      process.env[VAR] = 'ci-key-Pw7Ns2Kd9Lq4Xr1Vb6Ty3';
      const ig = await app([
        { id: 'ci', valueFromEnv: VAR },
        { id: 'prod', secret: { id: 'global--api-key--prod' } },
      ]);
      assert.equal((await fetchWith(ig, 'ci-key-Pw7Ns2Kd9Lq4Xr1Vb6Ty3')).status, 200);
      assert.equal((await fetchWith(ig, PROD_VALUE)).status, 200);
      assert.equal((await fetchWith(ig, VAR)).status, 403, 'the variable name is not the key');
      assert.equal((await fetchWith(ig, 'ci-key-Pw7Ns2Kd9Lq4Xr1Vb6Ty')).status, 403);
    });

    test('the variable is read once at start-up', async () => {
      process.env[VAR] = 'ci-key-before-0123456789';
      const ig = await app([{ id: 'ci', valueFromEnv: VAR }]);
      process.env[VAR] = 'ci-key-after-0123456789';
      assert.equal((await fetchWith(ig, 'ci-key-before-0123456789')).status, 200);
      assert.equal((await fetchWith(ig, 'ci-key-after-0123456789')).status, 403);
    });

    test('an unset or empty variable stops start-up, naming the key and the variable', async () => {
      for (const value of [undefined, '']) {
        if (value === undefined) delete process.env[VAR];
        else process.env[VAR] = value;
        const problems = await configProblems([{ id: 'ci', valueFromEnv: VAR }]);
        assert.equal(problems.length, 1);
        assert.match(problems[0], /keys\.0\.valueFromEnv \(key 'ci'\)/);
        assert.ok(problems[0].includes(VAR));
      }
    });
  });
});
