/**
 * The worker thread of a read-model rebuild (see ./read-model-rebuild-thread.ts for the projecting thread's
 * half): the SQLite work on both sides of the projections. It reads the event log (its own read-only
 * connection), cuts each stored envelope's payload out and hashes the envelope, and hands the batch on as one
 * JSON text; and it writes the batches of rows the projections made, each in one transaction with its
 * checkpoints, on its own connection to the read model, which only it writes while the rebuild runs.
 */
import Database from 'better-sqlite3';
import { hash } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { SqliteEventStore } from '../store/sqlite.ts';
import { decodeStoredEnvelope, storedPayload } from '../native/stored-envelope.ts';
import { ReadModelWriter } from './read-model-writes.ts';
import type { RebuildReply, RebuildRequest, RebuildSetup } from './read-model-rebuild-thread.ts';

const port = parentPort;
if (!port) throw new Error('read-model-rebuild-worker.ts runs as a worker thread (src/read/read-model-rebuild-thread.ts starts it)');
const setup = workerData as RebuildSetup;
const reply = (message: RebuildReply, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);
const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

let store: SqliteEventStore | null = null;
let db: Database.Database;
let writer: ReadModelWriter;
try {
  store = setup.eventsFile === undefined ? null : new SqliteEventStore(setup.eventsFile, { readOnly: true });
  db = new Database(setup.readModelFile, { fileMustExist: true });
  // As the runner's own connection (ProjectionRunner): derived data, its checkpoint in the same transaction.
  db.pragma('synchronous = NORMAL');
  writer = new ReadModelWriter(db);
} catch (error) {
  reply({ kind: 'failed', message: messageOf(error) });
  throw error;
}

const COMMA = Buffer.from(',');

/** A batch of $all after `after`: positions, streams and revisions, each envelope's digest, and the events as one JSON array text. */
async function read(id: number, after: bigint, maxCount: number): Promise<void> {
  if (!store) throw new Error('this rebuild thread was started without an event store file to read');
  const rows = await store.readAllForReplay({ after, maxCount });
  const positions = new BigInt64Array(rows.length);
  const revisions = new BigInt64Array(rows.length);
  const streams: string[] = [];
  const digests: string[] = [];
  const parts: Buffer[] = [Buffer.from('[')];
  for (const [i, row] of rows.entries()) {
    positions[i] = row.position;
    revisions[i] = row.revision;
    streams.push(row.stream);
    // Bytes not in the canonical form (none are stored) are decoded the long way, to the same event.
    const payload = storedPayload(row.data) ?? Buffer.from(JSON.stringify(decodeStoredEnvelope(row.data).event));
    if (i > 0) parts.push(COMMA);
    parts.push(payload);
    digests.push(hash('sha256', row.data, 'hex'));
  }
  parts.push(Buffer.from(']'));
  reply({ kind: 'events', id, positions, revisions, streams, digests, events: Buffer.concat(parts).toString('utf8') }, [positions.buffer as ArrayBuffer, revisions.buffer as ArrayBuffer]);
}

port.on('message', (request: RebuildRequest) => {
  switch (request.kind) {
    case 'read':
      read(request.id, request.after, request.maxCount).catch((error: unknown) => reply({ kind: 'done', id: request.id, error: messageOf(error) }));
      return;
    case 'write':
      try {
        writer.write(request.rows, request.checkpoints);
        reply({ kind: 'done', id: request.id });
      } catch (error) {
        reply({ kind: 'done', id: request.id, error: messageOf(error) });
      }
      return;
    case 'close':
      try {
        db.close();
      } finally {
        void (store?.close() ?? Promise.resolve()).finally(() => {
          reply({ kind: 'done', id: request.id });
          port.close();
        });
      }
      return;
  }
});
reply({ kind: 'ready' });
