/**
 * Credentials never reach `check-config`'s output or the request log: credential-like query
 * parameters, whatever their case or percent-encoding, are redacted (the app's own log lines
 * are checked in test/security/auth.test.ts), and the password in the userinfo of an HTTP
 * origin's `baseUrl`, an S3 `endpoint` or a Redis URL is masked.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { redactQuery, redactUrl } from '../../src/log.ts';
import { run } from '../../src/cli/check-config.ts';
import { capture, tempDir, writeConfig } from '../cli/helpers.ts';

const SECRET = 'Sup3rS3cretValue';

describe('query redaction', () => {
  test('every credential-like name is redacted, in any case and percent-encoded', () => {
    const names = [
      'api_key', 'apiKey', 'x-api-key', 'key', 'token', 'access_token', 'password', 'passwd', 'secret', 'client_secret',
      'signature', 'sig', 's', 'X-Amz-Signature', 'X-Amz-Credential', 'X-Amz-Security-Token',
      'PASSWORD', 'Client-Secret', '%6bey', '%6Bey', 'pass%77ord', '%73', 'X%2DAmz%2DSignature', 'x-amz-credential',
    ];
    for (const name of names) {
      const out = redactQuery(`w=10&${name}=${SECRET}&h=5`);
      assert.ok(!out.includes(SECRET), `${name}: ${out}`);
      assert.match(out, /^w=10&.*=\[redacted\]&h=5$/, name);
    }
  });

  test('other parameters are kept as they are', () => {
    for (const q of ['w=10&h=5', 'txt=hello%20world&fm=png', 'sat=20&sepia=10', 'keyword=x&tokens=y&ss=z', '%77=10']) {
      assert.equal(redactQuery(q), q);
    }
  });

  test('URL userinfo: the password (or a lone user, often a token) becomes ***', () => {
    assert.equal(redactUrl(`https://u:${SECRET}@assets.example.com/img/`), 'https://u:***@assets.example.com/img/');
    assert.equal(redactUrl(`https://${SECRET}@assets.example.com/`), 'https://***@assets.example.com/');
    assert.equal(redactUrl(`redis://:${SECRET}@127.0.0.1:6379/0`), 'redis://:***@127.0.0.1:6379/0');
    assert.equal(redactUrl(`https://u:p@ss${SECRET}@h.example/x@y`), 'https://u:***@h.example/x@y');
    assert.equal(redactUrl('https://assets.example.com/a@b.png'), 'https://assets.example.com/a@b.png');
  });
});

describe('check-config', () => {
  test('prints an origin, an S3 endpoint and a Redis URL without their passwords', async () => {
    const dir = tempDir();
    const file = writeConfig(
      dir,
      `
sources:
  web: { type: http, baseUrl: "https://reader:${SECRET}@assets.example.com/img/" }
  bucket: { type: s3, bucket: b, endpoint: "https://minio:${SECRET}@minio.example.com:9000" }
routes:
  - { match: "s3/*", source: bucket }
  - { match: "*", source: web }
usage: { store: redis, url: "redis://:${SECRET}@127.0.0.1:6379/0" }
`,
    );
    const r = await capture(() => run([file]));
    assert.equal(r.code, 0, r.err);
    assert.ok(!`${r.out}${r.err}`.includes(SECRET), r.out);
    assert.match(r.out, /http origin https:\/\/reader:\*\*\*@assets\.example\.com\/img\//);
    assert.match(r.out, /via https:\/\/minio:\*\*\*@minio\.example\.com:9000/);
    assert.match(r.out, /usage store: redis at redis:\/\/:\*\*\*@127\.0\.0\.1:6379\/0/);
  });
});
