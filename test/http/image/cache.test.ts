import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createResultCache, SingleFlight, type CachedResult } from '../../../src/cache/index.ts';
import { cachedResult } from '../../../src/http/image/cache.ts';
import { inContext } from '../../helpers/context.ts';

const value = (s: string): CachedResult => ({ body: Buffer.from(s), contentType: 'image/png', headers: {}, createdAt: Date.now() });

describe('cache stage', () => {
  test('a miss produces once for every concurrent caller and keeps the value; a hit produces nothing', async () => {
    const deps = { cache: createResultCache(undefined), flight: new SingleFlight() };
    let produced = 0;
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const produce = async () => {
      produced++;
      await gate;
      return value('one');
    };
    const ask = () => inContext('http://localhost/', async (c) => ({ result: await cachedResult(deps, c, 'k', produce), hit: c.get('cacheHit'), transformed: c.get('transformed') }));
    const both = Promise.all([ask(), ask()]);
    open();
    const [a, b] = await both;
    assert.equal(produced, 1);
    assert.equal(a.result.body.toString(), 'one');
    assert.equal(b.result, a.result);
    assert.deepEqual([a.hit, a.transformed], [undefined, true]);
    const again = await ask();
    assert.equal(produced, 1);
    assert.equal(again.result.body.toString(), 'one');
    assert.deepEqual([again.hit, again.transformed], ['memory', undefined]);
  });

  test('a failed production is not kept', async () => {
    const deps = { cache: createResultCache(undefined), flight: new SingleFlight() };
    await assert.rejects(inContext('http://localhost/', (c) => cachedResult(deps, c, 'k', async () => Promise.reject(new Error('boom')))), /boom/);
    const r = await inContext('http://localhost/', (c) => cachedResult(deps, c, 'k', async () => value('two')));
    assert.equal(r.body.toString(), 'two');
  });
});
