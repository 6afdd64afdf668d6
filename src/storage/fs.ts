import { existsSync, promises as fsp, constants as fsc } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { SNIFF_BYTES } from '../content-type.ts';
import { ServiceError, sourceTooLarge } from '../errors.ts';
import type { ObjectMeta, OpenedObject, Storage, StoredObject, StreamedObject } from './types.ts';

/** Linux names every open file of a process; elsewhere originals are read into memory. */
const FD_PATHS = existsSync('/proc/self/fd');
const STREAM_CHUNK = 64 * 1024;

/**
 * A local folder. Keys are relative paths; a key that resolves outside the root — through
 * `..`, an absolute path or a symlink whose target leaves the root — is treated as missing,
 * so not a byte outside the root is ever read. Files over `maxBytes` are refused (502
 * `source_too_large`) on their size, before any byte is read.
 */
export function createFsStorage(cfg: { root: string; maxBytes?: number }): Storage {
  const root = path.resolve(cfg.root);
  const maxBytes = cfg.maxBytes ?? Infinity;
  let realRoot: string | undefined;

  async function resolveInside(key: string): Promise<string | undefined> {
    if (key.includes('\0') || path.isAbsolute(key)) return undefined;
    const candidate = path.resolve(root, key);
    if (candidate !== root && !candidate.startsWith(root + path.sep)) return undefined;
    let real: string;
    try {
      realRoot ??= await fsp.realpath(root);
      real = await fsp.realpath(candidate);
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw storageFailure(err);
    }
    if (!real.startsWith(realRoot + path.sep)) return undefined;
    return real;
  }

  async function statFile(file: string): Promise<ObjectMeta | undefined> {
    try {
      const st = await fsp.stat(file);
      if (!st.isFile()) return undefined;
      return metaOf(st);
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw storageFailure(err);
    }
  }

  /** The checked file, opened without following a last-moment symlink; undefined when it is not a regular file. */
  async function openChecked(key: string): Promise<{ handle: fsp.FileHandle; st: import('node:fs').Stats } | undefined> {
    const file = await resolveInside(key);
    if (!file) return undefined;
    let handle: fsp.FileHandle;
    try {
      handle = await fsp.open(file, fsc.O_RDONLY | fsc.O_NOFOLLOW);
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw storageFailure(err);
    }
    let st: import('node:fs').Stats;
    try {
      st = await handle.stat();
    } catch (err) {
      await handle.close();
      throw storageFailure(err);
    }
    if (st.isFile() && st.size <= maxBytes) return { handle, st };
    await handle.close();
    if (st.isFile()) throw sourceTooLarge(maxBytes);
    return undefined;
  }

  const storage: Storage = {
    async head(key) {
      const file = await resolveInside(key);
      return file ? statFile(file) : undefined;
    },
    async get(key): Promise<StoredObject | undefined> {
      const opened = await openChecked(key);
      if (!opened) return undefined;
      try {
        return { meta: metaOf(opened.st), body: await readAll(opened.handle, opened.st.size) };
      } catch (err) {
        throw storageFailure(err);
      } finally {
        await opened.handle.close();
      }
    },
    async stream(key): Promise<StreamedObject | undefined> {
      const opened = await openChecked(key);
      if (!opened) return undefined;
      const { handle, st } = opened;
      // Never more than the size the headers announce; the handle closes with the stream.
      const body = st.size > 0 ? handle.createReadStream({ start: 0, end: st.size - 1, highWaterMark: STREAM_CHUNK }) : Readable.from([]);
      if (st.size === 0) await handle.close();
      return { meta: metaOf(st), body };
    },
    async *list(prefix) {
      const base = await resolveInside(prefix.replace(/\/+$/, '') || '.').catch(() => undefined);
      const start = prefix === '' || prefix === '.' ? root : base;
      if (!start) return;
      yield* walk(root, start);
    },
  };
  if (FD_PATHS) {
    storage.open = async (key): Promise<OpenedObject | undefined> => {
      const opened = await openChecked(key);
      if (!opened) return undefined;
      const { handle, st } = opened;
      try {
        const head = await readAll(handle, Math.min(SNIFF_BYTES, st.size));
        const changed = async () => {
          const now = await handle.stat();
          return now.size !== st.size || now.mtimeMs !== st.mtimeMs || now.ctimeMs !== st.ctimeMs;
        };
        const read = () => readAll(handle, st.size).catch((err) => Promise.reject(storageFailure(err)));
        return { meta: metaOf(st), file: `/proc/self/fd/${handle.fd}`, head, changed, read, close: () => handle.close() };
      } catch (err) {
        await handle.close();
        throw storageFailure(err);
      }
    };
  }
  return storage;
}

async function* walk(root: string, dir: string): AsyncGenerator<string> {
  let entries;
  try {
    entries = await fsp.readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (isMissing(err) || (err as NodeJS.ErrnoException).code === 'ENOTDIR') {
      // A prefix naming a single file lists that file.
      const st = await fsp.stat(dir).catch(() => undefined);
      if (st?.isFile()) yield path.relative(root, dir).split(path.sep).join('/');
      return;
    }
    throw err;
  }
  entries.sort((a, b) => a.name.localeCompare(b.name));
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) yield* walk(root, p);
    else if (e.isFile()) yield path.relative(root, p).split(path.sep).join('/');
  }
}

/** One read into a buffer of the file's size (FileHandle.readFile grows its buffer in steps). */
async function readAll(handle: fsp.FileHandle, size: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(size);
  let off = 0;
  while (off < size) {
    const { bytesRead } = await handle.read(buf, off, size - off, off);
    if (bytesRead === 0) break;
    off += bytesRead;
  }
  return off === size ? buf : buf.subarray(0, off);
}

function metaOf(st: { size: number; mtimeMs: number; mtime: Date }): ObjectMeta {
  return {
    etag: `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`,
    size: st.size,
    lastModified: st.mtime,
  };
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP' || code === 'ENAMETOOLONG' || code === 'EISDIR';
}

function storageFailure(err: unknown): ServiceError {
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === 'EACCES' || code === 'EPERM') {
    return new ServiceError(502, 'source_denied', 'Source refused access to the object', { cause: err });
  }
  return new ServiceError(502, 'source_error', 'Source failed to read the object', { cause: err });
}
