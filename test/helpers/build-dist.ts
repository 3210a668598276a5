/**
 * globalSetup of the `int` tier: those tests spawn the shipped CLI (bin/flashtrail.js runs dist/), so dist/
 * must be the compiled form of the sources under test. The build is incremental (tsc -b): about half a second
 * when nothing changed.
 */
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export default function buildDist(): void {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-b', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
  // The verifier package and page (scripts/bundle.js, part of `npm run build`): about a second.
  execFileSync(process.execPath, ['scripts/bundle.js'], { cwd: root, stdio: 'inherit' });
}
