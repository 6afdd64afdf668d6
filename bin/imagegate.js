#!/usr/bin/env node
// The imagegate command: runs the JavaScript built into dist/ (`npm run build`; `npm install`
// in a checkout builds it). Command modules are loaded on demand, so `--help` loads one file.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/index.js', import.meta.url);
if (!existsSync(entry)) {
  console.error('imagegate: dist/ is missing; run `npm run build` in the checkout (npm install does it)');
  process.exit(1);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
