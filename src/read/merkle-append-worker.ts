/**
 * The Merkle log's append thread (see ./merkle-append-thread.ts for the serving thread's half): appends a leaf
 * for every event committed to the store, read-only, into the Merkle log, whose leaves and subtrees only this
 * thread writes.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SqliteEventStore } from '../store/sqlite.ts';
import { MerkleLog } from './merkle-log.ts';
import type { MerkleAppendRequest, MerkleAppendSetup } from './merkle-append-thread.ts';
import { errorMessage, workerReplies } from './worker-requests.ts';

const port = parentPort;
if (!port) throw new Error('merkle-append-worker.ts runs as a worker thread (src/read/merkle-append-thread.ts starts it)');
const setup = workerData as MerkleAppendSetup;
const { reply, answer } = workerReplies(port);

let store: SqliteEventStore;
let log: MerkleLog;
try {
  store = new SqliteEventStore(setup.eventsFile, { readOnly: true });
  log = new MerkleLog(store, setup.merkleFile);
} catch (error) {
  reply({ kind: 'failed', message: errorMessage(error) });
  throw error;
}

/** The last pass asked for: closing waits for it, and starts none (the log catches up only when asked). */
let lastPass: Promise<unknown> = Promise.resolve();

port.on('message', (request: MerkleAppendRequest) => {
  if (request.kind === 'catchUp') {
    lastPass = log.catchUp();
    void answer(request.id, lastPass);
    return;
  }
  void answer(
    request.id,
    (async () => {
      await lastPass.catch(() => undefined);
      log.close();
      await store.close();
    })(),
  ).then(() => port.close());
});
reply({ kind: 'ready' });
