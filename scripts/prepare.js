// `npm ci` / `npm install` run this (the `prepare` script): builds dist/ so that `npx flashtrail` works right
// after installing. A production install (`npm ci --omit=dev`) has no TypeScript: it must bring a built dist/
// (the Docker image copies it from its build stage), so this then only checks that one is there.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
let tsc;
try {
  tsc = require.resolve('typescript/bin/tsc');
} catch {
  tsc = null;
}
if (tsc) {
  execFileSync(process.execPath, [tsc, '-b', 'tsconfig.build.json'], { stdio: 'inherit' });
  // The standalone verifier package and the offline verifier page (esbuild, a dev dependency like tsc).
  execFileSync(process.execPath, [new URL('./bundle.js', import.meta.url).pathname], { stdio: 'inherit' });
} else if (!existsSync(new URL('../dist/src/cli/main.js', import.meta.url))) {
  console.error('flashtrail: TypeScript is not installed (npm ci --omit=dev?) and there is no dist/: install with dev dependencies, or copy a built dist/');
  process.exit(1);
}
