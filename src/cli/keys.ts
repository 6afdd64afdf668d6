/**
 * `imagegate keys create|list|revoke|rotate|secret`: API keys in the configured key store
 * (`keyStore:`). A key's value is printed once, on creation or rotation; only its SHA-256 is kept.
 * A key's signing secrets are printed once too, and kept as-is (a signature is checked with them).
 */
import { parseArgs } from 'node:util';
import { ConfigError, loadConfigFile } from '../config/load.ts';
import { keyStoreSettings, readSetting } from '../config/resolve.ts';
import type { Config } from '../config/schema.ts';
import { KeyStoreError, openKeyStore, type KeyInfo } from '../auth/store.ts';
import { ID_RULE, isValidId } from '../ids.ts';

export interface CliIO {
  out(line: string): void;
  err(line: string): void;
  env: NodeJS.ProcessEnv;
}

export const defaultIO: CliIO = { out: (l) => console.log(l), err: (l) => console.error(l), env: process.env };

export const help = `Usage: imagegate keys create --id ID [--plan PLAN] [--json]
       imagegate keys list [--json]
       imagegate keys revoke --id ID
       imagegate keys rotate --id ID [--grace 24h] [--json]
       imagegate keys secret create|list|revoke --id ID [--secret SECRET_ID] [--json]

Manage API keys in the key store named by the config's keyStore: (a file, Redis or DynamoDB). Keys
written in the config's keys: list are shown by list but managed in the config file.

  create   make a key; its value is printed once on stdout (only its SHA-256 is stored)
  list     ids, plans, created, last used, status — never key values
  revoke   stop every value of the key at once, on every server
  rotate   print a new value; the old one keeps working until --grace ends
  secret   the key's signing secrets, for signed URLs (?…&ixkey=ID&s=…) that count as the key's:
           create prints a new secret once (kept as-is in the store: verifying needs it);
           list shows ids and dates, never secrets; revoke --secret SECRET_ID stops one on
           every server within a second. Rotate = create, move signers over, revoke the old.

  --id ID         key id: ${ID_RULE}; also accepted as the first argument
  --plan PLAN     a plan from the config's plans:
  --secret ID     secret revoke: which secret (from secret list)
  --grace TIME    rotate: how long the old value keeps working (0, 90s, 30m, 24h, 7d; default 24h)
  --json          machine-readable output
  --config FILE   the YAML config (default: $IMAGEGATE_CONFIG)
  -h, --help      this help

Exit codes: 0 done, 1 failed (unknown key, store unreachable, bad config), 2 usage error.`;

/** `90s`, `30m`, `24h`, `7d`, `1w`, `500ms`, `0` → milliseconds. */
export function parseDuration(value: string): number | undefined {
  if (value.trim() === '0') return 0;
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)$/.exec(value.trim());
  if (!m) return undefined;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[m[2] as 'ms'];
  return Math.round(Number(m[1]) * unit);
}

/** Loads `--config FILE` or $IMAGEGATE_CONFIG; prints the problem and returns an exit code on failure. */
export function loadCliConfig(file: string | undefined, io: CliIO): Config | number {
  const path = file ?? io.env.IMAGEGATE_CONFIG;
  if (!path) {
    io.err('no config file: pass --config FILE or set IMAGEGATE_CONFIG');
    return 2;
  }
  try {
    return loadConfigFile(path);
  } catch (err) {
    io.err(err instanceof ConfigError ? err.message : String(err));
    return 1;
  }
}

/** Aligned columns, header first. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

function status(k: KeyInfo): string {
  if (k.revoked) return `revoked ${k.revoked}`;
  if (k.graceUntil) return `rotating: old value works until ${k.graceUntil}`;
  return 'active';
}

export async function run(argv: string[], io: CliIO = defaultIO): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        id: { type: 'string' },
        plan: { type: 'string' },
        grace: { type: 'string' },
        secret: { type: 'string' },
        json: { type: 'boolean' },
        config: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    io.err(`${(err as Error).message}\n\n${help}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.out(help);
    return 0;
  }
  const [action, ...rest] = positionals;
  const secretAction = action === 'secret' ? rest.shift() : undefined;
  const [idArg, ...extra] = rest;
  const usage = (msg: string) => {
    io.err(`imagegate keys: ${msg}\n\n${help}`);
    return 2;
  };
  if (!action) return usage('name an action: create, list, revoke, rotate or secret');
  if (!['create', 'list', 'revoke', 'rotate', 'secret'].includes(action)) return usage(`unknown action '${action}'`);
  if (action === 'secret' && !['create', 'list', 'revoke'].includes(secretAction ?? '')) return usage('secret: name an action: create, list or revoke');
  if (values.secret !== undefined && secretAction !== 'revoke') return usage('--secret applies to secret revoke only');
  if (secretAction === 'revoke' && !values.secret) return usage('secret revoke: --secret SECRET_ID is required (see secret list)');
  if (extra.length) return usage(`unexpected argument '${extra[0]}'`);
  const id = values.id ?? idArg;
  if (action !== 'list') {
    if (!id) return usage('--id is required');
    if (!isValidId(id)) return usage(`--id: expected ${ID_RULE}, got '${id}'`);
  }
  let graceMs = 86_400_000;
  if (values.grace !== undefined) {
    if (action !== 'rotate') return usage('--grace applies to rotate only');
    const g = parseDuration(values.grace);
    if (g === undefined) return usage(`--grace: expected a duration like 0, 90s, 30m, 24h or 7d, got '${values.grace}'`);
    graceMs = g;
  }
  if (values.plan !== undefined && action !== 'create') return usage('--plan applies to create only');

  const cfg = loadCliConfig(values.config, io);
  if (typeof cfg === 'number') return cfg;
  if (!cfg.keyStore) {
    io.err('imagegate keys: the config has no keyStore: — add e.g. keyStore: { type: file, path: ./keys.json }');
    return 1;
  }
  if (values.plan !== undefined && !Object.hasOwn(cfg.plans, values.plan)) {
    const known = Object.keys(cfg.plans);
    io.err(`imagegate keys: --plan: unknown plan '${values.plan}' (defined: ${known.join(', ') || 'none'})`);
    return 1;
  }

  let store: ReturnType<typeof openKeyStore>;
  try {
    store = openKeyStore(readSetting((problems) => keyStoreSettings(cfg.keyStore, io.env, problems))!);
  } catch (err) {
    io.err(`imagegate keys: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
  try {
    switch (action) {
      case 'create': {
        if (cfg.keys.some((k) => k.id === id)) {
          io.err(`imagegate keys: key '${id}' is defined in the config's keys: list; choose another id`);
          return 1;
        }
        const created = await store.create({ id: id!, plan: values.plan });
        if (values.json) io.out(JSON.stringify({ id: created.id, plan: values.plan ?? null, key: created.key }));
        else {
          io.err(`Created key '${created.id}'${values.plan ? ` on plan '${values.plan}'` : ' (no plan: unlimited)'}. Its value is shown only this once; send it as X-API-Key:`);
          io.out(created.key);
        }
        return 0;
      }
      case 'list': {
        const keys = await store.list();
        const fromConfig = cfg.keys.map((k) => ({ id: k.id, plan: k.plan }));
        if (values.json) {
          io.out(JSON.stringify({ store: keys, config: fromConfig }, null, 2));
          return 0;
        }
        const rows = [['ID', 'PLAN', 'CREATED', 'LAST USED', 'STATUS', 'SECRETS']];
        for (const k of keys) rows.push([k.id, k.plan ?? '-', k.created, k.lastUsed ?? 'never', status(k), String(k.signingSecrets)]);
        for (const k of fromConfig) rows.push([k.id, k.plan ?? '-', '-', '-', 'in config file', '-']);
        if (rows.length === 1) io.err('no keys');
        else io.out(table(rows));
        return 0;
      }
      case 'revoke': {
        await store.revoke(id!);
        io.err(`Revoked key '${id}': every value stops working within a second on every server.`);
        return 0;
      }
      case 'secret': {
        if (secretAction === 'create') {
          const r = await store.createSecret(id!);
          if (values.json) io.out(JSON.stringify({ id: r.id, secretId: r.secretId, secret: r.secret }));
          else {
            io.err(`New signing secret '${r.secretId}' for key '${r.id}' (shown only this once). Sign URLs with it and add ixkey=${r.id}:`);
            io.out(r.secret);
          }
        } else if (secretAction === 'list') {
          const list = await store.listSecrets(id!);
          if (values.json) io.out(JSON.stringify({ id, secrets: list }, null, 2));
          else if (list.length === 0) io.err(`key '${id}' has no signing secrets`);
          else io.out(table([['SECRET', 'CREATED', 'STATUS'], ...list.map((x) => [x.id, x.created, x.revoked ? `revoked ${x.revoked}` : 'active'])]));
        } else {
          await store.revokeSecret(id!, values.secret!);
          io.err(`Revoked signing secret '${values.secret}' of key '${id}': URLs signed with it stop working within a second on every server.`);
        }
        return 0;
      }
      case 'rotate': {
        const r = await store.rotate(id!, graceMs);
        if (values.json) io.out(JSON.stringify({ id: r.id, key: r.key, previousValidUntil: r.previousValidUntil }));
        else {
          io.err(`New value for key '${r.id}' (shown only this once); the previous value works until ${r.previousValidUntil}:`);
          io.out(r.key);
        }
        return 0;
      }
    }
    return 2;
  } catch (err) {
    io.err(`imagegate keys ${action}: ${err instanceof KeyStoreError ? err.message : (err as Error).message}`);
    return 1;
  } finally {
    await store.close();
  }
}
