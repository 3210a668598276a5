import { defineConfig } from 'vitest/config';

// Two tiers, named in the file names: `*.unit.test.ts` (pure code and local files, the inner loop:
// `npm run test:unit`, under 10 s) and `*.int.test.ts` (real servers on loopback, real processes, real tools).
export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // In CI a JSON report lets .ci/run print one plain summary line.
    reporters: process.env['CI'] ? ['default', 'json'] : ['default'],
    outputFile: { json: 'test-results.json' },
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/**/*.unit.test.ts'] } },
      // Integration tests run the compiled CLI, so their tier builds dist/ first (incremental, ~0.5 s unchanged),
  // and starts one throwaway PostgreSQL cluster (~2 s) when the machine has PostgreSQL.
      { extends: true, test: { name: 'int', include: ['test/**/*.int.test.ts'], globalSetup: ['test/helpers/build-dist.ts', 'test/helpers/postgres-setup.ts'] } },
    ],
  },
});
