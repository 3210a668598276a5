/**
 * The architecture guard: the linter's layer rules (eslint.config.js) really refuse an upward import and
 * a Node-only import in a browser layer, and the real tree passes them.
 */
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const eslint = new ESLint({ cwd: ROOT });

async function problems(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return (result?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-imports' || m.ruleId === 'no-restricted-globals').map((m) => m.message);
}

describe('layer boundaries', () => {
  it('a browser layer may not import node: modules', async () => {
    const found = await problems('src/verify/probe.ts', "import { readFileSync } from 'node:fs';\nexport const f = readFileSync;\n");
    expect(found).toEqual([expect.stringContaining('src/verify must run in a browser')]);
  });

  it('a browser layer may not import a native or server package, nor use Buffer', async () => {
    expect(await problems('src/crypto/probe.ts', "import Database from 'better-sqlite3';\nexport const d = Database;\n")).toHaveLength(1);
    expect(await problems('projections/probe.ts', 'export const b = Buffer.from([1]);\n')).toEqual([expect.stringContaining('Uint8Array')]);
  });

  it('a layer may not import a layer above it', async () => {
    const found = await problems('src/domain/probe.ts', "import { SqliteEventStore } from '../store/sqlite.ts';\nexport const s = SqliteEventStore;\n");
    expect(found).toEqual([expect.stringContaining('src/domain may import only from layers below it')]);
    expect(await problems('projections/probe.ts', "import type { ProjectionRunner } from '../src/read/projection-runner.ts';\nexport type R = ProjectionRunner;\n")).toHaveLength(1);
  });

  it('downward imports are allowed', async () => {
    expect(await problems('src/store/probe.ts', "import { bytesEqual } from '../crypto/encoding.ts';\nexport const e = bytesEqual;\n")).toEqual([]);
    expect(await problems('src/cli/probe.ts', "import { readFileSync } from 'node:fs';\nimport { stationRun } from '../../station/main.ts';\nexport const x = [readFileSync, stationRun];\n")).toEqual([]);
  });

  it('the read side on its own thread reaches no layer above src/read: its worker cannot import the write side, the API or the server', async () => {
    for (const upward of ['../write/pipeline.ts', '../api/app.ts', '../server/main.ts']) {
      const found = await problems('src/read/read-side-thread.ts', `import * as above from '${upward}';\nexport const a = above;\n`);
      expect(found, upward).toEqual([expect.stringContaining('src/read may import only from layers below it')]);
    }
    // And the real modules, as they are, pass.
    for (const file of ['src/read/read-side-thread.ts', 'src/read/read-side-worker.ts', 'src/read/read-model.ts']) {
      const [result] = await eslint.lintFiles([file]);
      expect(result?.messages.filter((m) => m.ruleId === 'no-restricted-imports'), file).toEqual([]);
    }
  });
});
