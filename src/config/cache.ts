import { availableParallelism } from 'node:os';
import { z } from 'zod';

const nonEmpty = z.string().min(1);
const MiB = 1024 * 1024;

/** A folder on local disk: survives a restart of the process; one per machine. */
const fsCacheTierSchema = z
  .object({
    type: z.literal('fs'),
    /** Folder for rendered derivatives; created when missing. Relative paths resolve against the config file. */
    dir: nonEmpty,
  })
  .strict();

/** An S3 bucket (or any S3-compatible store): shared by every replica and by Lambda. */
const s3CacheTierSchema = z
  .object({
    type: z.literal('s3'),
    bucket: nonEmpty,
    prefix: z.string().default('imagegate-cache/'),
    region: nonEmpty.optional(),
    endpoint: z.url().optional(),
    forcePathStyle: z.boolean().default(false),
    /** Longest wait for one S3 call; past it the lookup counts as a miss (or the write as not stored). */
    timeoutMs: z.number().int().positive().default(2_000),
  })
  .strict();

/**
 * `cache:` — the result cache. Memory tier on by default; the persistent tier is opt-in.
 * Keys already carry the source's identity (key + ETag), so a changed source is a new entry;
 * `ttlSeconds` bounds how long an unchanged one is kept.
 */
export const cacheConfigSchema = z
  .object({
    /** Master switch; `false` turns off both tiers (every request renders). */
    enabled: z.boolean().default(true),
    /** Entries older than this are treated as missing, in every tier. */
    ttlSeconds: z.number().int().positive().default(7 * 24 * 3600),
    memory: z
      .object({
        enabled: z.boolean().default(true),
        /** Byte budget of the in-memory LRU (sum of body sizes plus a small per-entry overhead). */
        maxBytes: z.number().int().positive().default(128 * MiB),
        /** Derivatives larger than this skip the memory tier (they still go to the persistent tier). */
        maxEntryBytes: z.number().int().positive().default(8 * MiB),
      })
      .strict()
      .prefault({}),
    /** Optional second tier, read after a memory miss and written after every render. */
    persistent: z.discriminatedUnion('type', [fsCacheTierSchema, s3CacheTierSchema]).optional(),
    /**
     * How long a source's metadata (ETag, size, dates) is reused before asking the source again,
     * milliseconds. Every request needs it for the cache key and ETag; reusing it briefly turns
     * one source HEAD per response into one per key per interval. A changed source is noticed
     * within this time. 0 asks the source on every request.
     */
    sourceMetaTtlMs: z.number().int().min(0).default(1_000),
    /**
     * Masters: one downscaled copy per original version (its long edge `longEdge` px, sRGB,
     * upright; JPEG q95, or lossless PNG with alpha), kept in the tiers above under the
     * original's identity (source, key, ETag). Later lossy renders that need no more pixels than
     * it holds decode it instead of the original (README, "Masters", lists what is eligible).
     */
    masters: z
      .object({
        enabled: z.boolean().default(true),
        /** The master's long edge, px; originals under 1.5 times this get none. */
        longEdge: z.number().int().min(256).max(8192).default(2048),
        /**
         * Bytes of masters made in this process kept decoded (pixels, about 7 MB each at 2048
         * px), so the next sizes of a srcset skip even the master's decode; 0 keeps none.
         */
        pixelBytes: z.number().int().min(0).default(64 * 1024 * 1024),
      })
      .strict()
      .prefault({}),
    /** After a persistent-tier failure, skip that tier for this long instead of paying its timeout on every request. */
    persistentBackoffMs: z.number().int().min(0).default(5_000),
  })
  .strict()
  .prefault({});

/**
 * `limits:` — bounded work. At most `concurrency` transformations in flight, `queue` more
 * waiting in FIFO order, anything past that answered at once with 503 + Retry-After.
 */
export const limitsConfigSchema = z
  .object({
    /** Transformations in flight; default: the number of cores. */
    concurrency: z.number().int().positive().default(() => availableParallelism()),
    /** Transformations waiting behind those in flight; past it requests are shed (503). */
    queue: z.number().int().min(0).default(64),
    /** Whole-request budget for a transformation (queue wait + fetch + render), milliseconds. */
    deadlineMs: z.number().int().positive().default(30_000),
    /**
     * Largest original read from any source (fs, s3, http), bytes; larger is 502
     * `source_too_large`, decided on the object's size before its body is read. 100 MiB holds any
     * JPEG, WebP or AVIF at the 100 MP pixel limit; an HTTP source's own `maxBytes` can only lower it.
     */
    maxOriginalBytes: z.number().int().positive().default(100 * MiB),
    /**
     * Bytes of originals held in memory at once, process-wide: originals read whole (renders from
     * S3 and HTTP sources, SVGs, watermarks, untouched originals from HTTP sources) count their
     * size, streamed originals a 256 KiB window. Past it requests wait, in order and within their
     * deadline; with `queue` already waiting they are shed at once (503 `overloaded`).
     */
    maxBytesInFlight: z.number().int().positive().default(256 * MiB),
    /** `Retry-After` sent with 503 `overloaded` and `deadline_exceeded`, seconds. */
    retryAfterSeconds: z.number().int().min(0).default(1),
  })
  .strict()
  .prefault({});

export type CacheConfig = z.infer<typeof cacheConfigSchema>;
