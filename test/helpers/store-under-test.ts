/**
 * Which event store the shared ledger fixture runs on. SQLite unless a test file chose PostgreSQL before
 * loading a suite (test/api-postgres.int.test.ts runs the whole API suite this way), so that one suite
 * proves both stores without being written twice.
 */
import type { PostgresTarget } from './postgres-cluster.ts';

export type StoreUnderTest = { readonly kind: 'sqlite' } | { readonly kind: 'postgres'; readonly target: PostgresTarget };

let chosen: StoreUnderTest = { kind: 'sqlite' };

export function useStore(store: StoreUnderTest): void {
  chosen = store;
}

export function storeUnderTest(): StoreUnderTest {
  return chosen;
}
