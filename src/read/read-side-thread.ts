/**
 * The read side's worker thread (see ./read-side-worker.ts for the serving thread's half): runs the
 * ProjectionRunner over the event store, read-only, into the read model, which only this thread writes.
 * It catches up when the serving thread says something was committed (the live pass, with the runner's own
 * timing) and when a query asks it to (catchUp: answered once every event committed before the request is
 * projected).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SqliteEventStore } from '../store/sqlite.ts';
import { ProjectionRunner } from './projection-runner.ts';
import { READ_MODEL_PROJECTIONS } from './read-model.ts';
import type { ReadSideNotice, ReadSideRequest, ReadSideSetup } from './read-side-worker.ts';
import { errorMessage, workerReplies } from './worker-requests.ts';

const port = parentPort;
if (!port) throw new Error('read-side-thread.ts runs as a worker thread (src/read/read-side-worker.ts starts it)');
const setup = workerData as ReadSideSetup;
const { reply, answer } = workerReplies<ReadSideNotice>(port);

let store: SqliteEventStore;
let runner: ProjectionRunner;
try {
  store = new SqliteEventStore(setup.eventsFile, { readOnly: true });
  runner = ProjectionRunner.openOrRebuild(store, setup.readModelFile, READ_MODEL_PROJECTIONS, (reason) => reply({ kind: 'warn', message: reason }));
} catch (error) {
  reply({ kind: 'failed', message: errorMessage(error) });
  throw error;
}

/** The live pass's commit signal (CommitSignal): the serving thread's 'committed' messages. */
const commitListeners = new Set<() => void>();

port.on('message', (request: ReadSideRequest) => {
  switch (request.kind) {
    case 'committed':
      for (const listener of commitListeners) listener();
      return;
    case 'catchUp':
      void answer(request.id, runner.catchUp());
      return;
    case 'start':
      runner.start(
        (error) => reply({ kind: 'passFailed', message: errorMessage(error) }),
        request.settleMs,
        (listener) => {
          commitListeners.add(listener);
          return () => void commitListeners.delete(listener);
        },
      );
      return;
    case 'stop':
      void answer(request.id, runner.stop());
      return;
    case 'close':
      void answer(
        request.id,
        (async () => {
          await runner.stop();
          runner.close();
          await store.close();
        })(),
      ).then(() => port.close());
      return;
  }
});
reply({ kind: 'ready' });
