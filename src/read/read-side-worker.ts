/**
 * The read side off the serving thread: the live read-model pass (the ProjectionRunner, its decoding and
 * reducers and its SQLite transactions, a fifth of the main thread's CPU at 64 stations) runs on a worker
 * thread (./read-side-thread.ts) with its own connections, read-only on the event store and read-write on the
 * read model, which it alone writes. The serving thread keeps only what it must:
 *
 *   - queries, on its own read-only connection to the read model (WAL: a reader sees every transaction the
 *     worker committed before the query began, never part of one);
 *   - the commit signal: each commit of its store (the data directory lock makes this process the only writer)
 *     is passed on as one small message, from which the worker runs its live passes;
 *   - catchUp(): a round trip to the worker, answered once every event committed before the call is
 *     projected. Every route that promised read-your-writes awaits it before it reads, as before. It is
 *     answered at once, without the round trip, when this store has committed nothing since a catch-up that
 *     the worker answered (the store's own commits are counted here, from its append signal): a read-mostly
 *     ledger (an auditor's queries, a recall) does not pay a thread hop per request.
 *
 * If the worker stops unexpectedly, what was waiting on it is refused (the request fails, it is not answered
 * from a stale read model) and the next catchUp starts a new one, which resumes from the read model's
 * checkpoints.
 */
import type { EventStore } from '../store/event-store.ts';
import { ProjectionRunner, type CommitSignal, type ProjectionStatus } from './projection-runner.ts';
import { READ_MODEL_PROJECTIONS, type LiveReadModel } from './read-model.ts';
import { RequestThread, type WorkerReply } from './worker-requests.ts';

/** What the worker is started with. */
export interface ReadSideSetup {
  readonly eventsFile: string;
  readonly readModelFile: string;
}

/**
 * And the commit signal, shared by the serving thread and every worker it starts: 1 while a 'committed' message
 * is on its way and no pass has read since, 0 once a pass begins to read (./read-side-thread.ts). A commit tells
 * the worker only when it raises the signal, so a stream of commits costs one message per pass, not one per
 * commit (each message a wake-up of the worker and a postMessage here).
 */
export interface ReadSideWorkerData extends ReadSideSetup {
  readonly committedSignal: SharedArrayBuffer;
}

export type ReadSideRequest =
  | { readonly kind: 'committed' }
  | { readonly kind: 'catchUp'; readonly id: number }
  | { readonly kind: 'start'; readonly settleMs: number }
  | { readonly kind: 'stop'; readonly id: number }
  | { readonly kind: 'close'; readonly id: number };

/** What the worker tells on its own, beside its answers. */
export type ReadSideNotice =
  /** The read model was damaged and is being rebuilt (ProjectionRunner.openOrRebuild's reason). */
  | { readonly kind: 'warn'; readonly message: string }
  | { readonly kind: 'passFailed'; readonly message: string };

export type ReadSideReply = WorkerReply | ReadSideNotice;

export class ReadSideThreadError extends Error {
  override readonly name = 'ReadSideThreadError';
}

/** Worker threads started from compiled JS load the thread directly; from TypeScript source, through tsx. */
function threadUrl(): URL {
  return import.meta.url.endsWith('.ts') ? new URL('./read-side-worker-boot.mjs', import.meta.url) : new URL('./read-side-thread.js', import.meta.url);
}

type Asked = Extract<ReadSideRequest, { id: number }>['kind'];

export class ReadSideThread implements LiveReadModel {
  private live: { settleMs: number; onError: (error: unknown) => void; unsubscribe: () => void } | null = null;
  private closing = false;
  /** Commits of the store counted since open (every one, by its append signal); null: no such signal, always ask. */
  private stopCounting: (() => void) | null = null;
  private commits = 0;
  /** `commits` as it was when a catch-up the worker has answered was asked; -1: none since open or since a worker went away. */
  private caughtUpThrough = -1;

  /**
   * Starts the worker, which opens (or, damaged, deletes and re-creates) the read model, then opens the
   * serving thread's read-only connection to it. `onWarn` hears why a read model is being rebuilt.
   */
  static async open(store: EventStore, setup: ReadSideSetup, onWarn: (message: string) => void = () => undefined): Promise<ReadSideThread> {
    // The thread's notices reach the instance made once it has opened (none but 'warn' comes before).
    let opened: ReadSideThread | undefined;
    const committedSignal = new SharedArrayBuffer(4);
    // A worker that went away, or its replacement (which may have rebuilt a damaged read model), answered for
    // nothing the new one has projected: the next catch-up asks again.
    const forgetCaughtUp = () => opened?.forgetCaughtUp();
    const thread = await RequestThread.open<Asked, ReadSideNotice>({
      url: threadUrl(),
      workerData: { ...setup, committedSignal } satisfies ReadSideWorkerData,
      name: "the read side's thread",
      openFailure: `the read side could not open ${setup.readModelFile}`,
      newError: (message) => new ReadSideThreadError(message),
      onNotice: (notice) => {
        if (notice.kind === 'warn') onWarn(notice.message);
        else opened?.live?.onError(new ReadSideThreadError(notice.message));
      },
      onLost: (why) => {
        forgetCaughtUp();
        opened?.live?.onError(new ReadSideThreadError(`the read side's thread ${why}; the next read starts a new one`));
      },
      // A new worker resumes from the read model's checkpoints; the live pass goes on there.
      onRevived: () => {
        forgetCaughtUp();
        // A signal raised for the worker that went away had its message dropped: the new one reads from its checkpoints.
        Atomics.store(opened?.committedSignal ?? new Int32Array(1), 0, 0);
        if (opened?.live) opened.thread.post({ kind: 'start', settleMs: opened.live.settleMs } satisfies ReadSideRequest);
      },
    });
    try {
      opened = new ReadSideThread(thread, new ProjectionRunner(store, setup.readModelFile, READ_MODEL_PROJECTIONS, undefined, { readOnly: true }), new Int32Array(committedSignal));
      const counted = opened;
      counted.stopCounting = isCommitSignalling(store) ? store.onAppended(() => void counted.commits++) : null;
      return opened;
    } catch (error) {
      await thread.worker.terminate();
      throw error;
    }
  }

  private constructor(
    private readonly thread: RequestThread<Asked, ReadSideNotice>,
    /** The serving thread's read-only view of the read model: queries and status, never a pass. */
    private readonly reader: ProjectionRunner,
    /** ReadSideWorkerData.committedSignal. */
    private readonly committedSignal: Int32Array,
  ) {}

  catchUp(): Promise<void> {
    if (this.closing) return Promise.reject(new ReadSideThreadError('the read side is closed'));
    const commits = this.commits;
    if (this.stopCounting && this.caughtUpThrough === commits) return Promise.resolve();
    return this.thread.ask('catchUp').then(() => {
      // The worker projected every event committed before it was asked, so every commit counted by then. (A
      // worker that went away answers nothing: what waited on it is refused.)
      if (commits > this.caughtUpThrough) this.caughtUpThrough = commits;
    });
  }

  private forgetCaughtUp(): void {
    this.caughtUpThrough = -1;
  }

  /**
   * Keeps the read model current from `committed` (the store's commit signal, required: the worker reads a
   * store this process writes), each commit passed on to the worker, whose runner times its passes.
   */
  start(onError: (error: unknown) => void = () => undefined, settleMs = 10, committed?: CommitSignal): void {
    if (this.live) return;
    if (!committed) throw new TypeError('ReadSideThread.start needs the store commit signal');
    const unsubscribe = committed(() => {
      if (Atomics.exchange(this.committedSignal, 0, 1) === 0) this.thread.post({ kind: 'committed' } satisfies ReadSideRequest);
    });
    this.live = { settleMs, onError, unsubscribe };
    this.thread.post({ kind: 'start', settleMs } satisfies ReadSideRequest);
  }

  async stop(): Promise<void> {
    const live = this.live;
    this.live = null;
    live?.unsubscribe();
    if (live && !this.thread.dead) await this.thread.ask('stop');
  }

  async close(): Promise<void> {
    if (this.closing) return;
    await this.stop();
    this.closing = true;
    this.stopCounting?.();
    // The reader first: the last connection to close a WAL database checkpoints it and deletes its -wal file,
    // which a read-only one cannot (a -wal left behind would outlive a damaged or replaced main file).
    this.reader.close();
    await this.thread.close('close');
  }

  get<T>(projection: string, key: string): T | null {
    return this.reader.get<T>(projection, key);
  }

  list<T>(projection: string, options: { after?: string; limit: number }): T[] {
    return this.reader.list<T>(projection, options);
  }

  findKeys(projection: string, name: string, value: string, options: { after?: string; limit?: number } = {}): string[] {
    return this.reader.findKeys(projection, name, value, options);
  }

  findDocs<T>(projection: string, name: string, value: string, options: { after?: string; limit?: number } = {}): T[] {
    return this.reader.findDocs<T>(projection, name, value, options);
  }

  rangeDocs<T>(projection: string, name: string, from: string, to: string): T[] {
    return this.reader.rangeDocs<T>(projection, name, from, to);
  }

  status(): Promise<ProjectionStatus[]> {
    return this.reader.status();
  }

  /** Every document and index row, in order (what rebuild equality is checked on). */
  dump(): string {
    return this.reader.dump();
  }
}

/** A store that tells of each of its own commits (SqliteEventStore.onAppended): what the catch-up shortcut counts. */
function isCommitSignalling(store: EventStore): store is EventStore & { onAppended(listener: () => void): () => void } {
  return typeof (store as { onAppended?: unknown }).onAppended === 'function';
}
