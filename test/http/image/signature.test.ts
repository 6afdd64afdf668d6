import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { signatureStage } from '../../../src/http/image/signature.ts';
import type { ImageRoute } from '../../../src/http/image/route.ts';
import { signTarget } from '../../../src/request/signature.ts';
import { ServiceError } from '../../../src/errors.ts';
import { inContext } from '../../helpers/context.ts';

const TOKEN = 'source-token';
const signing = { signed: { token: TOKEN, required: true, path: 'request' as const }, optional: { token: TOKEN, required: false, path: 'afterBasePath' as const } };

function route(clientPath: string, queries: string[], source: string | undefined, relative = clientPath.replace(/^\/+/, '')): ImageRoute {
  return { target: { imagePath: `/${relative}`, clientPath, rawQueries: queries, inBasePath: true }, relative, source };
}
const querySigned = (path: string, query: string) => signTarget(`${path}?${query}`, TOKEN).split('?')[1]!;

describe('signature stage', () => {
  const stage = signatureStage(signing);

  test('the query the access decision verified is the one rendered, for the context source', async () => {
    const r = await inContext('http://localhost/', (c) => stage(c, route('/a.jpg', ['w=1', 'w=2'], 'signed')), { vars: { verifiedQuery: 'w=2', source: 'signed' } });
    assert.deepEqual(r, { query: 'w=2', verifiedSource: 'signed', expires: undefined });
  });

  test("a source's own signature: of the spellings offered, the one that verifies is rendered", async () => {
    const good = querySigned('/s/a.jpg', 'w=10');
    const r = await inContext('http://localhost/', (c) => stage(c, route('/s/a.jpg', ['w=10&s=0000', good], 'signed')));
    assert.deepEqual(r, { query: good, verifiedSource: 'signed', expires: undefined });
  });

  test('afterBasePath signs the path without the base path', async () => {
    const good = querySigned('/a.jpg', 'w=10');
    const r = await inContext('http://localhost/', (c) => stage(c, route('/stage/a.jpg', [good], 'optional', 'a.jpg')));
    assert.equal(r.verifiedSource, 'optional');
  });

  test('tampered: 403 invalid_signature; required and missing: 403; optional and missing: the first spelling, unverified', async () => {
    const good = querySigned('/a.jpg', 'w=10');
    await assert.rejects(
      inContext('http://localhost/', (c) => stage(c, route('/a.jpg', [good.replace('w=10', 'w=11')], 'signed'))),
      (e: ServiceError) => e.status === 403 && e.code === 'invalid_signature',
    );
    await assert.rejects(inContext('http://localhost/', (c) => stage(c, route('/a.jpg', ['w=10'], 'signed'))), (e: ServiceError) => e.code === 'invalid_signature');
    const r = await inContext('http://localhost/', (c) => stage(c, route('/a.jpg', ['w=10', 'w=11'], 'optional')));
    assert.deepEqual(r, { query: 'w=10', verifiedSource: undefined, expires: undefined });
  });

  test('expires is read on every URL: a future one is returned, a past one is 404 expired', async () => {
    const later = Math.floor(Date.now() / 1000) + 600;
    const none = signatureStage({});
    const r = await inContext('http://localhost/', (c) => none(c, route('/a.jpg', [`expires=${later}`], undefined)));
    assert.equal(r.expires, later);
    await assert.rejects(inContext('http://localhost/', (c) => none(c, route('/a.jpg', ['expires=1000'], undefined))), (e: ServiceError) => e.status === 404 && e.code === 'expired');
  });

  test('an empty path is 400 missing_path when any source signs', async () => {
    await assert.rejects(inContext('http://localhost/', (c) => stage(c, route('/', [''], undefined, ''))), (e: ServiceError) => e.status === 400 && e.code === 'missing_path');
  });
});
