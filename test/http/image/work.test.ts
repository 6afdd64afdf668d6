import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { makeImageFolder, testConfig } from '../../helpers/app.ts';
import { createFsStorage } from '../../../src/storage/fs.ts';
import { ByteBudget, WorkLimiter } from '../../../src/cache/index.ts';
import type { Storage } from '../../../src/storage/types.ts';
import { render, type RenderJob, type WorkDeps } from '../../../src/http/image/work.ts';
import { parseTransform } from '../../../src/request/params.ts';
import { negotiateFormat } from '../../../src/request/negotiate.ts';
import { ServiceError } from '../../../src/errors.ts';

describe('work stage (real sharp)', () => {
  let folder: Awaited<ReturnType<typeof makeImageFolder>>;
  let deps: WorkDeps & { transforms: string[] };
  before(async () => {
    folder = await makeImageFolder();
    const fs = createFsStorage({ root: folder.root });
    const config = testConfig(folder.root);
    const transforms: string[] = [];
    deps = {
      config,
      // The file opened for the decoder (local) and the same bytes read into memory (remote).
      storages: { local: fs, remote: { head: fs.head, get: fs.get } satisfies Storage },
      bytes: new ByteBudget({ maxBytes: 64 << 20, queue: 4 }),
      limiter: new WorkLimiter({ concurrency: 1, queue: 4 }),
      onTransform: (info) => transforms.push(info.format),
      transforms,
    };
  });
  after(() => folder.cleanup());

  function job(source: string, key: string, query: string): RenderJob {
    const opts = parseTransform(new URLSearchParams(query), deps.config.transform);
    return { match: { source, key, params: {} }, meta: { size: 0, etag: '"x"' }, opts, negotiated: negotiateFormat(opts, undefined), marks: new Map(), deadline: Date.now() + 10_000, relative: key };
  }

  for (const source of ['local', 'remote']) {
    test(`${source}: the result the cache keeps, rendered from the original`, async () => {
      const before = deps.transforms.length;
      const result = await render(deps, job(source, 'photo.jpg', 'w=100&fm=webp'));
      assert.equal(result.contentType, 'image/webp');
      const out = await sharp(result.body).metadata();
      assert.equal(out.format, 'webp');
      assert.equal(out.width, 100);
      assert.equal(out.height, 67);
      assert.ok(result.createdAt > 0);
      assert.deepEqual(deps.transforms.slice(before), ['image/webp']);
      assert.equal(deps.bytes.inFlight, 0, 'the original\'s bytes are given back');
    });
  }

  test('a watermark is read through the route match the access decision gave it', async () => {
    const plain = await render(deps, job('local', 'photo.jpg', 'w=200&fm=png'));
    const marked = job('local', 'photo.jpg', 'w=200&fm=png&mark=alpha.png&mark-w=100');
    marked.marks.set('alpha.png', { name: 'mark', match: { source: 'local', key: 'alpha.png', params: {} } });
    const withMark = await render(deps, marked);
    assert.ok(!withMark.body.equals(plain.body));
    const unmatched = job('local', 'photo.jpg', 'w=200&fm=png&mark=alpha.png&mark-w=100');
    await assert.rejects(render(deps, unmatched), (e: ServiceError) => e.status === 400);
    assert.equal(deps.bytes.inFlight, 0);
  });

  test('an original gone since its metadata was read: 404 naming the path', async () => {
    await assert.rejects(render(deps, job('local', 'gone.jpg', 'w=10')), (e: ServiceError) => e.status === 404 && e.message.includes('gone.jpg'));
  });
});
