#!/usr/bin/env node
// Runs the TypeScript CLI directly through tsx, so `npx flashtrail` works without a build step.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
