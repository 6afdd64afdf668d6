import type { Config } from '../../config/schema.ts';
import type { CompiledRoute } from '../../routes/match.ts';
import type { Storage } from '../../storage/types.ts';
import type { ByteBudget, ResultCache, SingleFlight, WorkLimiter } from '../../cache/index.ts';
import type { SigningRule } from '../access.ts';
import type { Masters } from '../../masters/index.ts';

/** What the image route is built from (see createApp). */
export interface ImageDeps {
  config: Config;
  routes: CompiledRoute[];
  storages: Record<string, Storage>;
  /** Signing token per source name, for sources with `signing:`. */
  signing: Record<string, SigningRule>;
  cache: ResultCache;
  flight: SingleFlight;
  limiter: WorkLimiter;
  /** Per-request deadline for source reads and transformations, milliseconds. */
  deadlineMs: number;
  /** Bytes of originals held in memory, process-wide (`limits.maxBytesInFlight`). */
  bytes: ByteBudget;
  /** Renders eligible derivatives from their original's master (see src/masters). */
  masters?: Masters;
  /** Called once per transformation actually run (metrics, tests). */
  onTransform?: (info: { format: string; ms: number }) => void;
  /** Called with the time a source read took (metrics). */
  onSourceFetch?: (info: { source: string; ms: number }) => void;
}

/** What reading a source needs: the storages, the byte budget and the fetch-time hook. */
export type SourceDeps = Pick<ImageDeps, 'storages' | 'bytes' | 'onSourceFetch'>;
