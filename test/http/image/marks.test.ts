import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { makeImageFolder } from '../../helpers/app.ts';
import { createFsStorage } from '../../../src/storage/fs.ts';
import { compileRoutes } from '../../../src/routes/match.ts';
import { markRoutes, marksIdentity } from '../../../src/http/image/marks.ts';
import type { AccessRules } from '../../../src/http/access.ts';
import type { TransformOptions } from '../../../src/request/params.ts';
import { ServiceError } from '../../../src/errors.ts';

describe('marks stage', () => {
  let folder: Awaited<ReturnType<typeof makeImageFolder>>;
  let rules: AccessRules;
  before(async () => {
    folder = await makeImageFolder();
    rules = {
      routes: compileRoutes([
        { match: 'locked/*', source: 'locked', key: '{*}' },
        { match: '*', source: 'local' },
      ]),
      signing: { locked: { token: 't', required: true, path: 'request' } },
      basePath: '',
      maxPathLength: 500,
    };
  });
  after(() => folder.cleanup());

  const opts = (o: Partial<TransformOptions>) => o as TransformOptions;

  test('every path a parameter names, with the route match the access decision gives it', () => {
    const marks = markRoutes(rules, opts({ mark: 'alpha.png', blend: { path: 'sub/inner.webp' } as never }), undefined, { source: 'local', keyed: true });
    assert.deepEqual([...marks], [
      ['alpha.png', { name: 'mark', match: { source: 'local', key: 'alpha.png', params: { '*': 'alpha.png' } } }],
      ['sub/inner.webp', { name: 'blend', match: { source: 'local', key: 'sub/inner.webp', params: { '*': 'sub/inner.webp' } } }],
    ]);
    assert.equal(markRoutes(rules, opts({}), undefined, { source: 'local', keyed: true }).size, 0);
  });

  test("a signed source's mark from an unsigned request: 403 before any storage is asked", () => {
    assert.throws(() => markRoutes(rules, opts({ mark: 'locked/alpha.png' }), undefined, { source: 'local', keyed: true }), (e: ServiceError) => e.status === 403);
    assert.equal(markRoutes(rules, opts({ mark: 'locked/alpha.png' }), 'locked', { source: 'locked', keyed: true }).get('locked/alpha.png')!.match!.source, 'locked');
  });

  test("each mark's identity is its object's ETag, or missing; it changes when the object does", async () => {
    const storages = { local: createFsStorage({ root: folder.root }) };
    const requester = { source: 'local', keyed: true };
    assert.equal(await marksIdentity(storages, markRoutes(rules, opts({}), undefined, requester)), '');
    const marks = markRoutes(rules, opts({ mark: 'alpha.png', mask: { path: 'gone.png' } as never }), undefined, requester);
    const before = await marksIdentity(storages, marks);
    const etag = (await storages.local.head('alpha.png'))!.etag;
    assert.equal(before, `\nmark=${etag}\nmask=missing`);
    writeFileSync(path.join(folder.root, 'alpha.png'), Buffer.alloc(10));
    assert.notEqual(await marksIdentity(storages, marks), before);
  });
});
