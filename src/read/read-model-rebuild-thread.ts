/**
 * A read-model rebuild on two threads: the thread that calls ProjectionRunner.rebuild() parses the events and
 * runs the projections (the reducers, JSON.stringify of each document, its index rows), and a worker thread
 * (./read-model-rebuild-worker.ts) does the SQLite work on both sides of them: reading the event log and cutting
 * out and hashing each envelope ahead of the projections, and writing each batch's rows behind them. The two
 * halves cost about as much each (profiled: reading and decoding 30 %, the inserts and commits 26 % of a
 * one-thread rebuild), so on two cores a rebuild goes about twice as fast.
 *
 * The worker is the read model's only writer while the rebuild runs; the runner reads documents on its own
 * connection, and keeps in memory those of every batch not committed yet (see ProjectionRunner.pending).
 */
import { Worker } from 'node:worker_threads';
import type { CheckpointRow, WriteRows } from './read-model-writes.ts';

/** What the worker is started with: the read model it writes, and the event store file it reads (none: the runner reads). */
export interface RebuildSetup {
  readonly readModelFile: string;
  readonly eventsFile?: string;
}

export type RebuildRequest =
  | { readonly kind: 'read'; readonly id: number; readonly after: bigint; readonly maxCount: number }
  | { readonly kind: 'write'; readonly id: number; readonly rows: WriteRows; readonly checkpoints: readonly CheckpointRow[] }
  | { readonly kind: 'close'; readonly id: number };

/** A batch of $all as the worker read it: `events` is the UTF-8 of the JSON array of the events, in position order. */
export interface ReadBatch {
  readonly positions: BigInt64Array;
  readonly revisions: BigInt64Array;
  readonly streams: readonly string[];
  /** SHA-256 of each stored envelope, hex. */
  readonly digests: readonly string[];
  readonly events: Uint8Array;
}

export type RebuildReply =
  | { readonly kind: 'ready' }
  | { readonly kind: 'failed'; readonly message: string }
  | ({ readonly kind: 'events'; readonly id: number } & ReadBatch)
  | { readonly kind: 'done'; readonly id: number; readonly error?: string };

export class RebuildThreadError extends Error {
  override readonly name = 'RebuildThreadError';
}

/** Worker threads started from compiled JS load the worker directly; from TypeScript source, through tsx. */
function workerUrl(): URL {
  return import.meta.url.endsWith('.ts') ? new URL('./read-model-rebuild-worker-boot.mjs', import.meta.url) : new URL('./read-model-rebuild-worker.js', import.meta.url);
}

interface Waiting {
  resolve(reply: RebuildReply): void;
  reject(error: Error): void;
}

export class ReadModelRebuildThread {
  private readonly waiting = new Map<number, Waiting>();
  private nextId = 0;
  private lost: Error | null = null;

  /** Starts the worker; resolves once it has opened its files. */
  static open(setup: RebuildSetup): Promise<ReadModelRebuildThread> {
    return new Promise((resolve, reject) => {
      const worker = new Worker(workerUrl(), { workerData: setup satisfies RebuildSetup });
      const onMessage = (message: RebuildReply) => {
        if (message.kind === 'ready') settle(() => resolve(new ReadModelRebuildThread(worker)));
        else if (message.kind === 'failed') settle(() => reject(new RebuildThreadError(`the rebuild thread could not open ${setup.readModelFile}: ${message.message}`)));
      };
      const onExit = (code: number) => settle(() => reject(new RebuildThreadError(`the rebuild thread stopped while opening (exit code ${code})`)));
      const onError = (error: Error) => settle(() => reject(new RebuildThreadError(`the rebuild thread failed while opening: ${error.message}`)));
      const settle = (then: () => void) => {
        worker.off('message', onMessage).off('exit', onExit).off('error', onError);
        then();
      };
      worker.on('message', onMessage).on('exit', onExit).on('error', onError);
    });
  }

  private constructor(private readonly worker: Worker) {
    worker.on('message', (message: RebuildReply) => {
      if (message.kind !== 'events' && message.kind !== 'done') return;
      const w = this.waiting.get(message.id);
      if (!w) return;
      this.waiting.delete(message.id);
      if (message.kind === 'done' && message.error !== undefined) w.reject(new RebuildThreadError(message.error));
      else w.resolve(message);
    });
    const lose = (why: string) => {
      this.lost ??= new RebuildThreadError(`the rebuild thread ${why}`);
      for (const w of this.waiting.values()) w.reject(this.lost);
      this.waiting.clear();
    };
    worker.on('error', (error: Error) => lose(`failed: ${error.message}`));
    worker.on('exit', (code: number) => lose(`stopped (exit code ${code})`));
  }

  /** The events after `after`, at most `maxCount`, read and cut out on the worker. */
  async read(after: bigint, maxCount: number): Promise<ReadBatch> {
    return (await this.ask({ kind: 'read', id: this.nextId++, after, maxCount })) as ReadBatch;
  }

  /** Writes a batch's rows and checkpoints in one transaction; resolves once it is committed. */
  async write(rows: WriteRows, checkpoints: readonly CheckpointRow[]): Promise<void> {
    await this.ask({ kind: 'write', id: this.nextId++, rows, checkpoints });
  }

  /** Closes the worker's connections (after every request sent before) and lets it end. */
  async close(): Promise<void> {
    if (!this.lost) await this.ask({ kind: 'close', id: this.nextId++ }).catch(() => undefined);
    await this.worker.terminate();
  }

  private ask(request: RebuildRequest): Promise<RebuildReply> {
    if (this.lost) return Promise.reject(this.lost);
    return new Promise((resolve, reject) => {
      this.waiting.set(request.id, { resolve, reject });
      this.worker.postMessage(request);
    });
  }
}
