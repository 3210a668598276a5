/**
 * The verifier runs in a browser: bundling its entry point for the browser platform must succeed with no
 * Node-only module anywhere in its import graph. (The linter forbids `node:` imports per layer; this checks
 * the whole transitive graph, third-party packages included.)
 */
import { builtinModules } from 'node:module';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const NODE_BUILTINS = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);

/** Records every Node built-in the bundle would need, instead of letting esbuild fail on the first. */
function nodeImports(found: Set<string>): Plugin {
  return {
    name: 'record-node-imports',
    setup(b) {
      b.onResolve({ filter: /.*/ }, (args) => {
        if (NODE_BUILTINS.has(args.path)) {
          found.add(`${args.path} (imported by ${args.importer.replace(ROOT, '')})`);
          return { path: args.path, external: true };
        }
        return undefined;
      });
    },
  };
}

async function bundle(entry: string): Promise<{ nodeOnly: string[]; bytes: number }> {
  const found = new Set<string>();
  const result = await build({
    entryPoints: [entry],
    absWorkingDir: ROOT,
    bundle: true,
    platform: 'browser',
    format: 'esm',
    write: false,
    logLevel: 'silent',
    plugins: [nodeImports(found)],
  });
  return { nodeOnly: [...found].sort(), bytes: result.outputFiles.reduce((n, f) => n + f.contents.length, 0) };
}

describe('the verifier bundles for a browser', () => {
  it('src/verify/index.ts has no Node-only import in its whole graph', async () => {
    const { nodeOnly, bytes } = await bundle('src/verify/index.ts');
    expect(nodeOnly).toEqual([]);
    expect(bytes).toBeGreaterThan(10_000);
  });

  it('src/cra/index.ts (SBOMs, TR report, VEX, Art. 14) has no Node-only import in its whole graph', async () => {
    const { nodeOnly, bytes } = await bundle('src/cra/index.ts');
    expect(nodeOnly).toEqual([]);
    // The official schemas travel with it.
    expect(bytes).toBeGreaterThan(1_000_000);
  });

  it('the check itself catches a Node-only import (a Node module bundled for the browser is reported)', async () => {
    const { nodeOnly } = await bundle('src/native/crypto.ts');
    expect(nodeOnly.some((m) => m.startsWith('node:crypto'))).toBe(true);
  });
});
