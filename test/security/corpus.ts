/**
 * Hostile files shipped by Debian's `gdk-pixbuf-tests` and `librsvg2-tests` packages: the
 * corrupt, truncated and oversized images those projects keep as regression tests for their
 * own decoders. Outside CI a missing package skips the tests that need it; under CI it fails.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { inCI } from '../helpers/services.ts';

export const GDK = '/usr/libexec/installed-tests/gdk-pixbuf';
export const RSVG = '/usr/libexec/installed-tests/RSVG/fixtures';

/** Skip reason (or a throw under CI) when the corpus packages are not installed. */
export function requireCorpus(): string | undefined {
  const missing = [GDK, RSVG].filter((d) => !existsSync(d));
  if (missing.length === 0) return undefined;
  const why = `missing ${missing.join(', ')} (apt-get install gdk-pixbuf-tests librsvg2-tests)`;
  if (inCI) throw new Error(`${why}: required under CI`);
  return why;
}

function filesIn(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .map((n) => path.join(dir, n))
    .filter((p) => statSync(p).isFile())
    .sort();
}

/** Files every decoder must refuse: corrupt, unsupported, or far over the pixel limit. */
export function mustRefuse(): string[] {
  return [
    ...filesIn(path.join(GDK, 'test-images', 'fail')),
    path.join(GDK, 'large.jpg'), // 22500 × 33300 = 749 MP
    path.join(GDK, 'large.png'), // 25200 × 33300 = 839 MP
    path.join(GDK, 'issue205.jpg'), // 64250 × 64250 = 4.1 GP declared
    path.join(GDK, 'bug775218.jpg'), // corrupt header
    path.join(GDK, 'cve-2015-4491.bmp'),
  ].filter((p) => existsSync(p));
}

/** Files that may render (a lenient decoder recovers them) or be refused, but never break the service. */
export function mayRender(): string[] {
  const top = filesIn(GDK).filter(
    (p) => /\.(jpe?g|png|gif|tiff?|bmp|ani)$/i.test(p) && !mustRefuse().includes(p),
  );
  return [
    ...top,
    ...filesIn(path.join(GDK, 'test-images', 'randomly-modified')),
    ...filesIn(path.join(RSVG, 'crash')),
    path.join(RSVG, 'errors', '323-nested-use.svg'),
    path.join(RSVG, 'errors', '515-pattern-billion-laughs.svg'),
  ].filter((p) => existsSync(p));
}

/** A 40 KB gzip-compressed SVG that expands to 20 MB of XML with a million elements. */
export const SVGZ_BOMB = path.join(RSVG, 'errors', '515-too-many-elements.svgz');

/** Route path for a corpus file under the app config built by `corpusRoutes`. */
export function routePath(file: string): string {
  const enc = (rel: string) => rel.split('/').map(encodeURIComponent).join('/');
  if (file.startsWith(`${GDK}/`)) return `/gdk/${enc(file.slice(GDK.length + 1))}`;
  if (file.startsWith(`${RSVG}/`)) return `/rsvg/${enc(file.slice(RSVG.length + 1))}`;
  throw new Error(`not a corpus file: ${file}`);
}

export const corpusSources = {
  sources: { gdk: { type: 'fs', root: GDK }, rsvg: { type: 'fs', root: RSVG } },
  routes: [
    { match: 'gdk/*', source: 'gdk', key: '{*}' },
    { match: 'rsvg/*', source: 'rsvg', key: '{*}' },
  ],
};
