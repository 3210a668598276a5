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
 *     projected. Every route that promised read-your-writes awaits it before it reads, as before.
 *
 * If the worker stops unexpectedly, what was waiting on it is refused (the request fails, it is not answered
 * from a stale read model) and the next catchUp starts a new one, which resumes from the read model's
 * checkpoints.
 */
import { Worker } from 'node:worker_threads';
import type { EventStore } from '../store/event-store.ts';
import { ProjectionRunner, type CommitSignal, type ProjectionStatus } from './projection-runner.ts';
import { READ_MODEL_PROJECTIONS, type LiveReadModel } from './read-model.ts';

/** What the worker is started with. */
export interface ReadSideSetup {
  readonly eventsFile: string;
  readonly readModelFile: string;
}

export type ReadSideRequest =
  | { readonly kind: 'committed' }
  | { readonly kind: 'catchUp'; readonly id: number }
  | { readonly kind: 'start'; readonly settleMs: number }
  | { readonly kind: 'stop'; readonly id: number }
  | { readonly kind: 'close'; readonly id: number };

export type ReadSideReply =
  | { readonly kind: 'ready' }
  | { readonly kind: 'failed'; readonly message: string }
  /** The read model was damaged and is being rebuilt (ProjectionRunner.openOrRebuild's reason). */
  | { readonly kind: 'warn'; readonly message: string }
  | { readonly kind: 'passFailed'; readonly message: string }
  | { readonly kind: 'done'; readonly id: number; readonly error?: string };

/** How long close() lets the worker finish closing its connections before it is stopped. */
const CLOSE_GRACE_MS = 5000;

export class ReadSideThreadError extends Error {
  override readonly name = 'ReadSideThreadError';
}

/** Worker threads started from compiled JS load the thread directly; from TypeScript source, through tsx. */
function threadUrl(): URL {
  return import.meta.url.endsWith('.ts') ? new URL('./read-side-worker-boot.mjs', import.meta.url) : new URL('./read-side-thread.js', import.meta.url);
}

interface Running {
  readonly worker: Worker;
  readonly waiting: Map<number, { resolve: () => void; reject: (error: Error) => void }>;
}

export class ReadSideThread implements LiveReadModel {
  private running: Running;
  private nextId = 0;
  private live: { settleMs: number; onError: (error: unknown) => void; unsubscribe: () => void } | null = null;
  private closing = false;

  /**
   * Starts the worker, which opens (or, damaged, deletes and re-creates) the read model, then opens the
   * serving thread's read-only connection to it. `onWarn` hears why a read model is being rebuilt.
   */
  static async open(store: EventStore, setup: ReadSideSetup, onWarn: (message: string) => void = () => undefined): Promise<ReadSideThread> {
    const running = await ReadSideThread.spawn(setup, onWarn);
    try {
      return new ReadSideThread(setup, onWarn, running, new ProjectionRunner(store, setup.readModelFile, READ_MODEL_PROJECTIONS, undefined, { readOnly: true }));
    } catch (error) {
      await running.worker.terminate();
      throw error;
    }
  }

  private constructor(
    private readonly setup: ReadSideSetup,
    private readonly onWarn: (message: string) => void,
    running: Running,
    /** The serving thread's read-only view of the read model: queries and status, never a pass. */
    private readonly reader: ProjectionRunner,
  ) {
    this.running = this.attach(running);
  }

  private static spawn(setup: ReadSideSetup, onWarn: (message: string) => void): Promise<Running> {
    return new Promise((resolve, reject) => {
      const worker = new Worker(threadUrl(), { workerData: setup satisfies ReadSideSetup });
      const onMessage = (message: ReadSideReply) => {
        if (message.kind === 'warn') onWarn(message.message);
        else if (message.kind === 'ready') settle(() => resolve({ worker, waiting: new Map() }));
        else if (message.kind === 'failed') settle(() => reject(new ReadSideThreadError(`the read side could not open ${setup.readModelFile}: ${message.message}`)));
      };
      const onExit = (code: number) => settle(() => reject(new ReadSideThreadError(`the read side's thread stopped while opening (exit code ${code})`)));
      const onError = (error: Error) => settle(() => reject(new ReadSideThreadError(`the read side's thread failed while opening: ${error.message}`)));
      const settle = (then: () => void) => {
        worker.off('message', onMessage).off('exit', onExit).off('error', onError);
        then();
      };
      worker.on('message', onMessage).on('exit', onExit).on('error', onError);
    });
  }

  /** Routes the worker's answers and notices; a worker that goes away refuses what waited on it. */
  private attach(running: Running): Running {
    const { worker, waiting } = running;
    worker.unref();
    worker.on('message', (message: ReadSideReply) => {
      if (message.kind === 'warn') this.onWarn(message.message);
      else if (message.kind === 'passFailed') this.live?.onError(new ReadSideThreadError(message.message));
      else if (message.kind === 'done') {
        const w = waiting.get(message.id);
        if (!w) return;
        waiting.delete(message.id);
        if (waiting.size === 0) worker.unref();
        if (message.error === undefined) w.resolve();
        else w.reject(new ReadSideThreadError(message.error));
      }
    });
    const lost = (why: string) => {
      if (this.running === running) this.dead = true;
      for (const w of waiting.values()) w.reject(new ReadSideThreadError(`the read side's thread ${why}`));
      waiting.clear();
      if (!this.closing) this.live?.onError(new ReadSideThreadError(`the read side's thread ${why}; the next read starts a new one`));
    };
    worker.on('error', (error: Error) => lost(`failed: ${error.message}`));
    worker.on('exit', (code: number) => lost(`stopped (exit code ${code})`));
    return running;
  }

  private dead = false;
  private respawning: Promise<void> | null = null;

  /** A new worker after the last one went away; it resumes from the read model's checkpoints. */
  private revive(): Promise<void> {
    return (this.respawning ??= ReadSideThread.spawn(this.setup, this.onWarn).then(
      (running) => {
        this.running = this.attach(running);
        this.dead = false;
        this.respawning = null;
        if (this.live) this.running.worker.postMessage({ kind: 'start', settleMs: this.live.settleMs } satisfies ReadSideRequest);
      },
      (error: unknown) => {
        this.respawning = null;
        throw error;
      },
    ));
  }

  private async ask(kind: 'catchUp' | 'stop' | 'close'): Promise<void> {
    if (this.dead) {
      if (this.closing) return;
      await this.revive();
    }
    const { worker, waiting } = this.running;
    const id = this.nextId++;
    return new Promise<void>((resolve, reject) => {
      waiting.set(id, { resolve, reject });
      worker.ref();
      worker.postMessage({ kind, id } satisfies ReadSideRequest);
    });
  }

  catchUp(): Promise<void> {
    if (this.closing) return Promise.reject(new ReadSideThreadError('the read side is closed'));
    return this.ask('catchUp');
  }

  /**
   * Keeps the read model current from `committed` (the store's commit signal, required: the worker reads a
   * store this process writes), each commit passed on to the worker, whose runner times its passes.
   */
  start(onError: (error: unknown) => void = () => undefined, settleMs = 10, committed?: CommitSignal): void {
    if (this.live) return;
    if (!committed) throw new TypeError('ReadSideThread.start needs the store commit signal');
    const unsubscribe = committed(() => {
      if (!this.dead) this.running.worker.postMessage({ kind: 'committed' } satisfies ReadSideRequest);
    });
    this.live = { settleMs, onError, unsubscribe };
    this.running.worker.postMessage({ kind: 'start', settleMs } satisfies ReadSideRequest);
  }

  async stop(): Promise<void> {
    const live = this.live;
    this.live = null;
    live?.unsubscribe();
    if (live && !this.dead) await this.ask('stop');
  }

  async close(): Promise<void> {
    if (this.closing) return;
    await this.stop();
    this.closing = true;
    // The reader first: the last connection to close a WAL database checkpoints it and deletes its -wal file,
    // which a read-only one cannot (a -wal left behind would outlive a damaged or replaced main file).
    this.reader.close();
    if (!this.dead) {
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
