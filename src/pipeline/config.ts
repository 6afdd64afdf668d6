import { z } from 'zod';

/** `transform:` settings. Owned by the pipeline; every field has a default. */
export const transformConfigSchema = z
  .object({
    /** Largest source accepted, in pixels (width × height × frames for animations), checked on the header. */
    maxPixels: z.number().int().positive().default(100_000_000),
    /** Most frames kept from an animated source. */
    maxFrames: z.number().int().positive().default(200),
    /** Largest output side; larger requests are clamped keeping the aspect ratio. */
    maxOutputSize: z.number().int().positive().default(8192),
    /** Default quality when the URL has no `q`. */
    defaultQuality: z.number().int().min(1).max(100).default(75),
  })
  .strict()
  .default({} as never);

export type TransformConfig = z.infer<typeof transformConfigSchema>;
