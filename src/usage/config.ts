import { z } from 'zod';

/** `plans:` — placeholder owned by the usage module. */
export const plansConfigSchema = z.record(z.string(), z.any()).default({});
/** `usage:` — placeholder owned by the usage module. */
export const usageConfigSchema = z.any().optional();
