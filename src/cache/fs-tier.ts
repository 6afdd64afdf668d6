import { mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { decodeEntry, encodeEntry, entryName } from './codec.ts';
import type { CachedResult, PersistentTier } from './types.ts';

/**
 * Derivatives as files under `dir` (two-level fan-out by hash). Writes go to a temporary file
 * renamed into place, so a reader — in this process, another replica on the same disk, or the
 * next process after a restart — never sees half an entry.
 */
export class FsTier implements PersistentTier {
  readonly kind = 'fs' as const;
  readonly dir: string;

  constructor(dir: string) {
    this.dir = path.resolve(dir);
  }

  private file(key: string): string {
    return path.join(this.dir, `${entryName(key)}.bin`);
  }

  async get(key: string): Promise<CachedResult | undefined> {
    let data: Buffer;
    try {
      data = await readFile(this.file(key));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    return decodeEntry(key, data);
  }

  async set(key: string, value: CachedResult): Promise<void> {
    const file = this.file(key);
    await mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      await writeFile(tmp, encodeEntry(key, value));
      await rename(tmp, file);
    } catch (err) {
      await unlink(tmp).catch(() => {});
      throw err;
    }
  }
}
