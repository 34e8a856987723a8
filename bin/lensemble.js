#!/usr/bin/env node
// Thin launcher: the CLI lives in dist/ (built from src/ by `npm run build`, which `npm ci` runs via `prepare`).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  console.error('lensemble: not built yet — run `npm run build` in ' + fileURLToPath(new URL('..', import.meta.url)));
  process.exit(1);
}
const { main } = await import(entry.href);
await main(process.argv);
