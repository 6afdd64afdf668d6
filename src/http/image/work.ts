/**
 * The work stage: one result rendered from its original, under the work limiter and the
 * request's deadline. `render` is the seam for any other way of producing a result: it takes
 * the route match, the source's metadata, the options and the negotiated format, and returns
 * what the cache keeps.
 */
import { sourceChanged } from '../../errors.ts';
import { deadlineSignal, type CachedResult } from '../../cache/index.ts';
import { runPipeline } from '../../pipeline/run.ts';
import type { RouteMatch } from '../../routes/match.ts';
import type { ObjectMeta } from '../../storage/types.ts';
import type { TransformOptions } from '../../request/params.ts';
import type { NegotiatedFormat } from '../../request/negotiate.ts';
import type { ImageDeps } from './deps.ts';
import type { Marks } from './marks.ts';
import { openSource, readWhole } from './source.ts';
import { notFound } from './route.ts';

export type WorkDeps = Pick<ImageDeps, 'config' | 'storages' | 'bytes' | 'limiter' | 'masters' | 'onSourceFetch' | 'onTransform'>;

export interface RenderJob {
  match: RouteMatch;
  /** The original's metadata as the request's HEAD saw it (its version is in the cache key). */
  meta: ObjectMeta;
  opts: Readonly<TransformOptions>;
  negotiated: NegotiatedFormat;
  /** The images parameters pull in, as the access decision matched them. */
  marks: Marks;
  /** Epoch milliseconds by which the render must be done. */
  deadline: number;
  /** The path as requested, for a 404's message. */
  relative: string;
}

/**
 * Renders `job`: from its original's master where that is exact enough (src/masters), else from
 * the original. The render gets a deadline of its own, not a caller's connection: a client
 * that goes away must not fail others waiting on the same result. Throws 404 when the original
 * has gone, 503 `source_changed` when it was rewritten while it was read.
 */
export async function render(deps: WorkDeps, job: RenderJob): Promise<CachedResult> {
  const signal = deadlineSignal(Math.max(1, job.deadline - Date.now()));
  if (!deps.masters) return fromOriginal(deps, job, signal);
  const { match, meta, opts, negotiated, deadline } = job;
  return deps.masters.render({ match, etag: meta.etag, opts, negotiated, deadline, signal }, () => fromOriginal(deps, job, signal));
}

/** The render from the original itself, under the work limiter. */
function fromOriginal(deps: WorkDeps, job: RenderJob, signal: AbortSignal): Promise<CachedResult> {
  const { match, opts, negotiated, marks, deadline } = job;
  return deps.limiter.run(async () => {
    const source = await openSource(deps, match, signal);
    if (!source) throw notFound(job.relative);
    const started = performance.now();
    const held: Array<() => void> = [];
    let out: Awaited<ReturnType<typeof runPipeline>>;
    try {
      out = await runPipeline(source.input, opts, {
        config: deps.config.transform,
        format: negotiated.format,
        insteadOfAvif: negotiated.insteadOfAvif,
        deadline,
        loadMark: async (path) => {
          const mark = marks.get(path)?.match;
          if (!mark) return undefined;
          const m = await readWhole(deps, mark, signal);
          if (m) held.push(m.release);
          return m?.body;
        },
      });
      // A file rewritten in place while libvips read it: the render mixes two versions, and
      // would be cached under the old one's identity.
      if (await source.changed?.()) throw sourceChanged();
    } finally {
      for (const release of held) release();
      await source.close?.();
    }
    deps.onTransform?.({ format: out.contentType, ms: performance.now() - started });
    return { body: out.body, contentType: out.contentType, headers: out.headers, createdAt: Date.now() } satisfies CachedResult;
  }, signal);
}
