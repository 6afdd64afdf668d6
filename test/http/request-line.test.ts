/**
 * The request log line is written without pino's general path (log.ts lineWriter): it must be
 * byte for byte what `logger.info(fields, msg)` writes, and the buffered destination of the
 * Node server must hand on every line, in order, including at exit.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { LOG_SETTINGS, lineWriter, type LineFields } from '../../src/log.ts';

const NAMES = ['requestId', 'method', 'path', 'query', 'status', 'ms', 'keyId', 'cache', 'aborted'];

/** A logger with the service's settings writing into an array, with a fixed clock. */
function capture(extra: pino.LoggerOptions = {}) {
  const lines: string[] = [];
  const logger = pino({ level: 'info', ...LOG_SETTINGS, timestamp: () => ',"time":1700000000000', ...extra }, { write: (s: string) => void lines.push(s) });
  return { logger, lines };
}

const SHAPES: LineFields[] = [
  { requestId: 'k3x9q2vd7hmw-1a', method: 'GET', path: '/photo.jpg', query: 'w=400&auto=format', status: 200, ms: 0.4, keyId: 'bench', cache: 'memory' },
  { requestId: 'k3x9q2vd7hmw-1b', method: 'HEAD', path: '/photo.jpg', query: undefined, status: 304, ms: 12, keyId: undefined, cache: undefined },
  { requestId: 'trace-1', method: 'GET', path: '/a "quoted" \\ path.jpg', query: 'txt=%22hi%22&s=[redacted]', status: 403, ms: 1.5, keyId: undefined, cache: undefined, aborted: true },
  { requestId: 'x', method: 'GET', path: '/ctl\u0001\u001f/é/😀.jpg', query: 'q=\ud800', status: 500, ms: Number.NaN, keyId: 'k', cache: 'persistent' },
  { requestId: 'x', method: 'GET', path: `/${'long/'.repeat(30)}\ud83d.jpg`, query: '\udc00"', status: 404, ms: Infinity, keyId: 'k' },
  { requestId: 'x', method: 'GET', path: '/', status: 200, ms: 0 },
];

describe('request log line', () => {
  test("lineWriter writes exactly pino's line for the request line's shapes", () => {
    for (const fields of SHAPES) {
      for (const msg of ['request', 'request aborted']) {
        const viaPino = capture();
        viaPino.logger.info({ ...fields }, msg);
        const fast = capture();
        lineWriter(fast.logger, NAMES)({ ...fields }, msg);
        assert.equal(fast.lines.length, 1);
        assert.equal(fast.lines[0], viaPino.lines[0], JSON.stringify(fields));
        assert.doesNotThrow(() => JSON.parse(fast.lines[0]!));
      }
    }
  });

  test("a child logger's bindings are on the line, as pino puts them", () => {
    const viaPino = capture();
    viaPino.logger.child({ worker: 2 }).info({ ...SHAPES[0] }, 'request');
    const fast = capture();
    lineWriter(fast.logger.child({ worker: 2 }), NAMES)({ ...SHAPES[0] }, 'request');
    assert.equal(fast.lines[0], viaPino.lines[0]);
    assert.match(fast.lines[0]!, /"service":"imagegate","worker":2,"requestId"/);
  });

  test('a logger whose settings change such a line gets it through pino (redaction, serializers, mixins, hooks)', () => {
    const settings: pino.LoggerOptions[] = [
      { redact: { paths: ['keyId'], censor: '[redacted]' } },
      { serializers: { path: (p: string) => p.toUpperCase() } },
      { mixin: () => ({ region: 'eu' }) },
      { hooks: { streamWrite: (s: string) => s.replace('GET', 'get') } },
      { formatters: { log: (o: Record<string, unknown>) => ({ ...o, extra: 1 }) } },
      { msgPrefix: '[http] ' },
      { nestedKey: 'payload' },
      { messageKey: 'message' },
    ];
    for (const extra of settings) {
      const viaPino = capture(extra);
      viaPino.logger.info({ ...SHAPES[0] }, 'request');
      const fast = capture(extra);
      lineWriter(fast.logger, NAMES)({ ...SHAPES[0] }, 'request');
      assert.equal(fast.lines[0], viaPino.lines[0], JSON.stringify(Object.keys(extra)));
    }
    const redacted = capture({ redact: { paths: ['keyId'], censor: '[redacted]' } });
    lineWriter(redacted.logger, NAMES)({ ...SHAPES[0] }, 'request');
    assert.match(redacted.lines[0]!, /"keyId":"\[redacted\]"/);
  });

  test('the buffered logger hands on every line in order: in blocks, after a pause, and at exit', () => {
    // A child process: the buffered logger writes to file descriptor 1.
    const script = `
      import { createLogger, lineWriter } from ${JSON.stringify(path.resolve(import.meta.dirname, '../../src/log.ts'))};
      const logger = createLogger('info', { buffered: true });
      const write = lineWriter(logger, ['requestId', 'status']);
      for (let i = 0; i < 300; i++) write({ requestId: 'a-' + i, status: 200 }, 'request');
      logger.warn({ n: 1 }, 'between');
      setTimeout(() => {
        for (let i = 0; i < 3; i++) write({ requestId: 'b-' + i, status: 200 }, 'request');
        setTimeout(() => {
          // A garbage collection on the way out must not lose the exit hook.
          globalThis.gc();
          write({ requestId: 'c-0', status: 200 }, 'request');
          if (process.argv[2] === 'exit') process.exit(0);
        }, 300);
      }, 300);
    `;
    for (const ending of ['exit', 'natural']) {
      const run = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', script, ending], { encoding: 'utf8', cwd: path.resolve(import.meta.dirname, '../..') });
      assert.equal(run.status, 0, run.stderr);
      const lines = run.stdout.trimEnd().split('\n').map((l) => JSON.parse(l));
      const ids = lines.map((l) => l.requestId ?? l.msg);
      assert.deepEqual(ids, [...Array.from({ length: 300 }, (_, i) => `a-${i}`), 'between', 'b-0', 'b-1', 'b-2', 'c-0'], ending);
      assert.equal(lines[0].service, 'imagegate');
    }
  });

  test('the buffered logger writes a full block at once, on the calling thread (no thread-pool write)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'imagegate-log-'));
    try {
      const script = `
        import fs from 'node:fs';
        let pooled = 0;
        const write = fs.write;
        fs.write = (...args) => (pooled++, write(...args));
        const { createLogger, lineWriter } = await import(${JSON.stringify(path.resolve(import.meta.dirname, '../../src/log.ts'))});
        const line = lineWriter(createLogger('info', { buffered: true }), ['requestId', 'status']);
        for (let i = 0; i < 200; i++) line({ requestId: 'a-' + i, status: 200 }, 'request');
        // Before this turn of the event loop ends: the lines of the full blocks are in the file.
        process.stderr.write(JSON.stringify({ size: fs.fstatSync(1).size, pooled }));
      `;
      const out = openSync(path.join(dir, 'out.log'), 'w');
      const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', out, 'pipe'], encoding: 'utf8', cwd: path.resolve(import.meta.dirname, '../..') });
      closeSync(out);
      assert.equal(run.status, 0, run.stderr);
      const seen = JSON.parse(run.stderr) as { size: number; pooled: number };
      assert.equal(seen.pooled, 0);
      assert.ok(seen.size >= 16 * 1024, `only ${seen.size} bytes written by then`);
      assert.equal(readFileSync(path.join(dir, 'out.log'), 'utf8').trimEnd().split('\n').length, 200);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
