/**
 * The writer thread of an embedded event store (./sqlite.ts, `writerThread`): group commits run here on a
 * connection of their own, so that the commit's fsync blocks this thread and not the ledger's, which goes
 * on reading requests, verifying and updating read models meanwhile. The write itself is the store's own
 * appendGroups (same transaction, same savepoints, same refusals); an answer is posted only once its
 * transaction is durable.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SqliteEventStore, toWire, type WireOutcome, type WriteAnswer, type WriteJob } from './sqlite.ts';

if (parentPort && (workerData as { sqliteWriter?: string } | undefined)?.sqliteWriter) {
  const port = parentPort;
  const store = new SqliteEventStore((workerData as { sqliteWriter: string }).sqliteWriter);
  port.on('message', (job: WriteJob) => {
    void store.appendGroups(job.groups).then((outcomes) => {
      const answer: WriteAnswer = {
        id: job.id,
        outcomes: outcomes.map((o): WireOutcome => (o.status === 'fulfilled' ? { status: 'fulfilled', value: o.value } : { status: 'rejected', reason: toWire(o.reason) })),
      };
      port.postMessage(answer);
    });
  });
}
