#!/usr/bin/env node
// The installed command: runs the compiled CLI in dist/ (built by `npm run build`, which `npm ci` runs through
// `prepare`). No TypeScript at run time; for development from source use bin/dev.js.
import { existsSync } from 'node:fs';

const main = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  console.error('flashtrail: dist/ is missing: run `npm run build` (or `npm ci`, which builds), or bin/dev.js from source');
  process.exit(1);
}
await import(main.href);
