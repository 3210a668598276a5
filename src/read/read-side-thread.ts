/**
 * The read side's worker thread (see ./read-side-worker.ts for the serving thread's half): runs the
 * ProjectionRunner over the event store, read-only, into the read model, which only this thread writes.
 * It catches up when the serving thread says something was committed (the live pass, with the runner's own
 * timing) and when a query asks it to (catchUp: answered once every event committed before the request is
 * projected).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SqliteEventStore } from '../store/sqlite.ts';
import type { ReadAllOptions, RecordedEvent, ReplayedEvent } from '../store/event-store.ts';
import { ProjectionRunner } from './projection-runner.ts';
import { READ_MODEL_PROJECTIONS } from './read-model.ts';
import type { ReadSideNotice, ReadSideRequest, ReadSideWorkerData } from './read-side-worker.ts';
import { errorMessage, workerReplies } from './worker-requests.ts';

const port = parentPort;
if (!port) throw new Error('read-side-thread.ts runs as a worker thread (src/read/read-side-worker.ts starts it)');
const setup = workerData as ReadSideWorkerData;
const { reply, answer } = workerReplies<ReadSideNotice>(port);
const committedSignal = new Int32Array(setup.committedSignal);

/**
 * The event store as the runner reads it: each read of new events first lowers the commit signal, so that a
 * commit made from then on sends a 'committed' message again (./read-side-worker.ts), and one made before it is
 * in what this read returns. Commits made while the signal is up send nothing: a pass is already due to read
 * them.
 */
class SignalledStore extends SqliteEventStore {
  override readAllForReplay(options?: ReadAllOptions): Promise<ReplayedEvent[]> {
    Atomics.store(committedSignal, 0, 0);
    return super.readAllForReplay(options);
  }

  override readAll(options?: ReadAllOptions): Promise<RecordedEvent[]> {
    Atomics.store(committedSignal, 0, 0);
    return super.readAll(options);
  }
}

let store: SqliteEventStore;
let runner: ProjectionRunner;
try {
  store = new SignalledStore(setup.eventsFile, { readOnly: true });
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
      // A signal raised before the runner listened (its message found no listener) still asks for a pass.
      if (Atomics.load(committedSignal, 0) === 1) for (const listener of commitListeners) listener();
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
