/**
 * A replay of the whole log on two threads: a worker thread (./replay-worker.ts) reads the event log ahead of
 * the thread that replays it, and does there what it can of each event.
 *
 *   - A read-model rebuild (ProjectionRunner): the worker cuts out each envelope's payload and hashes the
 *     envelope, and writes each batch's rows behind the projections; the calling thread parses the events and
 *     runs the projections (the reducers, JSON.stringify of each document, its index rows). The two halves cost
 *     about as much each (profiled: reading and decoding 30 %, the inserts and commits 26 % of a one-thread
 *     rebuild). The worker is the read model's only writer while the rebuild runs; the runner reads documents on
 *     its own connection, and keeps in memory those of every batch not committed yet (ProjectionRunner.pending).
 *   - A Merkle log's catch-up from far behind (MerkleLog): the worker hashes each event's leaf; the calling
 *     thread hashes the nodes above them and writes leaves and nodes.
 */
import type { Worker } from 'node:worker_threads';
import { startWorker } from './worker-requests.ts';
import type { CheckpointRow, WriteRows } from './read-model-writes.ts';

/** What the worker is started with: the event store file it reads (none: the caller reads), the read model it writes (none: it writes none). */
export interface ReplaySetup {
  readonly eventsFile?: string;
  readonly readModelFile?: string;
}

export type ReplayRequest =
  | { readonly kind: 'read'; readonly id: number; readonly after: bigint; readonly maxCount: number }
  | { readonly kind: 'leaves'; readonly id: number; readonly after: bigint; readonly maxCount: number }
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

/** A batch of $all as Merkle leaves: each event's position, and its leaf hash (RFC 6962: SHA-256 of 0x00 and the envelope), 32 bytes each. */
export interface LeafBatch {
  readonly positions: BigInt64Array;
  readonly hashes: Uint8Array;
}

export type ReplayReply =
  | { readonly kind: 'ready' }
  | { readonly kind: 'failed'; readonly message: string }
  | ({ readonly kind: 'events'; readonly id: number } & ReadBatch)
  | ({ readonly kind: 'leaves'; readonly id: number } & LeafBatch)
  | { readonly kind: 'done'; readonly id: number; readonly error?: string };

export class ReplayThreadError extends Error {
  override readonly name = 'ReplayThreadError';
}

/** Worker threads started from compiled JS load the worker directly; from TypeScript source, through tsx. */
function workerUrl(): URL {
  return import.meta.url.endsWith('.ts') ? new URL('./replay-worker-boot.mjs', import.meta.url) : new URL('./replay-worker.js', import.meta.url);
}

interface Waiting {
  resolve(reply: ReplayReply): void;
  reject(error: Error): void;
}

export class ReplayThread {
  private readonly waiting = new Map<number, Waiting>();
  private nextId = 0;
  private lost: Error | null = null;

  /** Starts the worker; resolves once it has opened its files. */
  static async open(setup: ReplaySetup): Promise<ReplayThread> {
    const name = 'the replay thread';
    const newError = (message: string) => new ReplayThreadError(message);
    return new ReplayThread(await startWorker({ url: workerUrl(), workerData: setup satisfies ReplaySetup, name, openFailure: `${name} could not open its files`, newError }));
  }

  private constructor(private readonly worker: Worker) {
    worker.on('message', (message: ReplayReply) => {
      if (message.kind === 'ready' || message.kind === 'failed') return;
      const w = this.waiting.get(message.id);
      if (!w) return;
      this.waiting.delete(message.id);
      if (message.kind === 'done' && message.error !== undefined) w.reject(new ReplayThreadError(message.error));
      else w.resolve(message);
    });
    const lose = (why: string) => {
      this.lost ??= new ReplayThreadError(`the replay thread ${why}`);
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

  /** The leaves of the events after `after`, at most `maxCount`, hashed on the worker. */
  async leaves(after: bigint, maxCount: number): Promise<LeafBatch> {
    return (await this.ask({ kind: 'leaves', id: this.nextId++, after, maxCount })) as LeafBatch;
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

  private ask(request: ReplayRequest): Promise<ReplayReply> {
    if (this.lost) return Promise.reject(this.lost);
    return new Promise((resolve, reject) => {
      this.waiting.set(request.id, { resolve, reject });
      this.worker.postMessage(request);
    });
  }
}
