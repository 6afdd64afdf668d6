/**
 * Serving an original untouched: streamed where the source can (memory stays at a chunk or two
 * whatever the size), else read whole and counted against the byte budget until it is sent.
 * HEAD reads the first bytes only. The budget is released when the body ends, fails or the
 * client goes away.
 */
import type { RouteMatch } from '../../routes/match.ts';
import type { ObjectMeta } from '../../storage/types.ts';
import { originalContentType } from '../../content-type.ts';
import type { SourceDeps } from './deps.ts';
import { readWhole } from './source.ts';
import { notFound } from './route.ts';
import { bytesOf } from './respond.ts';

/** What an untouched original is sent from: its first bytes (for its type), its size and its body. */
export interface OriginalBody {
  meta: ObjectMeta;
  head: Buffer;
  size: number;
  /** Null for HEAD: nothing past the first bytes is read. */
  body: ReadableStream<Uint8Array> | null;
}

/** A streamed original holds about this much memory (the reader's chunks and the socket's buffer). */
const STREAM_WINDOW = 256 * 1024;

/** The original `match` names, for a response; 404 (naming `relative`) when it is missing. */
export async function readOriginal(deps: SourceDeps, match: RouteMatch, relative: string, signal: AbortSignal, headOnly: boolean): Promise<OriginalBody> {
  const storage = deps.storages[match.source];
  if (headOnly && storage.open) {
    // A local file: its first 4 KiB name its type; nothing else is read.
    const opened = await storage.open(match.key, signal);
    if (!opened) throw notFound(relative);
    await opened.close();
    return { meta: opened.meta, head: opened.head, size: opened.meta.size, body: null };
  }
  if (!storage.stream) {
    const obj = await readWhole(deps, match, signal);
    if (!obj) throw notFound(relative);
    if (headOnly) obj.release();
    const slices = (function* () {
      for (let i = 0; i < obj.body.length; i += 1 << 20) yield obj.body.subarray(i, i + (1 << 20));
    })();
    return { meta: obj.meta, head: obj.body.subarray(0, 4096), size: obj.body.length, body: headOnly ? null : bodyStream(Buffer.alloc(0), slices, obj.release) };
  }
  const release = await deps.bytes.acquire(STREAM_WINDOW, signal);
  let it: AsyncIterator<Buffer> | undefined;
  try {
    const t0 = performance.now();
    const obj = await storage.stream(match.key, signal);
    deps.onSourceFetch?.({ source: match.source, ms: performance.now() - t0 });
    if (!obj) throw notFound(relative);
    it = obj.body[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    const first: Buffer[] = [];
    let got = 0;
    while (got < 4096) {
      const r = await it.next();
      if (r.done) break;
      first.push(r.value);
      got += r.value.length;
    }
    const head = Buffer.concat(first);
    if (headOnly) {
      await it.return?.();
      release();
      return { meta: obj.meta, head, size: obj.meta.size, body: null };
    }
    return { meta: obj.meta, head, size: obj.meta.size, body: bodyStream(head, it, release) };
  } catch (err) {
    await it?.return?.().catch(() => undefined);
    release();
    throw err;
  }
}

/** Releases the budget of a response body dropped unread (a response replaced after the handler). */
const unread = new FinalizationRegistry<() => void>((release) => release());

/**
 * A response body from `first` then the rest of `it`, read as the client takes it; `done` (once,
 * idempotent) runs when it ends, fails, is cancelled, or is dropped unread.
 */
export function bodyStream(first: Buffer, it: Iterator<Buffer> | AsyncIterator<Buffer>, done: () => void): ReadableStream<Uint8Array> {
  let pending: Buffer | undefined = first.length > 0 ? first : undefined;
  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(ctl) {
        if (pending) {
          ctl.enqueue(bytesOf(pending));
          pending = undefined;
          return;
        }
        try {
          const r = await it.next();
          if (r.done) {
            ctl.close();
            done();
          } else ctl.enqueue(bytesOf(r.value));
        } catch (err) {
          done();
          ctl.error(err);
        }
      },
      async cancel() {
        done();
        await it.return?.();
      },
    },
    { highWaterMark: 0 },
  );
  unread.register(stream, done);
  return stream;
}

/** The headers an original adds to the response's: its own ETag, its type (and a sandbox for SVG), its length. */
export function originalHeaders(headers: Record<string, string>, obj: OriginalBody): void {
  headers.ETag = obj.meta.etag;
  headers['Content-Type'] = originalContentType(obj.head, obj.meta.contentType);
  // An SVG opened directly must not run its scripts on the image origin.
  if (headers['Content-Type'] === 'image/svg+xml') headers['Content-Security-Policy'] = "default-src 'none'; style-src 'unsafe-inline'; sandbox";
  headers['Content-Length'] = String(obj.size);
}
