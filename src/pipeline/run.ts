// CONTRACT STUB — replaced by the full sharp pipeline (issue 3).
import type { TransformConfig } from './config.ts';
import type { TransformOptions } from '../request/params.ts';
import type { OutputFormat } from '../request/negotiate.ts';

export interface PipelineContext {
  config: TransformConfig;
  /** Output format negotiated before the source was read; undefined keeps the source's format. */
  format?: OutputFormat;
  /** Epoch milliseconds; checked between steps → ServiceError 503 `deadline_exceeded`. */
  deadline?: number;
  /** Loads a watermark (`mark=`) from the service's own sources; undefined when missing. */
  loadMark?: (path: string) => Promise<Buffer | undefined>;
}

export interface PipelineResult {
  body: Buffer;
  contentType: string;
  width?: number;
  height?: number;
  /** Extra response headers (Content-Disposition for `dl`, …). */
  headers: Record<string, string>;
}

/** One decode, fixed steps, one encode. Bad input → ServiceError 4xx, never a plain Error. */
export async function runPipeline(input: Buffer, _opts: TransformOptions, _ctx: PipelineContext): Promise<PipelineResult> {
  return { body: input, contentType: 'application/octet-stream', headers: {} };
}
