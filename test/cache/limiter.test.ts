import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkLimiter, deadlineSignal } from '../../src/cache/index.ts';
import { ServiceError } from '../../src/errors.ts';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** A task that finishes when told to, recording when it started. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { open, opened };
}

describe('WorkLimiter', () => {
  test('runs at most `concurrency` tasks at once, the rest in FIFO order', async () => {
    const limiter = new WorkLimiter({ concurrency: 2, queue: 10 });
    let running = 0;
    let peak = 0;
    const order: number[] = [];
    const gates = Array.from({ length: 6 }, gate);
    const runs = gates.map((g, i) =>
      limiter.run(async () => {
        running++;
        peak = Math.max(peak, running);
        order.push(i);
        await g.opened;
        running--;
        return i * 10;
      }),
    );
    await sleep(5);
    assert.equal(limiter.active, 2);
    assert.equal(limiter.queued, 4);
    assert.deepEqual(order, [0, 1]);
    for (const g of gates) {
      g.open();
      await sleep(1);
    }
    assert.deepEqual(await Promise.all(runs), [0, 10, 20, 30, 40, 50]);
    assert.equal(peak, 2);
    assert.deepEqual(order, [0, 1, 2, 3, 4, 5]);
    assert.equal(limiter.active, 0);
    assert.equal(limiter.queued, 0);
  });

  test('past the queue it sheds at once with 503 overloaded and Retry-After', async () => {
    const shed: string[] = [];
    const limiter = new WorkLimiter({ concurrency: 1, queue: 2, retryAfterSeconds: 3, observer: { shed: (r) => shed.push(r) } });
    const g = gate();
    let ran = 0;
    const task = async () => {
      ran++;
      await g.opened;
    };
    const accepted = [limiter.run(task), limiter.run(task), limiter.run(task)];
    const refused = limiter.run(task);
    await assert.rejects(refused, (err: unknown) => {
      assert.ok(err instanceof ServiceError);
      assert.equal(err.status, 503);
      assert.equal(err.code, 'overloaded');
      assert.equal(err.headers['Retry-After'], '3');
      return true;
    });
    assert.deepEqual(shed, ['overloaded']);
    g.open();
    await Promise.all(accepted);
    assert.equal(ran, 3, 'the shed task never ran');
  });

  test('queue 0 means: run now or shed', async () => {
    const limiter = new WorkLimiter({ concurrency: 1, queue: 0 });
    const g = gate();
    const first = limiter.run(() => g.opened);
    await assert.rejects(limiter.run(async () => 1), { code: 'overloaded' });
    g.open();
    await first;
    assert.equal(await limiter.run(async () => 2), 2);
  });

  test('an aborted signal removes a queued task without running it', async () => {
    const changes: number[] = [];
    const limiter = new WorkLimiter({ concurrency: 1, queue: 5, observer: { changed: (s) => changes.push(s.queued) } });
    const g = gate();
    const first = limiter.run(() => g.opened);
    const ctl = new AbortController();
    let ran = false;
    const queued = limiter.run(async () => {
      ran = true;
    }, ctl.signal);
    const third = limiter.run(async () => 'third');
    assert.equal(limiter.queued, 2);
    ctl.abort();
    await assert.rejects(queued, (err: unknown) => err instanceof ServiceError && err.code === 'request_aborted');
    assert.equal(limiter.queued, 1);
    g.open();
    assert.equal(await third, 'third');
    await first;
    assert.equal(ran, false);
    assert.ok(changes.includes(2) && changes.at(-1) === 0);
  });

  test('a deadline that passes while queued → 503 deadline_exceeded', async () => {
    const shed: string[] = [];
    const limiter = new WorkLimiter({ concurrency: 1, queue: 5, observer: { shed: (r) => shed.push(r) } });
    const g = gate();
    const first = limiter.run(() => g.opened);
    // AbortSignal.timeout does not keep the event loop alive on its own; a server's sockets do.
    const keepAlive = setTimeout(() => {}, 5_000);
    const late = limiter.run(async () => 'never', deadlineSignal(20));
    await assert.rejects(late, (err: unknown) => {
      assert.ok(err instanceof ServiceError);
      assert.equal(err.status, 503);
      assert.equal(err.code, 'deadline_exceeded');
      assert.ok(err.headers['Retry-After']);
      return true;
    });
    clearTimeout(keepAlive);
    assert.deepEqual(shed, ['deadline_exceeded']);
    g.open();
    await first;
  });

  test('an already-aborted signal is refused without queueing; a ServiceError reason is kept', async () => {
    const limiter = new WorkLimiter({ concurrency: 1, queue: 5 });
    const reason = new ServiceError(499, 'client_closed', 'gone');
    let ran = false;
    await assert.rejects(
      limiter.run(async () => {
        ran = true;
      }, AbortSignal.abort(reason)),
      (err) => err === reason,
    );
    assert.equal(ran, false);
    assert.equal(limiter.queued, 0);
  });

  test('a failing task frees its slot and passes its error through', async () => {
    const limiter = new WorkLimiter({ concurrency: 1, queue: 1 });
    await assert.rejects(limiter.run(async () => Promise.reject(new Error('boom'))), /boom/);
    await assert.rejects(
      limiter.run(() => {
        throw new Error('sync boom');
      }),
      /sync boom/,
    );
    assert.equal(limiter.active, 0);
    assert.equal(await limiter.run(async () => 'ok'), 'ok');
  });

  test('rejects nonsense options', () => {
    assert.throws(() => new WorkLimiter({ concurrency: 0, queue: 1 }), RangeError);
    assert.throws(() => new WorkLimiter({ concurrency: 1, queue: -1 }), RangeError);
  });
});

describe('deadlineSignal through the limiter', () => {
  test('times out as the deadline passes → deadline_exceeded through the limiter', async () => {
    const keepAlive = setTimeout(() => {}, 5_000);
    const limiter = new WorkLimiter({ concurrency: 1, queue: 1 });
    let release!: () => void;
    const first = limiter.run(() => new Promise<void>((r) => (release = r)));
    await assert.rejects(limiter.run(async () => 'late', deadlineSignal(20)), { code: 'deadline_exceeded' });
    clearTimeout(keepAlive);
    release();
    await first;
  });
});

/** The garbage collector, callable from the test (these tests are about signals surviving one). */
function exposedGc(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

describe('deadlineSignal', () => {
  test('aborts with a TimeoutError even when nothing but a listener holds it through a GC', async () => {
    const gc = exposedGc();
    const keepAlive = setTimeout(() => {}, 5_000);
    const fired: string[] = [];
    (() => {
      const parent = new AbortController();
      deadlineSignal(50, parent.signal).addEventListener('abort', function (this: AbortSignal) {
        fired.push((this.reason as Error).name);
      });
    })();
    gc();
    await sleep(30);
    gc();
    await sleep(250);
    clearTimeout(keepAlive);
    assert.deepEqual(fired, ['TimeoutError']);
  });

  test('fires for a holder that never listens (a pending limiter task) through a GC', async () => {
    const gc = exposedGc();
    const keepAlive = setTimeout(() => {}, 5_000);
    const limiter = new WorkLimiter({ concurrency: 1, queue: 2 });
    let release!: () => void;
    const first = limiter.run(() => new Promise<void>((r) => (release = r)));
    const waiting = limiter.run(async () => 'never', deadlineSignal(50));
    gc();
    await assert.rejects(waiting, { code: 'deadline_exceeded' });
    clearTimeout(keepAlive);
    release();
    await first;
  });

  test('a signal nobody holds or listens to is not kept alive until its deadline', async () => {
    const gc = exposedGc();
    const refs: WeakRef<AbortSignal>[] = [];
    for (let i = 0; i < 100; i++) refs.push(new WeakRef(deadlineSignal(60_000, new AbortController().signal)));
    await sleep(10);
    gc();
    await sleep(10);
    gc();
    assert.ok(refs.filter((r) => r.deref()).length < 100, 'collected before the deadline');
  });

  test('follows its parent, and an aborted parent gives an aborted signal at once', () => {
    const parent = new AbortController();
    const s = deadlineSignal(60_000, parent.signal);
    assert.equal(s.aborted, false);
    parent.abort(new Error('gone'));
    assert.equal(s.aborted, true);
    assert.equal((s.reason as Error).message, 'gone');
    const late = deadlineSignal(60_000, AbortSignal.abort(new Error('already')));
    assert.equal(late.aborted, true);
  });
});
