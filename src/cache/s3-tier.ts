import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { s3ClientFor } from '../storage/s3.ts';
import { decodeEntry, encodeEntry, entryName } from './codec.ts';
import type { CachedResult, PersistentTier } from './types.ts';

interface S3TierOptions {
  bucket: string;
  prefix: string;
  region?: string;
  endpoint?: string;
  forcePathStyle: boolean;
  timeoutMs: number;
  /** An existing client (tests, or to share connection pools); created from the options otherwise. */
  client?: S3Client;
}

/** Derivatives as objects under `bucket/prefix`, shared by every replica and by Lambda. */
export class S3Tier implements PersistentTier {
  readonly kind = 's3' as const;
  private readonly client: S3Client;
  private readonly ownsClient: boolean;

  constructor(private readonly opts: S3TierOptions) {
    this.ownsClient = !opts.client;
    // The sources' client settings: one retry at most (a cache slow to answer is worth less than a re-render).
    this.client = opts.client ?? s3ClientFor(opts);
  }

  private objectKey(key: string): string {
    return `${this.opts.prefix}${entryName(key)}`;
  }

  async get(key: string): Promise<CachedResult | undefined> {
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.opts.bucket, Key: this.objectKey(key) }), {
        abortSignal: AbortSignal.timeout(this.opts.timeoutMs),
      });
      if (!res.Body) return undefined;
      const bytes = await res.Body.transformToByteArray();
      return decodeEntry(key, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    } catch (err) {
      const name = (err as { name?: string }).name;
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (name === 'NoSuchBucket') throw err;
      if (name === 'NoSuchKey' || name === 'NotFound' || status === 404) return undefined;
      throw err;
    }
  }

  async set(key: string, value: CachedResult): Promise<void> {
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.opts.bucket,
        Key: this.objectKey(key),
        Body: encodeEntry(key, value),
        ContentType: 'application/octet-stream',
      }),
      { abortSignal: AbortSignal.timeout(this.opts.timeoutMs) },
    );
  }

  async close(): Promise<void> {
    if (this.ownsClient) this.client.destroy();
  }
}
