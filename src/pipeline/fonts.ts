import { createRequire } from 'node:module';
import sharp from 'sharp';

/**
 * The fonts `txt` renders with ship with the package (npm `@expo-google-fonts/noto-*`, SIL OFL):
 * Noto Sans, Noto Serif (regular, bold, italic, bold italic), Noto Sans Mono (regular, bold) and
 * Noto Emoji (monochrome) — Latin, Greek, Cyrillic, Vietnamese and emoji, about 6.3 MB of TTF. They
 * are registered with fontconfig once per process, so the Node server and the Lambda render the
 * same pixels whatever the host has installed. CJK is not shipped (Noto Sans JP alone is 5.5 MB a
 * weight): those characters fall back to the host's fonts, or render as boxes where it has none.
 */
const require = createRequire(import.meta.url);
const FILES = [
  'noto-sans/400Regular/NotoSans_400Regular.ttf',
  'noto-sans/700Bold/NotoSans_700Bold.ttf',
  'noto-sans/400Regular_Italic/NotoSans_400Regular_Italic.ttf',
  'noto-sans/700Bold_Italic/NotoSans_700Bold_Italic.ttf',
  'noto-serif/400Regular/NotoSerif_400Regular.ttf',
  'noto-serif/700Bold/NotoSerif_700Bold.ttf',
  'noto-serif/400Regular_Italic/NotoSerif_400Regular_Italic.ttf',
  'noto-serif/700Bold_Italic/NotoSerif_700Bold_Italic.ttf',
  'noto-sans-mono/400Regular/NotoSansMono_400Regular.ttf',
  'noto-sans-mono/700Bold/NotoSansMono_700Bold.ttf',
  'noto-emoji/400Regular/NotoEmoji_400Regular.ttf',
];

/** Absolute paths of the shipped font files (those installed: a missing one is skipped, and its text falls back). */
export function fontFiles(): string[] {
  return FILES.flatMap((f) => {
    try {
      return [require.resolve(`@expo-google-fonts/${f}`)];
    } catch {
      return [];
    }
  });
}

let registered: Promise<void> | undefined;

/** Add the shipped fonts to fontconfig (libvips keeps a `fontfile` it was given for the process). */
export function registerFonts(): Promise<void> {
  registered ??= (async () => {
    for (const file of fontFiles()) {
      await sharp({ text: { text: 'a', fontfile: file, font: 'Noto Sans 8' } }).png().toBuffer().catch(() => undefined);
    }
  })();
  return registered;
}

const MONO = /mono|courier|menlo|consolas|monaco|andale|lucida console|source code|inconsolata|typewriter/i;
const SERIF = /serif|times|georgia|garamond|baskerville|palatino|didot|bodoni|cochin|hoefler|antiqua|cambria|charter|caslon|constantia|rockwell|minion|bookman|century|superclarendon|athelas|iowan/i;

/**
 * imgix font names (`Helvetica Neue,Bold`, `Georgia`, `Courier New`, …) → the closest shipped
 * face, as a Pango family list with Noto Emoji as the fallback: monospaced names → Noto Sans Mono,
 * serif names (not "sans serif") → Noto Serif, everything else → Noto Sans; Bold, Black, Heavy,
 * Demi and Semibold give bold, Italic and Oblique italic.
 */
export function fontDescription(name: string | undefined): string {
  const n = name ?? '';
  const family = MONO.test(n) ? 'Noto Sans Mono' : SERIF.test(n) && !/sans/i.test(n) ? 'Noto Serif' : 'Noto Sans';
  const bold = /bold|black|heavy|demi|semibold/i.test(n);
  const italic = /italic|oblique/i.test(n) && family !== 'Noto Sans Mono';
  return `${family},Noto Emoji${bold ? ' Bold' : ''}${italic ? ' Italic' : ''}`;
}
