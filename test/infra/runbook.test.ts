/**
 * The runbook's commands (docs/deploy-aws.md and the README's Deploy to AWS), as written: every `npx cdk` line synthesizes with
 * its `-c` settings and names stacks that exist; every `npx imagegate infra` line runs (against
 * moto's Secrets Manager for renew-key). A command edited in the code but not in the runbook, or
 * the other way round, fails here. `aws …` lines need an account and are not run.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { CreateSecretCommand, GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { run as infraCli } from '../../src/cli/infra.ts';
import { fakeAwsEnv, requireCommand, startMoto, type RunningService } from '../helpers/services.ts';
import { infraDir, synthApp } from './synth.ts';

const readme = readFileSync(path.join(infraDir, '..', 'README.md'), 'utf8');
/** The runbook and the README's "Deploy to AWS" section. */
const runbook = readFileSync(path.join(infraDir, '..', 'docs', 'deploy-aws.md'), 'utf8') + readme.slice(readme.indexOf('## Deploy to AWS'), readme.indexOf('\n## ', readme.indexOf('## Deploy to AWS') + 5));

/** Shell lines of the runbook's sh blocks, continuations joined, comments dropped. */
function shellLines(): string[] {
  const blocks = [...runbook.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
  return blocks
    .flatMap((b) => b.replace(/\\\n\s*/g, ' ').split('\n'))
    .map((l) => l.replace(/\s+#.*$/, '').trim())
    .filter((l) => l && !l.startsWith('#'));
}

/** Words of a shell line (single and double quotes; no expansions). */
function words(line: string): string[] {
  const out: string[] = [];
  for (const m of line.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)) out.push(m[1] ?? m[2] ?? m[3]!);
  return out;
}

async function quiet<T>(f: () => Promise<T>): Promise<T> {
  const [log, error] = [console.log, console.error];
  console.log = console.error = () => undefined;
  try {
    return await f();
  } finally {
    [console.log, console.error] = [log, error];
  }
}

describe('runbook commands (docs/deploy-aws.md)', () => {
  test('every npx cdk line: its -c settings synthesize and the stacks it names exist', () => {
    const cdk = shellLines().filter((l) => /^npx cdk (deploy|destroy|synth)\b/.test(l));
    assert.ok(cdk.length >= 12, `found ${cdk.length} cdk commands`);
    for (const line of cdk) {
      const w = words(line).slice(3);
      const context: Record<string, unknown> = {};
      const stacks: string[] = [];
      for (let i = 0; i < w.length; i++) {
        if (w[i] === '-c') {
          const [k, ...v] = w[++i]!.split('=');
          context[k!] = v.join('=');
        } else if (!w[i]!.startsWith('-')) stacks.push(w[i]!);
      }
      const s = synthApp(context);
      try {
        for (const name of stacks) assert.ok(s.stackNames.includes(name), `${line}: no stack ${name} (have ${s.stackNames.join(', ')})`);
      } finally {
        rmSync(s.outdir, { recursive: true, force: true });
      }
    }
  });

  test('every imagegate infra bucket-policy line prints a policy', async () => {
    const lines = shellLines().filter((l) => /^(npx )?imagegate infra bucket-policy\b/.test(l));
    assert.ok(lines.length >= 2, `found ${lines.length}`);
    for (const line of lines) {
      const argv = words(line.replace(/>.*$/, '').replace(/[[\]]/g, '')).slice(line.startsWith('npx') ? 3 : 2);
      assert.equal(await quiet(() => infraCli(argv)), 0, line);
    }
  });

  describe('renew-key (moto_server)', { skip: requireCommand('moto_server') }, () => {
    let moto: RunningService;
    const env = { ...process.env };
    before(async () => {
      fakeAwsEnv();
      moto = await startMoto();
      process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = moto.url;
    });
    after(async () => {
      process.env = env;
      await moto?.stop();
    });

    test('the runbook line renews the secret it says', async () => {
      const sm = new SecretsManagerClient({ endpoint: moto.url, region: 'us-east-1' });
      try {
        await sm.send(new CreateSecretCommand({ Name: 'imagegate-global-dev-api-key-a', SecretString: JSON.stringify({ api_key: 'old' }) }));
        const lines = shellLines().filter((l) => /imagegate infra renew-key\b/.test(l));
        assert.equal(lines.length, 1);
        assert.equal(await quiet(() => infraCli(words(lines[0]!).slice(3))), 0);
        const v = JSON.parse((await sm.send(new GetSecretValueCommand({ SecretId: 'imagegate-global-dev-api-key-a' }))).SecretString!).api_key;
        assert.match(v, /^[A-Za-z0-9]{30}$/);
      } finally {
        sm.destroy();
      }
    });
  });
});
