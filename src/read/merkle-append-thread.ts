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
import { Worker } from 'node:worker_threads';
import type { LeafAppender } from './merkle-log.ts';

/** What the worker is started with. */
export interface MerkleAppendSetup {
  readonly eventsFile: string;
  readonly merkleFile: string;
}

export type MerkleAppendRequest = { readonly kind: 'catchUp'; readonly id: number } | { readonly kind: 'close'; readonly id: number };

export type MerkleAppendReply =
  | { readonly kind: 'ready' }
  | { readonly kind: 'failed'; readonly message: string }
  | { readonly kind: 'done'; readonly id: number; readonly error?: string };

/** How long close() lets the worker finish closing its connections before it is stopped. */
const CLOSE_GRACE_MS = 5000;

export class MerkleAppendThreadError extends Error {
  override readonly name = 'MerkleAppendThreadError';
}

/** Worker threads started from compiled JS load the worker directly; from TypeScript source, through tsx. */
function workerUrl(): URL {
  return import.meta.url.endsWith('.ts') ? new URL('./merkle-append-worker-boot.mjs', import.meta.url) : new URL('./merkle-append-worker.js', import.meta.url);
}

interface Running {
  readonly worker: Worker;
  readonly waiting: Map<number, { resolve: () => void; reject: (error: Error) => void }>;
  dead: boolean;
}

export class MerkleAppendThread implements LeafAppender {
  private running: Running;
  private nextId = 0;
  private closing = false;
  private respawning: Promise<void> | null = null;

  /** Starts the worker; resolves once it has opened both files. */
  static async open(setup: MerkleAppendSetup): Promise<MerkleAppendThread> {
    return new MerkleAppendThread(setup, await MerkleAppendThread.spawn(setup));
  }

  private constructor(
    private readonly setup: MerkleAppendSetup,
    running: Running,
  ) {
    this.running = this.attach(running);
  }

  private static spawn(setup: MerkleAppendSetup): Promise<Running> {
    return new Promise((resolve, reject) => {
      const worker = new Worker(workerUrl(), { workerData: setup satisfies MerkleAppendSetup });
      const onMessage = (message: MerkleAppendReply) => {
        if (message.kind === 'ready') settle(() => resolve({ worker, waiting: new Map(), dead: false }));
        else if (message.kind === 'failed') settle(() => reject(new MerkleAppendThreadError(`the Merkle log's append thread could not open ${setup.merkleFile}: ${message.message}`)));
      };
      const onExit = (code: number) => settle(() => reject(new MerkleAppendThreadError(`the Merkle log's append thread stopped while opening (exit code ${code})`)));
      const onError = (error: Error) => settle(() => reject(new MerkleAppendThreadError(`the Merkle log's append thread failed while opening: ${error.message}`)));
      const settle = (then: () => void) => {
        worker.off('message', onMessage).off('exit', onExit).off('error', onError);
        then();
      };
      worker.on('message', onMessage).on('exit', onExit).on('error', onError);
    });
  }

  /** Routes the worker's answers; a worker that goes away refuses what waited on it. */
  private attach(running: Running): Running {
    const { worker, waiting } = running;
    worker.unref();
    worker.on('message', (message: MerkleAppendReply) => {
      if (message.kind !== 'done') return;
      const w = waiting.get(message.id);
      if (!w) return;
      waiting.delete(message.id);
      if (waiting.size === 0) worker.unref();
      if (message.error === undefined) w.resolve();
      else w.reject(new MerkleAppendThreadError(message.error));
    });
    const lost = (why: string) => {
      running.dead = true;
      for (const w of waiting.values()) w.reject(new MerkleAppendThreadError(`the Merkle log's append thread ${why}`));
      waiting.clear();
    };
    worker.on('error', (error: Error) => lost(`failed: ${error.message}`));
    worker.on('exit', (code: number) => lost(`stopped (exit code ${code})`));
    return running;
  }

  /** A new worker after the last one went away; it resumes from the log's last leaf. */
  private revive(): Promise<void> {
    return (this.respawning ??= MerkleAppendThread.spawn(this.setup).then(
      (running) => {
        this.running = this.attach(running);
        this.respawning = null;
      },
      (error: unknown) => {
        this.respawning = null;
        throw error;
      },
    ));
  }

  private async ask(kind: MerkleAppendRequest['kind']): Promise<void> {
    if (this.running.dead) await this.revive();
    const { worker, waiting } = this.running;
    const id = this.nextId++;
    return new Promise<void>((resolve, reject) => {
      waiting.set(id, { resolve, reject });
      worker.ref();
      worker.postMessage({ kind, id } satisfies MerkleAppendRequest);
    });
  }

  catchUp(): Promise<void> {
    if (this.closing) return Promise.reject(new MerkleAppendThreadError("the Merkle log's append thread is closed"));
    return this.ask('catchUp');
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.running.dead) return;
    const { worker } = this.running;
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    await this.ask('close').catch(() => undefined);
    // Held until it has exited: an unreferenced worker lets a process whose last work this was end first.
    worker.ref();
    const stuck = setTimeout(() => void worker.terminate(), CLOSE_GRACE_MS);
    await exited;
    clearTimeout(stuck);
  }
}
