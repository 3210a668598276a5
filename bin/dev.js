#!/usr/bin/env node
// Development: runs the CLI from TypeScript source through tsx (a dev dependency), no build needed.
// `npm run dev -- <command> …` or `bin/dev.js <command> …`.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
