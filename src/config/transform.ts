import { z } from 'zod';

/** Default of `transform.autoAvifMaxPixels`, from bench/encode-cost.ts (see bench/RESULTS.md). */
const AUTO_AVIF_MAX_PIXELS = 1_000_000;

/** `transform:` settings, read by the pipeline; every field has a default. */
export const transformConfigSchema = z
  .object({
    /** Largest source accepted, in pixels (width × height × frames for animations), checked on the header. */
    maxPixels: z.number().int().positive().default(100_000_000),
    /** Largest SVG source accepted, bytes: an SVG is parsed whole before its size is known. */
    maxSvgBytes: z.number().int().positive().default(2 * 1024 * 1024),
    /**
     * Largest estimated cost of one render, in work units (about one decoded pixel each; see
     * pipeline/cost.ts): frames × (source pixels + 200 per source row + output pixels × (encoder +
     * operations)). Over it, 422 `render_too_costly` before anything is decoded. The default is
     * about 12–20 s of one core on a small cloud machine, well inside the 30 s deadline.
     */
    maxRenderCost: z.number().positive().default(3_000_000_000),
    /** Most frames kept from an animated source; later frames are dropped. */
    maxFrames: z.number().int().positive().default(200),
    /** Largest output side; larger requests are clamped keeping the aspect ratio. */
    maxOutputSize: z.number().int().positive().max(16384).default(8192),
    /** Default quality when the URL has no `q`. */
    defaultQuality: z.number().int().min(1).max(100).default(75),
    /** Quality used by `auto=compress` when the URL has no `q`. */
    compressQuality: z.number().int().min(1).max(100).default(45),
    /** AVIF encoder effort 0 (fastest) – 9 (smallest). */
    avifEffort: z.number().int().min(0).max(9).default(4),
    /** WebP encoder effort 0 (fastest) – 6 (smallest). */
    webpEffort: z.number().int().min(0).max(6).default(4),
    /** libvips decode strictness: 'error' tolerates harmless warnings (truncated tails render grey). */
    failOn: z.enum(['none', 'truncated', 'error', 'warning']).default('error'),
    /**
     * Refuse bad parameter values with 400 `invalid_parameter` (also a repeated parameter) instead
     * of handling them as imgix does (ignored, clamped or the last one used).
     */
    strict: z.boolean().default(false),
    /**
     * auto=format chooses AVIF only for still outputs up to this many pixels; larger ones (and
     * animations) get WebP (or the source's format), because AVIF costs ~20–30× WebP's CPU to encode
     * (bench/encode-cost.ts). 0 = auto=format never chooses AVIF. `fm=avif` is always honoured.
     */
    autoAvifMaxPixels: z.number().int().min(0).default(AUTO_AVIF_MAX_PIXELS),
    /** BlurHash components (x, y) for fm=blurhash. */
    blurhashComponents: z.tuple([z.number().int().min(1).max(9), z.number().int().min(1).max(9)]).default([4, 3]),
  })
  .strict()
  .prefault({});

export type TransformConfig = z.infer<typeof transformConfigSchema>;
