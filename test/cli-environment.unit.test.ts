/** The environment list of `flashtrail --help` names every variable the code reads, and nothing it does not. */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ENVIRONMENT } from '../src/cli/help.ts';
import { ROOT } from './helpers/cli.ts';

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

describe('flashtrail --help environment list', () => {
  it('matches the variables read through env[…] in the shipped code', () => {
    const read = new Set<string>();
    for (const file of ['src', 'station', 'projections', 'schemas'].flatMap((d) => sourceFiles(join(ROOT, d)))) {
      // configFromEnv(env) reads env['…'], the CLI process.env['…']: both spellings, bracket or dot.
      for (const m of readFileSync(file, 'utf8').matchAll(/\benv(?:\[['"]([A-Z][A-Z0-9_]*)['"]\]|\.([A-Z][A-Z0-9_]*))/g)) read.add((m[1] ?? m[2]) as string);
    }
    expect(read.size).toBeGreaterThan(10);
    expect(ENVIRONMENT.map(([name]) => name).sort()).toEqual([...read].sort());
  });
});
