/**
 * Runs document projections over $all into a SQLite read model. Documents and the checkpoint are written
 * in one transaction per batch, so every event is applied exactly once, in commit order, across restarts.
 * The read model is disposable: rebuild() replays from the first event to the identical result.
 */
import Database from 'better-sqlite3';
import { closeSync, openSync, rmSync } from 'node:fs';
import type { EventStore, ReplayedEvent } from '../store/event-store.ts';
import type { DocumentProjection, EventMeta, Lookup } from '../../projections/projection.ts';
import type { LedgerEvent } from '../../schemas/index.ts';
import { decodeStoredEvent, type StoredEvent } from '../native/stored-envelope.ts';
import { nextTurn, SLICE_BUDGET_MS, SliceSizer } from './event-loop.ts';
import { ReadModelWriter, WriteBatch, type CheckpointRow } from './read-model-writes.ts';
import { ReplayThread, type ReadBatch } from './replay-thread.ts';
import { SqliteEventStore } from '../store/sqlite.ts';

/**
 * The read model's table layout, kept in PRAGMA user_version. A file of another layout is emptied and rebuilt
 * from the log when it is opened (it is derived data). 2: documents in a rowid table, 16 KiB pages (a unit's
 * 1-2 KB document overflowed the pages of a WITHOUT ROWID table: a rebuild wrote each twice over), and no
 * index by key.
 */
const LAYOUT = 2;
const PAGE_SIZE = 16384;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS projection_checkpoints (
  projection TEXT PRIMARY KEY,
  version    INTEGER NOT NULL,
  position   INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS projection_docs (
  projection TEXT NOT NULL,
  key        TEXT NOT NULL,
  doc        TEXT NOT NULL,
  PRIMARY KEY (projection, key)
);
CREATE TABLE IF NOT EXISTS projection_index (
  projection TEXT NOT NULL,
  name       TEXT NOT NULL,
  value      TEXT NOT NULL,
  key        TEXT NOT NULL,
  PRIMARY KEY (projection, name, value, key)
) WITHOUT ROWID;
`;

/** How many parsed documents the runner keeps (see `recent`): a few hundred stations' units in flight, and more. */
const RECENT_DOCUMENTS = 2048;
const cacheKey = (projection: string, key: string) => `${projection}\0${key}`;

/** A document of one batch: `stored` is what the read model holds (null: none), whose index rows are on file. */
interface WorkingDoc {
  doc: unknown;
  dirty: boolean;
  readonly stored: unknown;
  /** `doc` is an object the reducer returned in this batch (not `stored`, not the cache's): see DocumentProjection.evolve. */
  owned: boolean;
}

interface WorkingSet {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- heterogeneous document types
  readonly projection: DocumentProjection<any>;
  readonly checkpoint: bigint;
  readonly known: Set<string> | undefined;
  readonly docs: Map<string, WorkingDoc>;
  lookup: Lookup;
  entry(key: string): WorkingDoc;
}

/**
 * During a rebuild the runner remembers the keys it has written since the reset, so that a key it has not
 * written is known to have no document and is not looked up (most keys of a rebuild are new). Past this
 * many keys it stops remembering and looks every key up again: memory stays bounded on any log.
 */
const REBUILD_KEYS_REMEMBERED = 2_000_000;
/**
 * rebuild() is the offline command's (flashtrail projections rebuild): nobody waits on its event loop, and
 * transactions of the whole batch size are ~10 % faster than ones sized for a serving process.
 */
const REBUILD_SLICE_BUDGET_MS = 1000;

/**
 * A rebuild's batches on two threads: smaller than a one-thread pass's (the runner's batchSize), since each
 * thread's work overlaps the other's anyway, and fewer documents alive at a time cost V8's collector less (100k
 * events: 2,000 a batch took 2.55 s of the process's CPU, 5,000 2.77 s, 10,000 2.89 s).
 */
const REBUILD_BATCH_EVENTS = 2000;
/**
 * A catch-up this many batches behind the log (a projection upgraded or added, a deleted read model: what a
 * server replays at its start; 100,000 events at the runner's default batch size) runs on two threads, as a
 * rebuild does; a live pass's few events stay on one.
 */
const THREADED_CATCH_UP_BATCHES = 20;
/** Batches a rebuild may have sent to be written and not yet seen committed (catchUpOnThreads). */
const WRITES_IN_FLIGHT = 2;

/** A batch of $all as the projections take it: each event's place in the log, and the event, decoded once on first use. */
interface EventBatch {
  readonly length: number;
  /** The position of its last event. */
  readonly last: bigint;
  position(i: number): bigint;
  stream(i: number): string;
  revision(i: number): bigint;
  decoded(i: number): StoredEvent;
}

/** Events as the store read them: each decoded when a projection first needs it. */
function replayedBatch(events: readonly ReplayedEvent[]): EventBatch {
  return {
    length: events.length,
    last: events.length === 0 ? -1n : (events[events.length - 1] as ReplayedEvent).position,
    position: (i) => (events[i] as ReplayedEvent).position,
    stream: (i) => (events[i] as ReplayedEvent).stream,
    revision: (i) => (events[i] as ReplayedEvent).revision,
    decoded: (i) => decodeStoredEvent((events[i] as ReplayedEvent).data),
  };
}

/** Events as the replay thread cut them out: the batch's events are parsed in one go. */
function threadBatch(read: ReadBatch): EventBatch {
  const events = JSON.parse(Buffer.from(read.events.buffer, read.events.byteOffset, read.events.byteLength).toString('utf8')) as LedgerEvent[];
  const { positions, revisions, streams, digests } = read;
  return {
    length: events.length,
    last: events.length === 0 ? -1n : (positions[events.length - 1] as bigint),
    position: (i) => positions[i] as bigint,
    stream: (i) => streams[i] as string,
    revision: (i) => revisions[i] as bigint,
    decoded: (i) => ({ event: events[i] as LedgerEvent, digest: digests[i] as string }),
  };
}

/** What project() made of a batch: its rows, its documents (for the caches), and the checkpoints it reached. */
interface Projected {
  readonly writes: WriteBatch;
  readonly written: readonly [string, unknown][];
  readonly checkpoints: readonly CheckpointRow[];
}

export interface ProjectionStatus {
  readonly name: string;
  readonly position: bigint;
  readonly lag: bigint;
}

/** Tells the runner of each commit of its store, until the function it returns is called. */
export type CommitSignal = (listener: () => void) => () => void;

/**
 * The live pass may take at most about a fifth of the thread that also serves the appends: after a pass of
 * d ms the next one waits at least 4·d (up to this bound), so that under load each pass takes more events
 * along and its fixed cost (the transaction, the pages rewritten for the same hot documents) is paid less
 * often. Measured at 64 stations: a 60 ms wait instead of 10 ms cut the main thread's CPU per event by 6 %.
 */
const LIVE_PASS_MAX_WAIT_MS = 100;

/** SQLite's answers for a file that is not a database, or one whose pages are damaged. */
const DAMAGED = new Set(['SQLITE_NOTADB', 'SQLITE_CORRUPT', 'SQLITE_CORRUPT_VTAB', 'SQLITE_CORRUPT_SEQUENCE', 'SQLITE_CORRUPT_INDEX']);

export function isDamagedDatabaseError(error: unknown): boolean {
  return DAMAGED.has(String((error as { code?: unknown }).code));
}

export interface ProjectionRunnerOptions {
  /**
   * Opens the read model read-only, for queries (get, list, find…, status) beside the runner that writes it
   * on another thread (src/read/read-side-worker.ts); a read-only runner must not be caught up or started.
   */
  readonly readOnly?: boolean;
}

export class ProjectionRunner {
  private readonly db: Database.Database;
  private running: Promise<void> = Promise.resolve();
  /** A pass queued behind the running one and not started yet: it will read whatever is committed when it starts. */
  private queued: Promise<void> | null = null;
  private stopLive: (() => Promise<void>) | null = null;
  /** While rebuilding from an empty read model: every key written since, by projection (see REBUILD_KEYS_REMEMBERED). */
  private writtenSinceReset: Map<string, Set<string>> | null = null;
  /** How long one batch may hold the event loop (src/read/event-loop.ts); longer while rebuilding. */
  private sliceBudgetMs = SLICE_BUDGET_MS;
  private readonly writer: ReadModelWriter;
  /** Prepared once: preparing a statement costs more than running these. */
  private readonly statements: {
    readonly getDoc: Database.Statement;
    readonly checkpoint: Database.Statement;
  };

  /**
   * Opens the read model, or, when the file is damaged (not a database, or pages SQLite finds corrupt while
   * opening it), deletes it and starts a new one that catchUp() rebuilds from the event store: it is derived
   * data, and a damaged copy must not keep the ledger from starting. `onRebuild` hears why.
   */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- heterogeneous document types
  static openOrRebuild(store: EventStore, file: string, projections: readonly DocumentProjection<any>[], onRebuild: (reason: string) => void = () => undefined): ProjectionRunner {
    try {
      return new ProjectionRunner(store, file, projections);
    } catch (error) {
      if (!isDamagedDatabaseError(error)) throw error;
      onRebuild(`${file} is damaged (${(error as Error).message}): it is derived data, so it was deleted and is being rebuilt from the event store`);
      for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(file + suffix, { force: true });
      closeSync(openSync(file, 'wx', 0o600)); // SQLite keeps an existing file's mode, and gives it to -wal and -shm
      return new ProjectionRunner(store, file, projections);
    }
  }

  constructor(
    private readonly store: EventStore,
    private readonly file: string,
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- heterogeneous document types
    private readonly projections: readonly DocumentProjection<any>[],
    private readonly batchSize = 5000,
    options: ProjectionRunnerOptions = {},
  ) {
    for (const [at, p] of projections.entries()) {
      for (const name of p.reads ?? []) {
        if (!projections.slice(0, at).some((q) => q.name === name)) throw new Error(`projection ${p.name} reads ${name}, which must come before it in the runner's projections`);
      }
    }
    this.db = options.readOnly ? new Database(file, { readonly: true, fileMustExist: true }) : new Database(file);
    try {
      if (options.readOnly) {
        // A reader beside the runner that writes the file: that one set it up, and this one must not change it.
        if (this.db.pragma('user_version', { simple: true }) !== LAYOUT) throw new Error(`${file} is not a read model of layout ${LAYOUT}: open it read-write first`);
      } else if (this.db.pragma('user_version', { simple: true }) !== LAYOUT) {
        this.db.exec('DROP TABLE IF EXISTS projection_docs; DROP TABLE IF EXISTS projection_index; DROP TABLE IF EXISTS projection_checkpoints;');
        // The page size of a database that has pages changes only by a VACUUM, and not in WAL mode.
        this.db.pragma('journal_mode = DELETE');
        this.db.pragma(`page_size = ${PAGE_SIZE}`);
        this.db.exec('VACUUM');
      }
      if (!options.readOnly) {
        this.db.pragma('journal_mode = WAL');
        // Disposable: a power cut may lose the newest projected events, never the events themselves; the
        // checkpoint is written in the same transaction, so the runner replays what was lost.
        this.db.pragma('synchronous = NORMAL');
        this.db.exec(SCHEMA);
        this.db.pragma(`user_version = ${LAYOUT}`);
        const stored = this.db.prepare('SELECT version, position FROM projection_checkpoints WHERE projection = ?');
        const positionOf = (name: string) => (stored.get(name) as { position: number } | undefined)?.position ?? -1;
        for (const p of projections) {
          const row = stored.get(p.name) as { version: number } | undefined;
          if (row && row.version !== p.version) this.reset(p.name);
        }
        // A projection that reads another sees it as of each event only if both stand at the same position: one
        // rebuilt (a version change, a projection new to the file) rebuilds the other too.
        for (let changed = true; changed; ) {
          changed = false;
          for (const p of projections) {
            for (const name of p.reads ?? []) {
              if (positionOf(name) === positionOf(p.name)) continue;
              this.reset(name);
              this.reset(p.name);
              changed = true;
            }
          }
        }
      }
      this.statements = {
        getDoc: this.db.prepare('SELECT doc FROM projection_docs WHERE projection = ? AND key = ?'),
        checkpoint: this.db.prepare('SELECT position FROM projection_checkpoints WHERE projection = ?'),
      };
      this.writer = new ReadModelWriter(this.db);
    } catch (error) {
      this.db.close();
      throw error;
    }
  }

  /**
   * Applies every event committed so far. Concurrent calls share one pass: a call made while a pass is
   * queued and not yet started joins it (that pass reads all that is committed when it starts), so a burst
   * of appends costs one pass, not one per event.
   */
  catchUp(): Promise<void> {
    if (this.queued) return this.queued;
    const pass = this.running.then(() => {
      this.queued = null;
      return this.catchUpNow();
    });
    this.queued = pass;
    this.running = pass.catch(() => undefined);
    return pass;
  }

  /**
   * One read-model transaction per batch of events (see project()). Requests are served between batches, each
   * sized to hold the loop briefly: a rebuild or a burst must not hold every connection (src/read/event-loop.ts).
   */
  private async catchUpNow(): Promise<void> {
    const sizer = new SliceSizer(this.batchSize, Math.min(100, this.batchSize), this.sliceBudgetMs);
    for (let slice = 0; ; slice++) {
      if (slice > 0) await nextTurn();
      const started = performance.now();
      const from = this.lowestCheckpoint();
      const events: readonly ReplayedEvent[] = await (this.store.readAllForReplay ?? this.store.readAll).call(this.store, { after: from, maxCount: sizer.size });
      if (events.length === 0) return;
      // A long way behind (a projection upgraded or new, a read model deleted): the rest on two threads.
      if (slice === 0 && events.length === sizer.size && this.threadable() && (await this.store.headPosition()) - from > THREADED_CATCH_UP_BATCHES * this.batchSize) return this.catchUpOnThreads();
      const batch = replayedBatch(events);
      let projected: Projected | undefined;
      this.db.transaction(() => {
        projected = this.project(batch, (name) => this.checkpointOf(name));
        this.writer.writeInTransaction(projected.writes.rows, projected.checkpoints);
      })();
      // The cache of recent documents learns a batch's documents once (and only if) its transaction committed.
      if (projected) this.remember(projected.written);
      sizer.took(events.length, performance.now() - started);
      this.forgetWrittenKeysPastBound();
    }
  }

  /**
   * A rebuild, or a long catch-up, on two threads (./replay-thread.ts): a worker reads the log
   * ahead of this thread and writes each batch's rows behind it, while this thread projects the next batch.
   * A batch's documents stay in `pending` until its transaction committed (this thread's connection does not
   * see them before), then go to the cache of recent documents as in catchUpNow. At most WRITES_IN_FLIGHT
   * batches wait to be written: memory stays bounded when the writes are the slower half.
   */
  private async catchUpOnThreads(): Promise<void> {
    const thread = await ReplayThread.open({ readModelFile: this.file, eventsFile: this.store instanceof SqliteEventStore ? this.store.file : undefined });
    const inFlight: Promise<void>[] = [];
    try {
      const checkpoints = new Map(this.projections.map((p) => [p.name, this.checkpointOf(p.name)]));
      const batchSize = Math.min(this.batchSize, REBUILD_BATCH_EVENTS);
      const read = (after: bigint): Promise<EventBatch> =>
        this.store instanceof SqliteEventStore
          ? thread.read(after, batchSize).then(threadBatch)
          : (this.store.readAllForReplay ?? this.store.readAll).call(this.store, { after, maxCount: batchSize }).then(replayedBatch);
      let next = read(this.lowestCheckpoint());
      for (let id = 0; ; id++) {
        const batch = await next;
        if (batch.length === 0) break;
        next = read(batch.last);
        // Awaited in turn above; a failure while this batch is projected must not go unhandled meanwhile.
        next.catch(() => undefined);
        const projected = this.project(batch, (name) => checkpoints.get(name) ?? -1n);
        for (const [name, , position] of projected.checkpoints) checkpoints.set(name, position);
        for (const [key, doc] of projected.written) this.pending.set(key, { doc, batch: id });
        if (inFlight.length >= WRITES_IN_FLIGHT) await inFlight.shift();
        const committed = thread.write(projected.writes.rows, projected.checkpoints).then(() => {
          this.remember(projected.written);
          for (const [key] of projected.written) if (this.pending.get(key)?.batch === id) this.pending.delete(key);
        });
        committed.catch(() => undefined);
        inFlight.push(committed);
        this.forgetWrittenKeysPastBound();
      }
      for (const committed of inFlight.splice(0)) await committed;
    } finally {
      await Promise.allSettled(inFlight);
      this.pending.clear();
      await thread.close();
    }
  }

  /**
   * Applies a batch to every projection, each event decoded once for all of them and applied to each before the
   * next event (a projection that reads another's documents sees them as of that event). Within a batch,
   * documents live in memory: a unit's six events read its document once and write it once, with its index
   * rows that changed, at the end of the batch (WriteBatch).
   */
  private project(batch: EventBatch, checkpointOf: (name: string) => bigint): Projected {
    const working = this.projections.map((p) => this.workingSet(p, checkpointOf(p.name)));
    const byName = new Map(working.map((w) => [w.projection.name, w]));
    for (const w of working) {
      w.lookup = <T>(key: string, projection?: string): T | null => {
        if (projection === undefined) return w.entry(key).doc as T | null;
        const other = byName.get(projection);
        if (!other || !w.projection.reads?.includes(projection)) throw new Error(`projection ${w.projection.name} looked up ${projection}, which it does not declare in reads`);
        return other.entry(key).doc as T | null;
      };
    }
    for (let i = 0; i < batch.length; i++) this.apply(batch, i, working);
    const writes = new WriteBatch();
    const written: [string, unknown][] = [];
    for (const w of working) this.gather(w, writes, written);
    // A projection already past the batch (one that was not reset when another was) keeps its place.
    return { writes, written, checkpoints: working.map((w): CheckpointRow => [w.projection.name, w.projection.version, w.checkpoint > batch.last ? w.checkpoint : batch.last]) };
  }

  private apply(batch: EventBatch, i: number, working: readonly WorkingSet[]): void {
    const position = batch.position(i);
    let event: StoredEvent | undefined;
    let meta: EventMeta | undefined;
    for (const w of working) {
      if (position <= w.checkpoint) continue;
      event ??= batch.decoded(i);
      const key = w.projection.keyOf(event.event);
      if (key === null) continue;
      meta ??= { stream: batch.stream(i), revision: batch.revision(i), position, digest: event.digest };
      const entry = w.entry(key);
      const next = w.projection.evolve(entry.doc, event.event, meta, w.lookup, entry.owned);
      // A new object is the reducer's own: it may change it in place for the key's next events.
      if (next !== entry.doc) entry.owned = true;
      entry.doc = next;
      entry.dirty = true;
    }
  }

  /** A projection's documents changed in the batch, and the index rows that changed with them. */
  private gather(w: WorkingSet, writes: WriteBatch, written: [string, unknown][]): void {
    const p = w.projection;
    for (const [key, entry] of w.docs) {
      if (!entry.dirty) continue;
      writes.putDoc(p.name, key, JSON.stringify(entry.doc));
      written.push([cacheKey(p.name, key), entry.doc]);
      w.known?.add(key);
      if (!p.indexes) continue;
      // The rows on file are the stored document's indexes: only those that changed are written (a unit's
      // next event rarely changes any). A document new in this batch has none yet.
      const now = p.indexes(entry.doc);
      if (entry.stored !== null) {
        const before = p.indexes(entry.stored);
        const kept = new Set(now.map(([name, value]) => `${name}\0${value}`));
        const had = new Set(before.map(([name, value]) => `${name}\0${value}`));
        for (const [name, value] of before) if (!kept.has(`${name}\0${value}`)) writes.removeIndex(p.name, name, value, key);
        for (const [name, value] of now) if (!had.has(`${name}\0${value}`)) writes.addIndex(p.name, name, value, key);
      } else {
        for (const [name, value] of now) writes.addIndex(p.name, name, value, key);
      }
    }
  }

  /** A database in memory has no file for the replay thread to open. */
  private threadable(): boolean {
    return this.file !== ':memory:' && this.file !== '';
  }

  private forgetWrittenKeysPastBound(): void {
    if (this.writtenSinceReset && [...this.writtenSinceReset.values()].reduce((n, keys) => n + keys.size, 0) > REBUILD_KEYS_REMEMBERED) this.writtenSinceReset = null;
  }

  /** A projection's documents for one batch, read on first use from the batch, the cache or the file. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- heterogeneous document types
  private workingSet(projection: DocumentProjection<any>, checkpoint: bigint): WorkingSet {
    const { getDoc } = this.statements;
    const known = this.writtenSinceReset?.get(projection.name);
    const docs = new Map<string, WorkingDoc>();
    return {
      projection,
      checkpoint,
      known,
      docs,
      lookup: () => null,
      entry: (key: string): WorkingDoc => {
        let entry = docs.get(key);
        if (!entry) {
          const cached = cacheKey(projection.name, key);
          let stored = known && !known.has(key) ? null : (this.pending.get(cached)?.doc ?? this.recent.get(cached));
          if (stored === undefined) {
            const r = getDoc.get(projection.name, key) as { doc: string } | undefined;
            stored = r ? (JSON.parse(r.doc) as unknown) : null;
          }
          entry = { doc: stored, dirty: false, stored, owned: false };
          docs.set(key, entry);
        }
        return entry;
      },
    };
  }

  /**
   * Drops the read model and replays every event from the start of the log, in batches that may hold the
   * event loop for up to a second each (REBUILD_SLICE_BUDGET_MS): a serving process catches up instead.
   */
  async rebuild(onProgress?: (position: bigint, head: bigint) => void): Promise<void> {
    await this.running;
    for (const p of this.projections) this.reset(p.name);
    // Only this runner writes the read model, and its passes run one after the other: what the rebuild has
    // not written is not there. A failed transaction rolls back keys it added here too late to matter: a
    // key remembered but not on file is looked up and found missing, which is the slow path, not a wrong one.
    this.writtenSinceReset = new Map(this.projections.map((p) => [p.name, new Set<string>()]));
    this.sliceBudgetMs = REBUILD_SLICE_BUDGET_MS;
    try {
      const head = await this.store.headPosition();
      const timer = onProgress ? setInterval(() => onProgress(this.lowestCheckpoint(), head), 1000) : undefined;
      try {
        // On two threads (a database in memory has no file for the worker to open), as the only pass meanwhile;
        // then a pass of this thread's own for whatever was appended since.
        if (this.threadable()) {
          const onThreads = this.catchUpOnThreads();
          this.running = onThreads.catch(() => undefined);
          await onThreads;
        }
        await this.catchUp();
      } finally {
        clearInterval(timer);
      }
      onProgress?.(this.lowestCheckpoint(), head);
    } finally {
      this.writtenSinceReset = null;
      this.sliceBudgetMs = SLICE_BUDGET_MS;
    }
  }

  /**
   * Keeps the read model current until stop(): from a live $all subscription, or, given `committed`, from the
   * store's own commit signal (startOnCommits). A pass that fails (a full disk,
   * a locked file) is reported to `onError` and retried with the next event; readers catch up themselves
   * (every query route calls catchUp()), so a failed pass delays the read model, it never stops it for good.
   */
  start(onError: (error: unknown) => void = () => undefined, settleMs = 10, committed?: CommitSignal): void {
    if (this.stopLive) return;
    if (committed) {
      this.stopLive = this.startOnCommits(committed, onError, settleMs);
      return;
    }
    const subscription = this.store.subscribeToAll({ after: this.lowestCheckpoint() });
    let stopped = false;
    const loop = (async () => {
      try {
        for await (const event of subscription) {
          if (stopped) break;
          if (event.position <= this.lowestCheckpoint()) continue;
          try {
            // A short wait first, so that one pass takes the appends of the next few milliseconds along: a
            // steady stream of single-event appends then costs a pass per `settleMs`, not one per event.
            // Nobody reads a stale document for it: every query route calls catchUp() itself.
            await new Promise((resolve) => setTimeout(resolve, settleMs));
            if (stopped) break;
            await this.catchUp();
          } catch (error) {
            if (stopped) break;
            onError(error);
          }
        }
      } catch (error) {
        // The store closed under us (a restart catches up from the checkpoint), or the subscription failed.
        if (!stopped) onError(error);
      }
    })();
    this.stopLive = async () => {
      stopped = true;
      await subscription.close();
      await loop;
    };
  }

  /**
   * The live pass on a store this process alone writes (SQLite, under the data directory lock): each committed
   * append (the pipeline's group commits, the checkpointer's own events) asks for a pass `settleMs` later (or
   * later still under load, see LIVE_PASS_MAX_WAIT_MS), and every append made meanwhile joins it, so a pass
   * runs once per group commit or less often. Nothing is read to learn that something was written: a
   * subscription would read and copy every new row only to find that the pass had taken it along (3 % of the
   * 64-station append path's main thread, profiled). Readers never see a stale document for the wait: every
   * query route catches the read model up itself.
   */
  private startOnCommits(committed: CommitSignal, onError: (error: unknown) => void, settleMs: number): () => Promise<void> {
    let timer: NodeJS.Timeout | null = null;
    let stopped = false;
    let lastPassMs = 0;
    let lastPassEnded = 0;
    let inFlight: Promise<void> = Promise.resolve();
    const pass = () => {
      timer = null;
      if (stopped) return;
      const started = performance.now();
      inFlight = this.catchUp()
        .catch((error: unknown) => {
          if (!stopped) onError(error);
        })
        .finally(() => {
          lastPassEnded = performance.now();
          lastPassMs = lastPassEnded - started;
        });
    };
    const unsubscribe = committed(() => {
      if (stopped || timer !== null) return;
      const loaded = Math.min(Math.max(settleMs, LIVE_PASS_MAX_WAIT_MS), 4 * lastPassMs - (performance.now() - lastPassEnded));
      timer = setTimeout(pass, Math.max(settleMs, loaded));
    });
    return async () => {
      stopped = true;
      unsubscribe();
      if (timer !== null) clearTimeout(timer);
      timer = null;
      await inFlight;
    };
  }

  async stop(): Promise<void> {
    const stop = this.stopLive;
    this.stopLive = null;
    if (stop) await stop();
    await this.running;
  }

  get<T>(projection: string, key: string): T | null {
    const row = this.statements.getDoc.get(projection, key) as { doc: string } | undefined;
    return row ? (JSON.parse(row.doc) as T) : null;
  }

  list<T>(projection: string, options: { after?: string; limit: number }): T[] {
    const rows = this.query('SELECT doc FROM projection_docs WHERE projection = ? AND key > ? ORDER BY key LIMIT ?')
      .all(projection, options.after ?? '', options.limit) as { doc: string }[];
    return rows.map((r) => JSON.parse(r.doc) as T);
  }

  /** Keys whose documents carry `value` under index `name`, in key order, after `after`. */
  findKeys(projection: string, name: string, value: string, options: { after?: string; limit?: number } = {}): string[] {
    const rows = this.query('SELECT key FROM projection_index WHERE projection = ? AND name = ? AND value = ? AND key > ? ORDER BY key LIMIT ?')
      .all(projection, name, value, options.after ?? '', options.limit ?? 1_000_000_000) as { key: string }[];
    return rows.map((r) => r.key);
  }

  /** Documents found through an index, in key order. */
  findDocs<T>(projection: string, name: string, value: string, options: { after?: string; limit?: number } = {}): T[] {
    const rows = this.query(
      `SELECT d.doc FROM projection_index i JOIN projection_docs d ON d.projection = i.projection AND d.key = i.key
         WHERE i.projection = ? AND i.name = ? AND i.value = ? AND i.key > ? ORDER BY i.key LIMIT ?`,
    )
      .all(projection, name, value, options.after ?? '', options.limit ?? 1_000_000_000) as { doc: string }[];
    return rows.map((r) => JSON.parse(r.doc) as T);
  }

  /** Documents whose index value lies in [from, to] (string order, e.g. ISO dates), in value then key order. */
  rangeDocs<T>(projection: string, name: string, from: string, to: string): T[] {
    const rows = this.query(
      `SELECT d.doc FROM projection_index i JOIN projection_docs d ON d.projection = i.projection AND d.key = i.key
         WHERE i.projection = ? AND i.name = ? AND i.value >= ? AND i.value <= ? ORDER BY i.value, i.key`,
    )
      .all(projection, name, from, to) as { doc: string }[];
    return rows.map((r) => JSON.parse(r.doc) as T);
  }

  /** Every document and index row of every projection, in order: what rebuild equality is checked on. */
  dump(): string {
    const docs = this.db.prepare('SELECT projection, key, doc FROM projection_docs ORDER BY projection, key').all();
    const index = this.db.prepare('SELECT projection, name, value, key FROM projection_index ORDER BY projection, name, value, key').all();
    return JSON.stringify({ docs, index });
  }

  async status(): Promise<ProjectionStatus[]> {
    const head = await this.store.headPosition();
    return this.projections.map((p) => {
      const position = this.checkpointOf(p.name);
      return { name: p.name, position, lag: head > position ? head - position : 0n };
    });
  }

  close(): void {
    this.db.close();
  }

  /** The read queries' statements, prepared on first use and kept: a page of 100 costs less than preparing its query. */
  private readonly queries = new Map<string, Database.Statement>();
  private query(sql: string): Database.Statement {
    let statement = this.queries.get(sql);
    if (!statement) this.queries.set(sql, (statement = this.db.prepare(sql)));
    return statement;
  }

  private checkpointOf(name: string): bigint {
    const row = this.statements.checkpoint.get(name) as { position: number } | undefined;
    return row ? BigInt(row.position) : -1n;
  }

  private lowestCheckpoint(): bigint {
    return this.projections.reduce((min, p) => {
      const c = this.checkpointOf(p.name);
      return c < min ? c : min;
    }, BigInt(Number.MAX_SAFE_INTEGER));
  }

  /**
   * The documents written last, parsed, by projection and key: the live pass after an append finds the hot
   * units' and stations' documents here instead of reading and parsing them again. The runner is the only
   * writer of its read model, and it updates an entry only after the transaction that wrote it committed.
   * Reducers are pure (they never change the state they are given), so the objects can be shared.
   */
  private readonly recent = new Map<string, unknown>();
  /** The documents of a rebuild's batches not committed yet, by cache key, with the batch that wrote each last (catchUpOnThreads). */
  private readonly pending = new Map<string, { readonly doc: unknown; readonly batch: number }>();

  private remember(written: readonly [string, unknown][]): void {
    // A rebuild's batch writes more documents than are kept: only its last ones can stay.
    for (const [key, doc] of written.length > RECENT_DOCUMENTS ? written.slice(-RECENT_DOCUMENTS) : written) {
      this.recent.delete(key);
      this.recent.set(key, doc);
    }
    // Least recently written out first.
    for (const key of this.recent.keys()) {
      if (this.recent.size <= RECENT_DOCUMENTS) break;
      this.recent.delete(key);
    }
  }

  private reset(name: string): void {
    this.recent.clear();
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM projection_docs WHERE projection = ?').run(name);
      this.db.prepare('DELETE FROM projection_index WHERE projection = ?').run(name);
      this.db.prepare('DELETE FROM projection_checkpoints WHERE projection = ?').run(name);
    })();
  }
}
