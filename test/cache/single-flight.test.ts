import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import sharp from 'sharp';
import { SingleFlight } from '../../src/cache/index.ts';

describe('SingleFlight', () => {
  test('50 concurrent calls with one key run one real transformation and all get its bytes', async () => {
    let shared = 0;
    const flight = new SingleFlight({ onShared: () => shared++ });
    const input = await sharp({ create: { width: 640, height: 480, channels: 3, background: '#3366cc' } }).jpeg().toBuffer();
    let runs = 0;
    const render = async () => {
      runs++;
      return sharp(input).resize(100).webp().toBuffer();
    };
    const results = await Promise.all(Array.from({ length: 50 }, () => flight.do('k', render)));
    assert.equal(runs, 1);
    assert.equal(shared, 49);
    assert.ok(results.every((r) => r === results[0]));
    assert.equal((await sharp(results[0]).metadata()).width, 100);
    assert.equal(flight.size, 0, 'the entry is removed once settled');
  });

  test('different keys run separately', async () => {
    const flight = new SingleFlight();
    let runs = 0;
    const fn = async () => {
      runs++;
      await sleep(5);
      return runs;
    };
    await Promise.all([flight.do('a', fn), flight.do('b', fn), flight.do('a', fn)]);
    assert.equal(runs, 2);
  });

  test('every waiter gets the same error, and the next call runs again', async () => {
    const flight = new SingleFlight();
    let runs = 0;
    const failing = async () => {
      runs++;
      await sleep(5);
      throw new Error(`failure ${runs}`);
    };
    const settled = await Promise.allSettled(Array.from({ length: 10 }, () => flight.do('k', failing)));
    assert.equal(runs, 1);
    const reasons = settled.map((s) => (s.status === 'rejected' ? s.reason : undefined));
    assert.ok(reasons.every((r) => r instanceof Error && r === reasons[0]));
    assert.equal(flight.has('k'), false);
    assert.equal(await flight.do('k', async () => 'fresh'), 'fresh');
  });

  test('a synchronous throw is shared as a rejection, not thrown at the caller', async () => {
    const flight = new SingleFlight();
    const p = flight.do('k', () => {
      throw new Error('sync');
    });
    await assert.rejects(p, /sync/);
    assert.equal(flight.size, 0);
  });
});
