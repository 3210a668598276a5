/**
 * The compiled build (dist/, `npm run build`) of a module, for benchmarks that measure in-process what the CLI
 * and the server run: compiled JavaScript, whose worker threads start in ~50 ms, where a worker started from
 * TypeScript source first loads tsx (~0.2 s of CPU and ~0.35 s each, profiled). A build older than any source
 * file it compiles is refused, so that a figure never measures stale code.
 */
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
/** The folders tsconfig.build.json compiles. */
const COMPILED = ['src', 'projections', 'schemas', 'station'];

function* sources(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* sources(path);
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') && !entry.name.endsWith('.d.ts')) yield path;
  }
}

let checked = false;

function checkBuild(): void {
  if (checked) return;
  const stale: string[] = [];
  for (const folder of COMPILED) {
    for (const source of sources(join(root, folder))) {
      const built = join(root, 'dist', relative(root, source)).replace(/\.ts$/, '.js');
      let builtAt: number;
      try {
        builtAt = statSync(built).mtimeMs;
      } catch {
        stale.push(`${relative(root, source)} (not built)`);
        continue;
      }
      if (builtAt < statSync(source).mtimeMs) stale.push(relative(root, source));
    }
  }
  if (stale.length > 0) throw new Error(`dist/ is older than ${stale.length} source file(s) (${stale.slice(0, 5).join(', ')}${stale.length > 5 ? ', …' : ''}): run \`npm run build\` first`);
  checked = true;
}

/** The compiled module of `source` (a path from the repository root, such as `src/read/projection-runner.ts`). */
export async function compiled<T>(source: string): Promise<T> {
  checkBuild();
  return (await import(join(root, 'dist', source.replace(/\.ts$/, '.js')))) as T;
}
