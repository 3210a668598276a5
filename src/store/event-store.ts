/**
 * The event store port, shaped after EventStoreDB/KurrentDB semantics so that adapters are interchangeable:
 * streams with 0-based revisions, one global commit order ($all) with monotonically increasing positions,
 * optimistic concurrency through an expected stream state, idempotent appends by event id, and a live
 * subscription to $all. Every adapter must pass test/store-contract.ts.
 */

export type ExpectedRevision = 'any' | 'no_stream' | 'stream_exists' | bigint;

export interface EventData {
  /**
   * UUID chosen by the writer, unique across the whole store: appending the same events again to the same
   * stream is a no-op (a retry); the same id in another stream, or with other content, is refused.
   */
  readonly id: string;
  readonly type: string;
  /** Stored and returned byte for byte. */
  readonly data: Uint8Array;
}

export interface RecordedEvent {
  readonly id: string;
  readonly type: string;
  readonly stream: string;
  /** 0-based position within the stream. */
  readonly revision: bigint;
  /** Position in $all: strictly increasing in commit order. */
  readonly position: bigint;
  readonly data: Uint8Array;
  /** Server time of the commit (ISO-8601 UTC). Informational; events carry their own signed time. */
  readonly recordedAt: string;
}

/**
 * One stream's part of an atomic append. A request with no events is a **condition**: it writes nothing and
 * holds the whole append to `expected` for that stream, as the store was before the append (e.g. "the
 * key-rotation stream is still at revision 3" for a record signed by the key that revision put in force). A
 * condition needs a concrete `expected` (not 'any') and at least one request of the append that writes; an exact
 * retry of an append whose writes are all already recorded is answered as before, conditions unchecked (they
 * held when it was written). Its result has no positions and `position` -1.
 */
export interface AppendRequest {
  readonly stream: string;
  readonly events: readonly EventData[];
  readonly expected?: ExpectedRevision;
}

export const isCondition = (request: AppendRequest): boolean => request.events.length === 0;

/** The shape rules every adapter applies before any I/O (TypeError: a programming error, whatever the store holds). */
export function checkAppendShape(requests: readonly AppendRequest[]): void {
  if (requests.length === 0 || requests.every(isCondition)) throw new TypeError('an append needs at least one event');
  for (const r of requests) {
    if (isCondition(r) && (r.expected === undefined || r.expected === 'any')) throw new TypeError(`a condition on ${r.stream} (a request with no events) needs an expected revision other than 'any'`);
    if (new Set(r.events.map((e) => e.id)).size !== r.events.length) throw new TypeError('an append repeats an event id');
  }
}

/** Whether `expected` holds for a stream whose last revision is `head` (null: no stream). */
export function expectedHolds(expected: ExpectedRevision, head: bigint | null): boolean {
  return expected === 'any' || (expected === 'no_stream' && head === null) || (expected === 'stream_exists' && head !== null) || (typeof expected === 'bigint' && head === expected);
}

/** WrongExpectedVersionError unless `expected` holds for a stream whose last revision is `head` (null: no stream). */
export function checkExpected(stream: string, expected: ExpectedRevision, head: bigint | null): void {
  if (!expectedHolds(expected, head)) throw new WrongExpectedVersionError(stream, expected, head ?? 'no_stream');
}

/** An append's conditions against `heads`, their streams' heads as read before it (`heads[i]` for request i). */
export function checkConditions(requests: readonly AppendRequest[], heads: readonly (bigint | null)[]): void {
  for (const [i, r] of requests.entries()) if (isCondition(r)) checkExpected(r.stream, r.expected ?? 'any', heads[i] ?? null);
}

/** What a condition answers once it held: the stream's head, nothing written. */
export function conditionResult(stream: string, head: bigint | null): AppendResult {
  return { stream, nextExpectedRevision: head ?? -1n, position: -1n, positions: [] };
}

export interface AppendResult {
  readonly stream: string;
  /** Revision of the last event now in the stream. */
  readonly nextExpectedRevision: bigint;
  /** $all position of the last event written (or found, for an idempotent retry). */
  readonly position: bigint;
  /** Positions of each event of the request, in order. */
  readonly positions: readonly bigint[];
}

export interface ReadStreamOptions {
  /**
   * 'forwards' (the default) reads in increasing revision order from `fromRevision` (default: the first
   * event); 'backwards' reads in decreasing order from `fromRevision` (default: the last event), so
   * `{ direction: 'backwards', maxCount: 1 }` is the head of the stream. As in KurrentDB.
   */
  readonly direction?: 'forwards' | 'backwards';
  /** Inclusive: the first revision read. */
  readonly fromRevision?: bigint;
  readonly maxCount?: number;
}

export interface ReadAllOptions {
  /** Exclusive: events strictly after this position. Defaults to the start of the log. */
  readonly after?: bigint;
  readonly maxCount?: number;
}

/** An event of $all as a replay of the whole log reads it (a projection rebuild): no id, type or commit time. */
export type ReplayedEvent = Pick<RecordedEvent, 'stream' | 'revision' | 'position' | 'data'>;

export interface Subscription extends AsyncIterable<RecordedEvent> {
  close(): Promise<void>;
}

export interface EventStore {
  appendToStream(stream: string, events: readonly EventData[], options?: { expected?: ExpectedRevision }): Promise<AppendResult>;
  /** Atomic across streams: either every request is written or none (KurrentDB ≥ 25.1 multi-stream append). */
  appendToStreams(requests: readonly AppendRequest[]): Promise<AppendResult[]>;
  /**
   * Group commit: several independent appendToStreams() calls in one durable write where the store can (one
   * transaction and one fsync on SQLite and PostgreSQL). Each group is atomic and is refused on its own
   * (wrong expected revision, reused id, empty) without affecting the others; groups apply in order, so a
   * later group sees what the earlier accepted ones wrote. Outcomes come in the groups' order. A failure of
   * the store itself (I/O, connection) rejects every group.
   */
  appendGroups(groups: readonly (readonly AppendRequest[])[]): Promise<PromiseSettledResult<AppendResult[]>[]>;
  /** Events of one stream in the requested direction (revision order by default); empty when the stream does not exist. */
  readStream(stream: string, options?: ReadStreamOptions): Promise<RecordedEvent[]>;
  /**
   * Every event of each named stream, in revision order, in one read where the store can (a batch deciding a
   * hundred new streams reads them together); a stream that does not exist is absent from the map. Optional:
   * without it, callers read stream by stream.
   */
  readStreams?(streams: readonly string[]): Promise<Map<string, RecordedEvent[]>>;
  /** Events of every stream in commit order. */
  readAll(options?: ReadAllOptions): Promise<RecordedEvent[]>;
  /**
   * Optional: readAll() with only what a replay reads, where the store can read less (SQLite: four columns,
   * the bytes not copied; about half readAll's cost per event). `data` may be a Buffer. Readers fall back
   * to readAll() without it.
   */
  readAllForReplay?(options?: ReadAllOptions): Promise<ReplayedEvent[]>;
  /** Catch-up then live subscription to $all, strictly after `after`. */
  subscribeToAll(options?: { after?: bigint }): Subscription;
  /** Position of the last committed event, or -1n for an empty store. */
  headPosition(): Promise<bigint>;
  close(): Promise<void>;
}

export class WrongExpectedVersionError extends Error {
  override readonly name = 'WrongExpectedVersionError';
  constructor(
    readonly stream: string,
    readonly expected: ExpectedRevision,
    readonly actual: bigint | 'no_stream',
  ) {
    super(`stream ${stream}: expected ${String(expected)}, actual ${String(actual)}`);
  }
}

/**
 * The store cannot be reached (connection refused or lost, server restarting). Whether an append in
 * flight was written is unknown: retrying it unchanged is safe, as an exact retry is answered idempotently.
 */
export class EventStoreUnavailableError extends Error {
  override readonly name: string = 'EventStoreUnavailableError';
}

/** An event id already present, but not as an exact retry of the same append. Nothing was written. */
export class DuplicateEventIdError extends Error {
  override readonly name = 'DuplicateEventIdError';
  constructor(
    readonly eventId: string,
    /** The stream that already holds the id. */
    readonly stream: string,
    /** The stream the refused append was for (the same stream when only the content differs). */
    readonly attemptedStream: string,
  ) {
    super(`event id ${eventId} is already recorded in stream ${stream}${attemptedStream === stream ? ' with other content' : ''}; refused for stream ${attemptedStream}`);
  }
}
