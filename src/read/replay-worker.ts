/**
 * The worker thread of a replay (see ./replay-thread.ts for the replaying thread's half). It reads the event
 * log (its own read-only connection) and hands each batch on: for a read-model rebuild with each envelope's
 * payload cut out and the envelope hashed, and it writes the batches of rows the projections made, each in one
 * transaction with its checkpoints, on its own connection to the read model (which only it writes while the
 * rebuild runs); for a Merkle log as leaf hashes.
 */
import Database from 'better-sqlite3';
import { hash } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { SqliteEventStore } from '../store/sqlite.ts';
import { decodeStoredEnvelope, writeStoredPayload } from '../native/stored-envelope.ts';
import { ReadModelWriter } from './read-model-writes.ts';
import { leafHash } from '../merkle/hash.ts';
import { nativeCrypto } from '../native/crypto.ts';
import type { ReplayReply, ReplayRequest, ReplaySetup } from './replay-thread.ts';

const port = parentPort;
if (!port) throw new Error('replay-worker.ts runs as a worker thread (src/read/replay-thread.ts starts it)');
const setup = workerData as ReplaySetup;
const reply = (message: ReplayReply, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);
const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

let store: SqliteEventStore | null = null;
let db: Database.Database | null = null;
let writer: ReadModelWriter | null = null;
try {
  store = setup.eventsFile === undefined ? null : new SqliteEventStore(setup.eventsFile, { readOnly: true });
  if (setup.readModelFile !== undefined) {
    db = new Database(setup.readModelFile, { fileMustExist: true });
    // As the runner's own connection (ProjectionRunner): derived data, its checkpoint in the same transaction.
    db.pragma('synchronous = NORMAL');
    writer = new ReadModelWriter(db);
  }
} catch (error) {
  reply({ kind: 'failed', message: messageOf(error) });
  throw error;
}

const [OPEN, COMMA, CLOSE] = ['[', ',', ']'].map((c) => c.charCodeAt(0)) as [number, number, number];

/**
 * A batch of $all after `after`: positions, streams and revisions, each envelope's digest, and the events as the
 * UTF-8 bytes of one JSON array, each payload decoded from its base64 straight into it (the buffer is handed
 * over, not copied).
 */
async function read(id: number, after: bigint, maxCount: number): Promise<void> {
  if (!store) throw new Error('this replay thread was started without an event store file to read');
  const rows = await store.readAllForReplay({ after, maxCount });
  const positions = new BigInt64Array(rows.length);
  const revisions = new BigInt64Array(rows.length);
  const streams: string[] = [];
  const digests: string[] = [];
  // A payload's bytes are three quarters of its base64, which is shorter than its envelope.
  let events = Buffer.allocUnsafeSlow(rows.reduce((n, row) => n + row.data.length + 1, 2));
  let at = 0;
  events[at++] = OPEN;
  for (const [i, row] of rows.entries()) {
    positions[i] = row.position;
    revisions[i] = row.revision;
    streams.push(row.stream);
    if (i > 0) events[at++] = COMMA;
    const written = writeStoredPayload(row.data, events, at);
    if (written !== null) at += written;
    else {
      // Bytes not in the canonical form (none are stored) are decoded the long way, to the same event, whose
      // text may be longer than the room the envelope's length left for it.
      const text = Buffer.from(JSON.stringify(decodeStoredEnvelope(row.data).event));
      if (at + text.length > events.length - 1) {
        // Its own memory (allocUnsafeSlow, never Node's shared pool): the buffer is handed over to the other thread.
        const larger = Buffer.allocUnsafeSlow(events.length + text.length);
        events.copy(larger, 0, 0, at);
        events = larger;
      }
      at += text.copy(events, at);
    }
    digests.push(hash('sha256', row.data, 'hex'));
  }
  events[at++] = CLOSE;
  const buffer = events.buffer as ArrayBuffer;
  reply({ kind: 'events', id, positions, revisions, streams, digests, events: new Uint8Array(buffer, 0, at) }, [positions.buffer as ArrayBuffer, revisions.buffer as ArrayBuffer, buffer]);
}

/** Why a write failed: every later one is refused. */
let failed: string | null = null;

/** The leaf hashes of the events after `after`, in one buffer handed over. */
async function leaves(id: number, after: bigint, maxCount: number): Promise<void> {
  if (!store) throw new Error('this replay thread was started without an event store file to read');
  const rows = await store.readAllForReplay({ after, maxCount });
  const positions = new BigInt64Array(rows.length);
  const hashes = new Uint8Array(new ArrayBuffer(32 * rows.length));
  for (const [i, row] of rows.entries()) {
    positions[i] = row.position;
    hashes.set(leafHash(row.data, nativeCrypto), 32 * i);
  }
  reply({ kind: 'leaves', id, positions, hashes }, [positions.buffer as ArrayBuffer, hashes.buffer as ArrayBuffer]);
}

port.on('message', (request: ReplayRequest) => {
  switch (request.kind) {
    case 'read':
      read(request.id, request.after, request.maxCount).catch((error: unknown) => reply({ kind: 'done', id: request.id, error: messageOf(error) }));
      return;
    case 'leaves':
      leaves(request.id, request.after, request.maxCount).catch((error: unknown) => reply({ kind: 'done', id: request.id, error: messageOf(error) }));
      return;
    case 'write':
      // The batches after one that failed were projected from its documents: none of them may be committed.
      if (failed !== null) return reply({ kind: 'done', id: request.id, error: `not written: an earlier batch failed (${failed})` });
      try {
        if (!writer) throw new Error('this replay thread was started without a read model to write');
        writer.write(request.rows, request.checkpoints);
        reply({ kind: 'done', id: request.id });
      } catch (error) {
        failed = messageOf(error);
        reply({ kind: 'done', id: request.id, error: failed });
      }
      return;
    case 'close':
      try {
        db?.close();
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
