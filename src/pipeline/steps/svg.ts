import { readFile } from 'node:fs/promises';
import type { EncodedInput } from '../context.ts';

/**
 * rasterize-bypass=true on an SVG source answers the SVG itself (the other parameters do not
 * apply), sanitised unless svg-sanitize=false: script elements, foreignObject, event-handler
 * attributes (on…) and javascript: links are removed, so the file cannot run code when opened.
 */
export async function svgBypass(input: EncodedInput, sanitize: boolean): Promise<Buffer> {
  const bytes = Buffer.isBuffer(input) ? input : await readFile(input.file);
  return sanitize ? Buffer.from(sanitizeSvg(bytes.toString('utf8')), 'utf8') : bytes;
}

/** A conservative SVG sanitiser: removes what can run code; keeps everything that draws. */
export function sanitizeSvg(svg: string): string {
  let out = svg;
  let prev;
  do {
    prev = out;
    out = out
      .replace(/<\s*(script|foreignObject|iframe|embed|object)\b[\s\S]*?<\s*\/\s*\1\s*>/gi, '')
      .replace(/<\s*(script|foreignObject|iframe|embed|object)\b[^>]*\/?>/gi, '')
      .replace(/\s+on[a-z]+\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)/gi, '')
      .replace(/\s+((?:xlink:)?href)\s*=\s*("\s*javascript:[^"]*"|'\s*javascript:[^']*')/gi, '');
  } while (out !== prev);
  return out;
}
