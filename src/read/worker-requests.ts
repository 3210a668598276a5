/**
 * The request/reply scaffolding of the threads the read side runs beside the serving one (the read model's
 * passes, ./read-side-worker.ts, and the Merkle log's appends, ./merkle-append-thread.ts), in one place:
 *
 *   - open: start the worker and wait for it to say it opened its files ('ready') or could not ('failed');
 *   - ask: a request `{ kind, id }` answered by the worker's `{ kind: 'done', id, error? }`, the worker kept
 *     referenced (the process alive) only while an answer is awaited;
 *   - a worker that goes away (it failed, it was stopped) refuses everything that waited on it: nothing is
 *     answered as if it had been done, and the next request starts a new worker, which resumes from what its
 *     files hold;
 *   - close: ask the worker to close its connections, then give it CLOSE_GRACE_MS before it is stopped.
 *
 * The worker's half is workerReplies(): its replies and the answer to a request once its work settles.
 */
import { Worker, type MessagePort } from 'node:worker_threads';

/** What every such worker says on its own: opened, could not open, or a request done (its error, if it failed). */
export type WorkerReply = { readonly kind: 'ready' } | { readonly kind: 'failed'; readonly message: string } | { readonly kind: 'done'; readonly id: number; readonly error?: string };

/** How long close() lets the worker finish closing its connections before it is stopped. */
const CLOSE_GRACE_MS = 5000;

export interface RequestThreadOptions<Notice extends { readonly kind: string }> {
  /** The worker's module (compiled JS, or a boot file that loads the TypeScript source through tsx). */
  readonly url: URL;
  readonly workerData: unknown;
  /** How the thread is named in errors: "the read side's thread". */
  readonly name: string;
  /** What an open that failed says before the worker's reason: "the read side could not open FILE". */
  readonly openFailure: string;
  /** The error class a refusal is given in. */
  readonly newError: (message: string) => Error;
  /** The worker's other messages (neither 'ready', 'failed' nor 'done'), while it opens and after. */
  readonly onNotice?: (notice: Notice) => void;
  /** A worker went away outside close(), refusing `why` ("stopped (exit code 1)") to what waited on it. */
  readonly onLost?: (why: string) => void;
  /** A new worker replaced one that went away (before it is asked anything). */
  readonly onRevived?: () => void;
}

interface Running {
  readonly worker: Worker;
  readonly waiting: Map<number, { resolve: () => void; reject: (error: Error) => void }>;
  dead: boolean;
}

/** Requests (`Ask`: their kinds, 'close' among them) to a worker thread, and its notices (`Notice`). */
export class RequestThread<Ask extends string, Notice extends { readonly kind: string } = never> {
  private running: Running;
  private nextId = 0;
  private closing = false;
  private respawning: Promise<void> | null = null;

  /** Starts the worker; resolves once it has opened its files, rejects with the worker's reason if it could not. */
  static async open<Ask extends string, Notice extends { readonly kind: string } = never>(options: RequestThreadOptions<Notice>): Promise<RequestThread<Ask, Notice>> {
    return new RequestThread<Ask, Notice>(options, await spawn(options));
  }

  private constructor(
    private readonly options: RequestThreadOptions<Notice>,
    running: Running,
  ) {
    this.running = this.attach(running);
  }

  /** True while no worker runs (the last one went away and no request has started a new one yet). */
  get dead(): boolean {
    return this.running.dead;
  }

  /** The worker now (a test stops it to see what a crash does). */
  get worker(): Worker {
    return this.running.worker;
  }

  /** A message that is not answered; dropped while no worker runs (the next one resumes from its files). */
  post(message: { readonly kind: string; readonly [field: string]: unknown }): void {
    if (!this.running.dead) this.running.worker.postMessage(message);
  }

  /** Sends `{ kind, id }` and resolves on the worker's answer to it; a worker that went away is replaced first. */
  async ask(kind: Ask): Promise<void> {
    if (this.closing) throw this.options.newError(`${this.options.name} is closed`);
    if (this.running.dead) await this.revive();
    const { worker, waiting } = this.running;
    const id = this.nextId++;
    return new Promise<void>((resolve, reject) => {
      waiting.set(id, { resolve, reject });
      // Keeps the process alive only while an answer is awaited.
      worker.ref();
      worker.postMessage({ kind, id });
    });
  }

  /** Asks the worker to close (request `closeKind`), then waits for it to exit, stopping it after the grace. */
  async close(closeKind: Ask): Promise<void> {
    if (this.closing) return;
    const { dead, worker } = this.running;
    if (dead) {
      this.closing = true;
      return;
    }
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    const asked = this.ask(closeKind).catch(() => undefined);
    this.closing = true;
    await asked;
    // Held until it has exited: an unreferenced worker lets a process whose last work this was end first.
    worker.ref();
    const stuck = setTimeout(() => void worker.terminate(), CLOSE_GRACE_MS);
    await exited;
    clearTimeout(stuck);
  }

  /** Routes the worker's answers and notices; a worker that goes away refuses what waited on it. */
  private attach(running: Running): Running {
    const { worker, waiting } = running;
    worker.unref();
    worker.on('message', (message: WorkerReply | Notice) => {
      if (message.kind !== 'done') {
        if (message.kind !== 'ready' && message.kind !== 'failed') this.options.onNotice?.(message as Notice);
        return;
      }
      const done = message as Extract<WorkerReply, { kind: 'done' }>;
      const w = waiting.get(done.id);
      if (!w) return;
      waiting.delete(done.id);
      if (waiting.size === 0) worker.unref();
      if (done.error === undefined) w.resolve();
      else w.reject(this.options.newError(done.error));
    });
    const lost = (why: string) => {
      if (running.dead) return;
      running.dead = true;
      for (const w of waiting.values()) w.reject(this.options.newError(`${this.options.name} ${why}`));
      waiting.clear();
      if (!this.closing && this.running === running) this.options.onLost?.(why);
    };
    worker.on('error', (error: Error) => lost(`failed: ${error.message}`));
    worker.on('exit', (code: number) => lost(`stopped (exit code ${code})`));
    return running;
  }

  /** A new worker after the last one went away; it resumes from its files. */
  private revive(): Promise<void> {
    return (this.respawning ??= spawn(this.options).then(
      (running) => {
        this.running = this.attach(running);
        this.respawning = null;
        this.options.onRevived?.();
      },
      (error: unknown) => {
        this.respawning = null;
        throw error;
      },
    ));
  }
}

async function spawn<Notice extends { readonly kind: string }>(options: RequestThreadOptions<Notice>): Promise<Running> {
  return { worker: await startWorker(options), waiting: new Map(), dead: false };
}

/**
 * Starts a worker and waits for it to say it opened its files ('ready'), rejecting with its reason ('failed') or
 * how it went away while opening; its notices meanwhile go to `onNotice`. RequestThread's start, and that of a
 * thread with requests of its own shape (./replay-thread.ts).
 */
export function startWorker<Notice extends { readonly kind: string }>(options: Pick<RequestThreadOptions<Notice>, 'url' | 'workerData' | 'name' | 'openFailure' | 'newError' | 'onNotice'>): Promise<Worker> {
  const { name, newError } = options;
  return new Promise((resolve, reject) => {
    const worker = new Worker(options.url, { workerData: options.workerData });
    const onMessage = (message: WorkerReply | Notice) => {
      if (message.kind === 'ready') settle(() => resolve(worker));
      else if (message.kind === 'failed') settle(() => reject(newError(`${options.openFailure}: ${(message as Extract<WorkerReply, { kind: 'failed' }>).message}`)));
      else if (message.kind !== 'done') options.onNotice?.(message as Notice);
    };
    const onExit = (code: number) => settle(() => reject(newError(`${name} stopped while opening (exit code ${code})`)));
    const onError = (error: Error) => settle(() => reject(newError(`${name} failed while opening: ${error.message}`)));
    const settle = (then: () => void) => {
      worker.off('message', onMessage).off('exit', onExit).off('error', onError);
      then();
    };
    worker.on('message', onMessage).on('exit', onExit).on('error', onError);
  });
}

/** The worker's half: its replies (WorkerReply or its own notices), and a request's answer once its work settles. */
export function workerReplies<Reply extends { readonly kind: string }>(port: MessagePort) {
  const reply = (message: WorkerReply | Reply) => port.postMessage(message);
  return {
    reply,
    /** Answers request `id` with 'done' once `work` settles: its error's message if it failed. */
    answer: (id: number, work: Promise<unknown>): Promise<void> =>
      work.then(
        () => reply({ kind: 'done', id }),
        (error: unknown) => reply({ kind: 'done', id, error: errorMessage(error) }),
      ),
  };
}

/** An error's message, as it crosses to the serving thread. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
