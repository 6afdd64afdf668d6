import { z } from 'zod';

/** `cache:` — placeholder owned by the cache module. */
export const cacheConfigSchema = z.any().optional();
/** `limits:` — placeholder owned by the cache module (concurrency, queue, deadline). */
export const limitsConfigSchema = z.any().optional();
