/**
 * The Merkle log's appends off the serving thread: reading each newly committed event, hashing it and writing
 * its leaf and the subtrees it completes into merkle.sqlite (with the fsync of that transaction) run on a worker
 * thread (./merkle-append-worker.ts) with its own connections, read-only on the event store and read-write on
 * the Merkle log, whose leaves and subtrees only it writes. The serving thread's MerkleLog keeps everything
 * else on its own connection: proofs, roots, leaf lookups and the checkpoint table (WAL: a reader sees every
 * transaction the worker committed before the read began, never part of one; a leaf and the subtrees it
 * completes are one transaction).
 *
 * catchUp() is a round trip, answered once every event committed before the call has its leaf, as the
 * in-thread catch-up promised: a checkpoint still covers only committed (durable) events. A worker that stops
 * refuses what waited on it, and the next catchUp starts a new one, which resumes from the log's last leaf.
 */
import type { LeafAppender } from './merkle-log.ts';
import { RequestThread, type WorkerReply } from './worker-requests.ts';

/** What the worker is started with. */
export interface MerkleAppendSetup {
  readonly eventsFile: string;
  readonly merkleFile: string;
}

export type MerkleAppendRequest = { readonly kind: 'catchUp'; readonly id: number } | { readonly kind: 'close'; readonly id: number };

export type MerkleAppendReply = WorkerReply;

export class MerkleAppendThreadError extends Error {
  override readonly name = 'MerkleAppendThreadError';
}

/** Worker threads started from compiled JS load the worker directly; from TypeScript source, through tsx. */
function workerUrl(): URL {
  return import.meta.url.endsWith('.ts') ? new URL('./merkle-append-worker-boot.mjs', import.meta.url) : new URL('./merkle-append-worker.js', import.meta.url);
}

export class MerkleAppendThread implements LeafAppender {
  /** Starts the worker; resolves once it has opened both files. */
  static async open(setup: MerkleAppendSetup): Promise<MerkleAppendThread> {
    return new MerkleAppendThread(
      await RequestThread.open<MerkleAppendRequest['kind']>({
        url: workerUrl(),
        workerData: setup satisfies MerkleAppendSetup,
        name: "the Merkle log's append thread",
        openFailure: `the Merkle log's append thread could not open ${setup.merkleFile}`,
        newError: (message) => new MerkleAppendThreadError(message),
      }),
    );
  }

  private constructor(private readonly thread: RequestThread<MerkleAppendRequest['kind']>) {}

  catchUp(): Promise<void> {
    return this.thread.ask('catchUp');
  }

  close(): Promise<void> {
    return this.thread.close('close');
  }
}
