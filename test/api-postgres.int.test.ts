/**
 * The whole HTTP API suite (api.int.test.ts), unchanged, over a real PostgreSQL store: the same statuses,
 * problem codes, signed histories and proofs as over SQLite.
 */
import { describe, it } from 'vitest';
import { postgresTarget } from './helpers/postgres.ts';
import { useStore } from './helpers/store-under-test.ts';

const target = postgresTarget();
if (target) {
  useStore({ kind: 'postgres', target });
  await import('./api.int.test.ts');
} else {
  console.log('API suite over PostgreSQL skipped: no PostgreSQL server on this machine (apt-get install postgresql)');
  describe.skip('API suite over PostgreSQL (no PostgreSQL server)', () => it('runs against a real server only', () => undefined));
}

if (target) {
  const { expect } = await import('vitest');
  const { startTestLedger } = await import('./helpers/ledger-fixture.ts');
  const { PostgresEventStore } = await import('../src/store/postgres.ts');
  describe('the store under this suite', () => {
    it('is PostgreSQL, with the Merkle log in it', async () => {
      const t = await startTestLedger({ setup: false });
      try {
        expect(t.running.store).toBeInstanceOf(PostgresEventStore);
        expect(t.running.log.constructor.name).toBe('PostgresMerkleLog');
      } finally {
        await t.stop();
      }
    });
  });
}
