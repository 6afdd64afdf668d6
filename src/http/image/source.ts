/**
 * Reading a source object for the work stage and for originals. Only route matches from the
 * access decision get here (route.ts, derive.ts, marks.ts).
 */
import type { RouteMatch } from '../../routes/match.ts';
import type { ObjectMeta, Storage, StoredObject } from '../../storage/types.ts';
import { whenReady } from '../chain.ts';
import { sourceTooLarge } from '../../errors.ts';
import { notFound } from './route.ts';
import { detectContentType } from '../../content-type.ts';
import type { SourceDeps } from './deps.ts';
import type { OpenedOriginal } from '../../masters/index.ts';

/**
 * An object read whole into memory, its size counted against the byte budget until `release`
 * (the size comes from the source's metadata; the source's byte cap refuses larger ones).
 * Undefined when the object is missing.
 */
export async function readWhole(deps: SourceDeps, match: RouteMatch, signal: AbortSignal): Promise<(StoredObject & { release: () => void }) | undefined> {
  const storage = deps.storages[match.source];
  const meta = await storage.head(match.key, signal);
  if (!meta) return undefined;
  const release = await deps.bytes.acquire(meta.size, signal);
  try {
    const t0 = performance.now();
    const obj = await storage.get(match.key, signal);
    deps.onSourceFetch?.({ source: match.source, ms: performance.now() - t0 });
    if (!obj) release();
    return obj && { ...obj, release };
  } catch (err) {
    release();
    throw err;
  }
}

/**
 * The original as the pipeline takes it: a local raster file the decoder reads itself where the
 * source offers one, else its bytes (counted against the byte budget until `close`). Undefined
 * when the object is missing.
 */
export async function openSource(deps: SourceDeps, match: RouteMatch, signal: AbortSignal): Promise<OpenedOriginal | undefined> {
  const storage = deps.storages[match.source];
  if (!storage.open) {
    const obj = await readWhole(deps, match, signal);
    return obj && { input: obj.body, close: async () => obj.release() };
  }
  const t0 = performance.now();
  const opened = await storage.open(match.key, signal);
  if (!opened) return undefined;
  // Only raster formats are decoded from the file. librsvg resolves an SVG's relative references
  // against the folder of the file it reads (from memory there is none), and a format the magic
  // numbers do not name is left to the same checks as before, on its bytes.
  const type = detectContentType(opened.head);
  if (type === undefined || type === 'image/svg+xml') {
    let release: (() => void) | undefined;
    try {
      release = await deps.bytes.acquire(opened.meta.size, signal);
      const body = await opened.read();
      deps.onSourceFetch?.({ source: match.source, ms: performance.now() - t0 });
      return { input: body, close: async () => release!() };
    } catch (err) {
      release?.();
      throw err;
    } finally {
      await opened.close();
    }
  }
  deps.onSourceFetch?.({ source: match.source, ms: performance.now() - t0 });
  return { input: { file: opened.file, head: opened.head, size: opened.meta.size }, changed: opened.changed, close: opened.close };
}

/**
 * An object's metadata (undefined when it is missing): at once when the metadata cache knows it
 * (see createApp), else the source's HEAD — bounded by the deadline the sources are wrapped with.
 */
export function headOf(storage: Storage, key: string): ObjectMeta | undefined | Promise<ObjectMeta | undefined> {
  const known = storage.knownHead?.(key);
  return known !== undefined ? (known ?? undefined) : storage.head(key);
}

/** The original's metadata: 404 (naming `relative`) when it is missing, 413 when it is larger than `maxBytes`, before its body is read. */
export function sourceMeta(storages: SourceDeps['storages'], match: RouteMatch, relative: string, maxBytes: number): ObjectMeta | Promise<ObjectMeta> {
  return whenReady(headOf(storages[match.source], match.key), (meta) => checkedMeta(meta, relative, maxBytes));
}

function checkedMeta(meta: ObjectMeta | undefined, relative: string, maxBytes: number): ObjectMeta {
  if (!meta) throw notFound(relative);
  // Every source kind, on the size it reports.
  if (meta.size > maxBytes) throw sourceTooLarge(maxBytes);
  return meta;
}
