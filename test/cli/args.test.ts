import { test } from 'node:test';
import assert from 'node:assert/strict';
import { integerOption } from '../../src/cli/args.ts';

test('integerOption: absent is undefined; integers in range are read; anything else names the option and the range', () => {
  assert.equal(integerOption('limit', undefined, 1), undefined);
  assert.equal(integerOption('limit', '7', 1), 7);
  assert.equal(integerOption('port', '0', 0, 65535), 0);
  assert.equal(integerOption('port', '65535', 0, 65535), 65535);
  assert.throws(() => integerOption('limit', '0', 1), { message: "--limit: expected a positive integer, got '0'" });
  for (const bad of ['', '-1', '1.5', '1e3', ' 2', '0x10', 'ten']) {
    assert.throws(() => integerOption('limit', bad, 1), { message: `--limit: expected a positive integer, got '${bad}'` }, bad);
  }
  assert.throws(() => integerOption('port', '65536', 0, 65535), { message: "--port: expected an integer from 0 to 65535, got '65536'" });
  assert.throws(() => integerOption('n', '2', 3), { message: "--n: expected an integer of at least 3, got '2'" });
});
