import type { SourceConfig } from '../config/schema.ts';
import { createFsStorage } from './fs.ts';
import { createS3Storage } from './s3.ts';
import type { Storage } from './types.ts';

/** One Storage per configured source. */
export async function createStorages(sources: Record<string, SourceConfig>): Promise<Record<string, Storage>> {
  const out: Record<string, Storage> = {};
  for (const [name, src] of Object.entries(sources)) {
    if (src.type === 'fs') out[name] = createFsStorage(src);
    else if (src.type === 's3') out[name] = createS3Storage(src);
    else out[name] = (await import('./http.ts')).createHttpStorage(src);
  }
  return out;
}
