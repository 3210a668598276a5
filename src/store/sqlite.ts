/**
 * Embedded event store: one SQLite file, WAL journal, synchronous=FULL so that an acknowledged append
 * survives a process kill or power loss. $all positions are SQLite AUTOINCREMENT row ids (never reused).
 */
import Database from 'better-sqlite3';
import {
  DuplicateEventIdError,
  WrongExpectedVersionError,
  checkAppendShape,
  checkConditions,
  expectedHolds,
  conditionResult,
  isCondition,
  type AppendRequest,
  type AppendResult,
  type EventData,
  type EventStore,
  type ExpectedRevision,
  type ReadAllOptions,
  type ReadStreamOptions,
  type RecordedEvent,
  type ReplayedEvent,
  type Subscription,
} from './event-store.ts';
import { bytesEqual } from '../crypto/encoding.ts';
import { Worker } from 'node:worker_threads';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  position    INTEGER PRIMARY KEY AUTOINCREMENT,
  stream      TEXT    NOT NULL,
  revision    INTEGER NOT NULL,
  id          TEXT    NOT NULL UNIQUE,
  type        TEXT    NOT NULL,
  data        BLOB    NOT NULL,
  recorded_at TEXT    NOT NULL,
  UNIQUE (stream, revision)
);
CREATE TRIGGER IF NOT EXISTS events_append_only_update BEFORE UPDATE ON events
  BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TRIGGER IF NOT EXISTS events_append_only_delete BEFORE DELETE ON events
  BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TABLE IF NOT EXISTS store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO store_meta (key, value) VALUES ('format', 'flashtrail-events-v1');
`;

interface Row {
  position: number | bigint;
  stream: string;
  revision: number | bigint;
  id: string;
  type: string;
  data: Buffer;
  recorded_at: string;
}

export interface SqliteEventStoreOptions {
  /** Clock for recordedAt; injected so tests can pin it. */
  readonly now?: () => Date;
  /** How often a subscription looks for events written by another process, in ms. */
  readonly pollIntervalMs?: number;
  /**
   * Group commits of several submissions (appendGroups) run on a writer thread with its own connection
   * (./sqlite-writer.ts), so their fsync does not block the calling thread; their recordedAt is then the
   * writer's clock (not `now`). Everything else, a lone submission included, stays on this connection.
   */
  readonly writerThread?: boolean;
  /**
   * Opens an existing store read-only (another thread or process of the same ledger writes it): for readers
   * beside the writer, such as the read side's thread (src/read/read-side-worker.ts). Appends are refused.
   */
  readonly readOnly?: boolean;
}

export interface WriteJob {
  readonly id: number;
  readonly groups: readonly (readonly AppendRequest[])[];
}

/** A refusal as it crosses threads: the store's errors keep their class and fields. */
export type WireError =
  | { readonly kind: 'wrong-expected'; readonly stream: string; readonly expected: AppendRequest['expected']; readonly actual: bigint | 'no_stream' }
  | { readonly kind: 'duplicate-id'; readonly eventId: string; readonly stream: string; readonly attemptedStream: string }
  | { readonly kind: 'type'; readonly message: string }
  | { readonly kind: 'other'; readonly message: string };

export type WireOutcome = { readonly status: 'fulfilled'; readonly value: AppendResult[] } | { readonly status: 'rejected'; readonly reason: WireError };

export interface WriteAnswer {
  readonly id: number;
  readonly outcomes: readonly WireOutcome[];
}

export function toWire(error: unknown): WireError {
  if (error instanceof WrongExpectedVersionError) return { kind: 'wrong-expected', stream: error.stream, expected: error.expected, actual: error.actual };
  if (error instanceof DuplicateEventIdError) return { kind: 'duplicate-id', eventId: error.eventId, stream: error.stream, attemptedStream: error.attemptedStream };
  if (error instanceof TypeError) return { kind: 'type', message: error.message };
  return { kind: 'other', message: error instanceof Error ? error.message : String(error) };
}

export function fromWire(error: WireError): Error {
  switch (error.kind) {
    case 'wrong-expected':
      return new WrongExpectedVersionError(error.stream, error.expected ?? 'any', error.actual);
    case 'duplicate-id':
      return new DuplicateEventIdError(error.eventId, error.stream, error.attemptedStream);
    case 'type':
      return new TypeError(error.message);
    case 'other':
      return new Error(error.message);
  }
}


export class SqliteEventStore implements EventStore {
  private readonly db: Database.Database;
  private readonly now: () => Date;
  private readonly pollIntervalMs: number;
  private readonly waiters = new Set<() => void>();
  /** Told after every committed append of this process (see onAppended). */
  private readonly appendListeners = new Set<() => void>();
  private closed = false;
  private writer: Worker | null = null;
  private readonly writing = new Map<number, { readonly groups: number; readonly resolve: (outcomes: PromiseSettledResult<AppendResult[]>[]) => void }>();
  private nextWrite = 0;
  private readonly writerThread: boolean;
  /**
   * One append in a transaction, or in a savepoint of the caller's (better-sqlite3 nests them): made once, as
   * better-sqlite3 builds four wrapped functions and their properties for each db.transaction() it is asked.
   * A transaction that writes begins IMMEDIATE (`.immediate`): it takes the write lock before it reads the
   * heads its conditions are checked against. A deferred one reads first, and if the other connection of the
   * ledger (the writer thread's, or the caller's) commits in between, SQLite cannot turn that stale read into
   * a write and fails at once with "database is locked", without waiting (busy_timeout does not apply to it).
   */
  private readonly inTransaction: Database.Transaction<(requests: readonly AppendRequest[]) => AppendResult[]>;
  /** Several appends in one transaction, each in its own savepoint, each refused alone. */
  private readonly inTransactionEach: Database.Transaction<(groups: readonly (readonly AppendRequest[])[]) => PromiseSettledResult<AppendResult[]>[]>;

  private readonly stmts: {
    head: Database.Statement<[string], { revision: number | bigint } | undefined>;
    byId: Database.Statement<[string], Row | undefined>;
    insert: Database.Statement<[string, bigint, string, string, Buffer, string]>;
    readStream: LimitedStatement<[string, bigint], Row>;
    readStreams: Database.Statement<[string], Row>;
    readStreamBackwards: LimitedStatement<[string, bigint], Row>;
    readAll: LimitedStatement<[bigint], Row>;
    headPosition: Database.Statement<[], { p: number | bigint | null }>;
  };

  constructor(readonly file: string, options: SqliteEventStoreOptions = {}) {
    this.now = options.now ?? (() => new Date());
    this.pollIntervalMs = options.pollIntervalMs ?? 500;
    this.writerThread = options.writerThread ?? false;
    this.db = options.readOnly ? new Database(file, { readonly: true, fileMustExist: true }) : new Database(file);
    this.db.defaultSafeIntegers(true);
    if (!options.readOnly) {
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = FULL');
    }
    this.db.pragma('busy_timeout = 5000');
    if (!options.readOnly) this.db.exec(SCHEMA);
    this.inTransaction = this.db.transaction((requests: readonly AppendRequest[]) => this.appendGroup(requests));
    this.inTransactionEach = this.db.transaction((groups: readonly (readonly AppendRequest[])[]) => groups.map((requests) => refusalOrThrow(() => this.inTransaction(requests))));
    this.stmts = {
      head: this.db.prepare('SELECT MAX(revision) AS revision FROM events WHERE stream = ?') as never,
      byId: this.db.prepare('SELECT * FROM events WHERE id = ?') as never,
      insert: this.db.prepare(
        'INSERT INTO events (stream, revision, id, type, data, recorded_at) VALUES (?, ?, ?, ?, ?, ?)',
      ) as never,
      readStream: new LimitedStatement(this.db, 'SELECT * FROM events WHERE stream = ? AND revision >= ? ORDER BY revision'),
      // One index lookup per named stream (the names travel as one JSON array).
      readStreams: this.db.prepare('SELECT * FROM events WHERE stream IN (SELECT value FROM json_each(?)) ORDER BY stream, revision') as never,
      // UNIQUE (stream, revision) is an index SQLite walks in either direction: the head costs one row.
      readStreamBackwards: new LimitedStatement(this.db, 'SELECT * FROM events WHERE stream = ? AND revision <= ? ORDER BY revision DESC'),
      readAll: new LimitedStatement(this.db, 'SELECT * FROM events WHERE position > ? ORDER BY position'),
      headPosition: this.db.prepare('SELECT MAX(position) AS p FROM events') as never,
    };
  }

  /**
   * The durability settings of this store's own connection (synchronous is per connection, so another
   * handle on the file cannot tell): journal mode and synchronous level (2 = FULL).
   */
  durability(): { journalMode: string; synchronous: number } {
    return {
      journalMode: String(this.db.pragma('journal_mode', { simple: true })),
      synchronous: Number(this.db.pragma('synchronous', { simple: true })),
    };
  }

  appendToStream(stream: string, events: readonly EventData[], options: { expected?: ExpectedRevision } = {}) {
    return this.appendToStreams([{ stream, events, expected: options.expected ?? 'any' }]).then((r) => r[0] as AppendResult);
  }

  appendToStreams(requests: readonly AppendRequest[]): Promise<AppendResult[]> {
    try {
      this.assertOpen();
      // While a group commit is in flight on the writer, this write goes after it, there: two connections never
      // write at once (see inTransaction), and this thread never waits for the writer's lock.
      if (this.writing.size > 0) {
        return this.appendGroupsOnWriter([requests]).then(([outcome]) => (outcome?.status === 'fulfilled' ? outcome.value : Promise.reject(outcome?.reason as Error)));
      }
      const results = this.inTransaction.immediate(requests);
      this.notify();
      return Promise.resolve(results);
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  appendGroups(groups: readonly (readonly AppendRequest[])[]): Promise<PromiseSettledResult<AppendResult[]>[]> {
    // A lone submission is written here: the thread hop costs more CPU than it frees (measured with one
    // client), and nobody else waits meanwhile. A write in flight on the writer goes first.
    if (this.writerThread && !this.closed && (groups.length > 1 || this.writing.size > 0)) return this.appendGroupsOnWriter(groups);
    return this.appendGroupsHere(groups);
  }

  /** appendGroups on the writer thread; answered once the writer's transaction is durable. */
  private appendGroupsOnWriter(groups: readonly (readonly AppendRequest[])[]): Promise<PromiseSettledResult<AppendResult[]>[]> {
    const writer = this.startWriter();
    const id = this.nextWrite++;
    return new Promise((resolve) => {
      this.writing.set(id, { groups: groups.length, resolve });
      // Keeps the process alive only while a write is in flight.
      writer.ref();
      writer.postMessage({ id, groups } satisfies WriteJob);
    });
  }

  private startWriter(): Worker {
    if (this.writer) return this.writer;
    const url = import.meta.url.endsWith('.ts') ? new URL('./sqlite-writer-boot.mjs', import.meta.url) : new URL('./sqlite-writer.js', import.meta.url);
    const writer = new Worker(url, { workerData: { sqliteWriter: this.file } });
    writer.unref();
    writer.on('message', (answer: WriteAnswer) => {
      const waiting = this.writing.get(answer.id);
      if (!waiting) return;
      this.writing.delete(answer.id);
      if (this.writing.size === 0) writer.unref();
      const outcomes = answer.outcomes.map((o): PromiseSettledResult<AppendResult[]> => (o.status === 'fulfilled' ? o : { status: 'rejected', reason: fromWire(o.reason) }));
      if (outcomes.some((o) => o.status === 'fulfilled')) this.notify();
      waiting.resolve(outcomes);
    });
    // A writer that dies takes its open transaction with it (SQLite rolls it back): its writes are refused, none half-made.
    const lost = (error?: unknown) => {
      if (this.writer !== writer) return;
      this.writer = null;
      const reason = new Error(`the event store's writer thread stopped${error instanceof Error ? `: ${error.message}` : ''}`);
      for (const waiting of this.writing.values()) waiting.resolve(Array.from({ length: waiting.groups }, () => ({ status: 'rejected' as const, reason })));
      this.writing.clear();
    };
    writer.on('error', lost);
    writer.on('exit', () => lost());
    this.writer = writer;
    return writer;
  }

  private appendGroupsHere(groups: readonly (readonly AppendRequest[])[]): Promise<PromiseSettledResult<AppendResult[]>[]> {
    try {
      this.assertOpen();
      // One transaction; each group in a savepoint of its own (a nested better-sqlite3 transaction), rolled
      // back alone when the group is refused. Anything else (I/O, a full disk) aborts the whole write. A lone
      // group needs no savepoint: its refusal rolls back the transaction, which holds nothing else.
      const outcomes: PromiseSettledResult<AppendResult[]>[] =
        groups.length === 1
          ? [refusalOrThrow(() => this.inTransaction.immediate(groups[0] as readonly AppendRequest[]))]
          : this.inTransactionEach.immediate(groups);
      if (outcomes.some((o) => o.status === 'fulfilled')) this.notify();
      return Promise.resolve(outcomes);
    } catch (error) {
      return Promise.resolve(groups.map(() => ({ status: 'rejected' as const, reason: error })));
    }
  }

  /**
   * One atomic append (inside the caller's transaction or savepoint): conditions read as the store was before it,
   * enforced only when something new is written (an exact retry is answered as before).
   */
  private appendGroup(requests: readonly AppendRequest[]): AppendResult[] {
    checkAppendShape(requests);
    const heads = requests.map((r) => (isCondition(r) ? this.headOf(r.stream) : null));
    let fresh = false;
    const results = requests.map((r, i) => {
      if (isCondition(r)) return conditionResult(r.stream, heads[i] ?? null);
      const { result, replayed } = this.appendOne(r);
      if (!replayed) fresh = true;
      return result;
    });
    if (fresh) checkConditions(requests, heads);
    return results;
  }

  private headOf(stream: string): bigint | null {
    const row = this.stmts.head.get(stream);
    return row?.revision == null ? null : BigInt(row.revision);
  }

  /** One request that writes (appendGroup checked its shape); `replayed`: an exact retry, answered, nothing written. */
  private appendOne(request: AppendRequest): { result: AppendResult; replayed: boolean } {
    const { stream, events } = request;
    const expected = request.expected ?? 'any';
    const head = this.headOf(stream);
    // An exact replay of an earlier append is answered with its result whatever revision it expects, so a
    // mismatch is a refusal only once no event of the request turns out to be recorded.
    if (!expectedHolds(expected, head)) {
      const retry = this.findRetry(stream, events);
      if (retry) return { result: retry, replayed: true };
      throw new WrongExpectedVersionError(stream, expected, head ?? 'no_stream');
    }

    const recordedAt = this.now().toISOString();
    let revision = head === null ? 0n : head + 1n;
    const positions: bigint[] = [];
    for (const e of events) {
      let info: Database.RunResult;
      try {
        info = this.stmts.insert.run(stream, revision, e.id, e.type, asBuffer(e.data), recordedAt);
      } catch (error) {
        // Ids are looked up only when one is already recorded (the UNIQUE index refused it), not for every
        // new event. An exact replay has every id recorded, so it fails at its first event, having inserted
        // nothing, and is answered with the original result; an id refused later is a reuse, refused here
        // (what this request inserted before it is rolled back with the caller's transaction or savepoint).
        if (!isReusedId(error)) throw error;
        if (positions.length === 0) return { result: this.findRetry(stream, events) ?? raise(error), replayed: true };
        throw new DuplicateEventIdError(e.id, this.stmts.byId.get(e.id)?.stream ?? stream, stream);
      }
      positions.push(BigInt(info.lastInsertRowid));
      revision++;
    }
    return { result: { stream, nextExpectedRevision: revision - 1n, position: positions[positions.length - 1] as bigint, positions }, replayed: false };
  }

  /** An exact replay of an earlier append returns the original result; a partial or altered one is refused. */
  private findRetry(stream: string, events: readonly EventData[]): AppendResult | null {
    const found = events.map((e) => this.stmts.byId.get(e.id));
    if (found.every((r) => r === undefined)) return null;
    const rows = found.filter((r): r is Row => r !== undefined);
    const first = rows[0] as Row;
    const exact =
      rows.length === events.length &&
      rows.every((r, i) => {
        const e = events[i] as EventData;
        return (
          r.stream === stream &&
          BigInt(r.revision) === BigInt(first.revision) + BigInt(i) &&
          r.type === e.type &&
          bytesEqual(r.data, e.data)
        );
      });
    if (!exact) {
      const clash = rows[0] as Row;
      throw new DuplicateEventIdError(clash.id, clash.stream, stream);
    }
    const positions = rows.map((r) => BigInt(r.position));
    const headRow = this.stmts.head.get(stream);
    return {
      stream,
      nextExpectedRevision: BigInt(headRow?.revision ?? 0),
      position: positions[positions.length - 1] as bigint,
      positions,
    };
  }

  readStream(stream: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    this.assertOpen();
    const { maxCount } = options;
    const rows =
      options.direction === 'backwards'
        ? this.stmts.readStreamBackwards.limit(maxCount ?? UNLIMITED).all(stream, options.fromRevision ?? INT64_MAX)
        : this.stmts.readStream.limit(maxCount ?? UNLIMITED).all(stream, options.fromRevision ?? 0n);
    return Promise.resolve(rows.map(toRecorded));
  }

  readStreams(streams: readonly string[]): Promise<Map<string, RecordedEvent[]>> {
    this.assertOpen();
    const found = new Map<string, RecordedEvent[]>();
    for (const row of this.stmts.readStreams.all(JSON.stringify(streams))) {
      let events = found.get(row.stream);
      if (!events) found.set(row.stream, (events = []));
      events.push(toRecorded(row));
    }
    return Promise.resolve(found);
  }

  readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    this.assertOpen();
    return Promise.resolve(this.readAllSync(options.after ?? -1n, options.maxCount ?? 1000));
  }

  private readAllSync(after: bigint, maxCount: number): RecordedEvent[] {
    return this.stmts.readAll.limit(maxCount).all(after).map(toRecorded);
  }

  /** The rows come back as the events themselves (columns named as ReplayedEvent's members, safe integers). */
  private replayStatement: LimitedStatement<[bigint], ReplayedEvent> | null = null;

  readAllForReplay(options: ReadAllOptions = {}): Promise<ReplayedEvent[]> {
    this.assertOpen();
    this.replayStatement ??= new LimitedStatement(this.db, 'SELECT stream, revision, position, CAST(data AS BLOB) AS data FROM events WHERE position > ? ORDER BY position');
    return Promise.resolve(this.replayStatement.limit(options.maxCount ?? 1000).all(options.after ?? -1n));
  }

  headPosition(): Promise<bigint> {
    this.assertOpen();
    const p = this.stmts.headPosition.get()?.p;
    return Promise.resolve(p == null ? -1n : BigInt(p));
  }

  subscribeToAll(options: { after?: bigint } = {}): Subscription {
    let after = options.after ?? -1n;
    let active = true;
    let wake: (() => void) | null = null;
    const waiters = this.waiters;
    const pollIntervalMs = this.pollIntervalMs;
    const isOpen = () => !this.closed;
    const readBatch = (from: bigint) => this.readAllSync(from, 500);
    const waitForMore = () =>
      new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          waiters.delete(done);
          wake = null;
          resolve();
        };
        const timer = setTimeout(done, pollIntervalMs);
        wake = done;
        waiters.add(done);
      });
    async function* iterate(): AsyncGenerator<RecordedEvent> {
      while (active && isOpen()) {
        const batch = readBatch(after);
        for (const event of batch) {
          if (!active) return;
          after = event.position;
          yield event;
        }
        if (batch.length === 0) await waitForMore();
      }
    }
    const iterator = iterate();
    return {
      [Symbol.asyncIterator]: () => iterator,
      close: async () => {
        active = false;
        (wake as (() => void) | null)?.();
        await iterator.return(undefined);
      },
    };
  }

  /**
   * Calls `listener` after every append this process commits (any writer: group commits, appendToStream),
   * once per transaction, with nothing read back; returns the unsubscribe. For the single process that owns
   * the file (the data directory lock): another process's appends are not heard, subscribeToAll polls for those.
   */
  onAppended(listener: () => void): () => void {
    this.appendListeners.add(listener);
    return () => void this.appendListeners.delete(listener);
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
    if (!this.closed) for (const listener of [...this.appendListeners]) listener();
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('event store is closed');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const writer = this.writer;
    if (writer) {
      // Writes in flight are answered first: each is durable or refused, never dropped.
      while (this.writing.size > 0 && this.writer === writer) {
        await new Promise((resolve) => {
          writer.once('message', resolve);
          writer.once('exit', resolve);
        });
      }
      this.writer = null;
      await writer.terminate();
    }
    this.notify();
    this.db.close();
  }
}

const INT64_MAX = 2n ** 63n - 1n;
/** A read that asked for no bound (SQLite's LIMIT -1 is none). */
const UNLIMITED = -1;

/**
 * One query prepared once per LIMIT it is run with, the limit written into the SQL. A bound LIMIT (`LIMIT ?`)
 * re-prepares the statement on every run: this SQLite plans with a bound LIMIT's value and so marks the
 * statement expired whenever the parameter is bound, which better-sqlite3 does on each call (measured: 7.0
 * against 4.2 µs for a one-row read, and a tenth of the live read-model pass's CPU was sqlite3Reprepare, perf).
 * Limits are few in practice (1, the caller's page sizes, a slice sizer's steps); the least recently used of
 * more than MAX_LIMITS is dropped, its next use costing one prepare, as every use did before.
 */
class LimitedStatement<P extends unknown[], R> {
  private static readonly MAX_LIMITS = 16;
  private readonly byLimit = new Map<number, Database.Statement<P, R>>();

  constructor(
    private readonly db: Database.Database,
    private readonly sql: string,
  ) {}

  limit(n: number): Database.Statement<P, R> {
    // Written into SQL: only a whole number ever is. Any negative one is no bound, as SQLite reads a bound LIMIT.
    if (!Number.isSafeInteger(n)) throw new TypeError(`a read's maxCount must be a whole number of events, not ${String(n)}`);
    if (n < 0) n = UNLIMITED;
    let statement = this.byLimit.get(n);
    if (statement) {
      // Most recently used last: Map keeps insertion order.
      this.byLimit.delete(n);
    } else {
      statement = this.db.prepare(`${this.sql} LIMIT ${n}`) as Database.Statement<P, R>;
      if (this.byLimit.size >= LimitedStatement.MAX_LIMITS) this.byLimit.delete(this.byLimit.keys().next().value as number);
    }
    this.byLimit.set(n, statement);
    return statement;
  }
}

function raise(error: unknown): never {
  throw error;
}

/** The insert's refusal of an event id already recorded (events.id is UNIQUE). */
function isReusedId(error: unknown): boolean {
  return error instanceof Database.SqliteError && error.code === 'SQLITE_CONSTRAINT_UNIQUE' && error.message.includes('events.id');
}

/** The store's refusals of one group, as its outcome; anything else (I/O, a closed store) is thrown on. */
function refusalOrThrow(write: () => AppendResult[]): PromiseSettledResult<AppendResult[]> {
  try {
    return { status: 'fulfilled', value: write() };
  } catch (error) {
    if (error instanceof WrongExpectedVersionError || error instanceof DuplicateEventIdError || error instanceof TypeError) return { status: 'rejected', reason: error };
    throw error;
  }
}

/** The bytes as a Buffer over the same memory (better-sqlite3 binds Buffers): no copy of the envelope. */
function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

function toRecorded(r: Row): RecordedEvent {
  return {
    id: r.id,
    type: r.type,
    stream: r.stream,
    revision: BigInt(r.revision),
    position: BigInt(r.position),
    // A cell edited outside the ledger can hold TEXT (`data || ' '` is a string in SQLite): its bytes are its
    // UTF-8, as readAllForReplay's CAST reads them, so every read path hashes the same bytes.
    data: typeof r.data === 'string' ? new Uint8Array(Buffer.from(r.data as string, 'utf8')) : new Uint8Array(r.data),
    recordedAt: r.recorded_at,
  };
}
