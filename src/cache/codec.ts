import { createHash } from 'node:crypto';
import type { CachedResult } from './types.ts';

/**
 * One persisted entry = magic + header length + JSON header + body, so a single object (a file,
 * an S3 object) holds the bytes and their headers and can be read with one request.
 */
const MAGIC = Buffer.from('IGC1');

interface Header {
  key: string;
  contentType: string;
  headers: Record<string, string>;
  createdAt: number;
}

export function encodeEntry(key: string, value: CachedResult): Buffer {
  const header: Header = { key, contentType: value.contentType, headers: value.headers, createdAt: value.createdAt };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(json.length, 0);
  return Buffer.concat([MAGIC, len, json, value.body]);
}

/** The stored entry, or undefined when the bytes are not an entry for `key` (corrupt, truncated, hash collision). */
export function decodeEntry(key: string, data: Buffer): CachedResult | undefined {
  if (data.length < 8 || !data.subarray(0, 4).equals(MAGIC)) return undefined;
  const len = data.readUInt32BE(4);
  if (8 + len > data.length) return undefined;
  let header: Header;
  try {
    header = JSON.parse(data.subarray(8, 8 + len).toString('utf8')) as Header;
  } catch {
    return undefined;
  }
  if (header.key !== key || typeof header.contentType !== 'string' || typeof header.createdAt !== 'number') return undefined;
  return {
    body: data.subarray(8 + len),
    contentType: header.contentType,
    headers: header.headers ?? {},
    createdAt: header.createdAt,
  };
}

/** Fixed-length, path-safe name for a cache key (keys hold arbitrary user text). */
export function entryName(key: string): string {
  const h = createHash('sha256').update(key).digest('hex');
  return `${h.slice(0, 2)}/${h.slice(2)}`;
}
