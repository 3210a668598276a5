/**
 * The store contract against a real KurrentDB / EventStoreDB, when one is given:
 *   EVENTSTORE_CONNECTION_STRING=esdb://localhost:2113?tls=false npm test
 * No fake or stub stands in for the server: without it, this suite is skipped and says so.
 */
import { describe, it } from 'vitest';
import { KurrentDBEventStore } from '../src/store/kurrentdb.ts';
import { describeEventStoreContract } from './store-contract.ts';

const connection = process.env['EVENTSTORE_CONNECTION_STRING'];

if (connection) {
  describeEventStoreContract('KurrentDB / EventStoreDB', async () => {
    const store = new KurrentDBEventStore(connection);
    return { store, cleanup: () => store.close() };
  });
} else {
  console.log('KurrentDB contract suite skipped: set EVENTSTORE_CONNECTION_STRING (e.g. esdb://localhost:2113?tls=false) to run it against a server');
  describe.skip('KurrentDB / EventStoreDB contract (no EVENTSTORE_CONNECTION_STRING)', () => {
    it('runs against a real server only', () => undefined);
  });
}
