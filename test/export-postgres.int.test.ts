/**
 * The export suite (export.int.test.ts), unchanged, over a real PostgreSQL store: exports signed against
 * checkpoints of the shared Merkle log in PostgreSQL, verified offline, native and portable.
 */
import { describe, it } from 'vitest';
import { postgresTarget } from './helpers/postgres.ts';
import { useStore } from './helpers/store-under-test.ts';

const target = postgresTarget();
if (target) {
  useStore({ kind: 'postgres', target });
  await import('./export.int.test.ts');
} else {
  console.log('export suite over PostgreSQL skipped: no PostgreSQL server on this machine (apt-get install postgresql)');
  describe.skip('export suite over PostgreSQL (no PostgreSQL server)', () => it('runs against a real server only', () => undefined));
}
