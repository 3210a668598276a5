/**
 * The event store on PostgreSQL (14 or later), through node-postgres (`pg`), behind the same port as the
 * embedded store and held to the same contract suite (test/postgres-event-store.int.test.ts).
 *
 * Global order without skipped events. Every append transaction first takes the ledger's one
 * transaction-scoped advisory lock (pg_advisory_xact_lock), then reads the stream heads and event ids it
 * needs, assigns $all positions last+1, last+2, … inside the lock, inserts and commits. PostgreSQL makes a
 * commit visible to new snapshots before it releases the transaction's locks (CommitTransaction:
 * RecordTransactionCommit, ProcArrayEndTransaction, then the lock release), so the writer after us assigns
 * N+1 only once N is visible: a reader of `position > p ORDER BY position` can never see N+1 while N is in
 * flight. That is the trap of positions from a sequence or an identity column (two transactions draw N and
 * N+1 and commit in the other order, a reader catching up in between skips N for ever), which Marten
 * documents as skipped events and Message DB as category gaps. Positions have no gaps either.
 *
 * The cost is one writer at a time per ledger (measured here: about 1.4k commits/s, one fsync each, however
 * many clients). Throughput therefore comes from putting many submissions into one transaction, not from
 * concurrent transactions: appendGroups() takes independent groups (each atomic on its own, each failing
 * alone) and writes them all under one lock, one INSERT and one commit: group commit.
 *
 * Live subscriptions: each commit sends NOTIFY (delivered at commit, never for a rolled-back append); a
 * subscriber LISTENs on a session of its own, and reads $all from its last position whenever woken, with a
 * slow poll as the fallback for a notification lost with a dropped connection.
 *
 * Append-only in the database: triggers refuse UPDATE, DELETE and TRUNCATE of events whoever asks, and the
 * privileges to do them are revoked from PUBLIC and from the owner. A database superuser can still drop the
 * triggers: against that insider the signed checkpoints are the defence (the edited log no longer
 * reproduces them), as with the SQLite file.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import {
  DuplicateEventIdError,
  EventStoreUnavailableError,
  checkAppendShape,
  checkConditions,
  checkExpected,
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
  type Subscription,
} from './event-store.ts';
import { bytesEqual } from '../crypto/encoding.ts';

export const POSTGRES_STORE_FORMAT = 'flashtrail-events-v1';
export const DEFAULT_POSTGRES_SCHEMA = 'flashtrail';

export interface PostgresEventStoreOptions {
  /** The schema holding this ledger's tables: one database can hold several ledgers. */
  readonly schema?: string;
  /** Clock for recordedAt; injected so tests can pin it. */
  readonly now?: () => Date;
  /** How often a subscription reads $all when no notification came (a lost NOTIFY), in ms. */
  readonly pollIntervalMs?: number;
  /** Connections in the pool (appends use one at a time; reads the others). */
  readonly poolSize?: number;
}

/**
 * The server cannot be reached or refuses the connection (refused, unknown host, bad password, no such
 * database): an operator's problem, told in one line naming the server without its password.
 */
export class PostgresUnavailableError extends EventStoreUnavailableError {
  override readonly name: string = 'PostgresUnavailableError';
}

/** Where a connection string points, without its password: for messages and logs. */
export function describePostgresUrl(connectionString: string): string {
  try {
    const url = new URL(connectionString);
    url.password = '';
    return `${url.username ? `${url.username}@` : ''}${url.host}${url.pathname}`;
  } catch {
    return 'the configured server';
  }
}

const CONNECTION_ERRNO = new Set(['ECONNREFUSED', 'ENOTFOUND', 'ETIMEDOUT', 'EHOSTUNREACH', 'ECONNRESET', 'EAI_AGAIN']);

/** SQLSTATE classes 08 (connection), 28 (authorisation), 3D000 (no such database), 57P03 (starting up). */
function isUnavailable(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  if (typeof code !== 'string') return /Connection terminated/.test(String((error as Error).message));
  return CONNECTION_ERRNO.has(code) || code.startsWith('08') || code.startsWith('28') || code === '3D000' || code === '57P03';
}

/** The ledger's tables are of a format this version does not know; nothing was changed. */
export class PostgresStoreFormatError extends Error {
  override readonly name = 'PostgresStoreFormatError';
}

/**
 * A stable 64-bit advisory lock key for one purpose in one schema: the first 8 bytes of
 * SHA-256("flashtrail:<schema>:<purpose>") as a signed integer (what pg_advisory_lock(bigint) takes).
 */
export function advisoryLockKey(schema: string, purpose: string): bigint {
  const digest = createHash('sha256').update(`flashtrail:${schema}:${purpose}`).digest();
  return digest.readBigInt64BE(0);
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,39}$/;

interface EventRow {
  position: string;
  stream: string;
  revision: string;
  id: string;
  type: string;
  data: Buffer;
  recorded_at: string;
}

const INT64_MAX = 2n ** 63n - 1n;

export class PostgresEventStore implements EventStore {
  readonly pool: pg.Pool;
  readonly schema: string;
  private readonly now: () => Date;
  private readonly pollIntervalMs: number;
  private readonly appendLockKey: bigint;
  private readonly channel: string;
  private readonly waiters = new Set<() => void>();
  private readonly listener: Listener;
  private ready: Promise<void> | null = null;
  private closed = false;

  constructor(
    readonly connectionString: string,
    options: PostgresEventStoreOptions = {},
  ) {
    this.schema = options.schema ?? DEFAULT_POSTGRES_SCHEMA;
    if (!SCHEMA_NAME.test(this.schema)) throw new TypeError(`PostgreSQL schema ${this.schema} must match ${SCHEMA_NAME.source}`);
    this.now = options.now ?? (() => new Date());
    this.pollIntervalMs = options.pollIntervalMs ?? 1000;
    this.appendLockKey = advisoryLockKey(this.schema, 'append');
    this.channel = `flashtrail_events_${this.schema}`;
    this.pool = new pg.Pool({ connectionString, max: options.poolSize ?? 10, application_name: 'flashtrail' });
    // An idle connection the server dropped is reported here; the next query gets a fresh one (or the error).
    this.pool.on('error', () => undefined);
    this.listener = new Listener(connectionString);
    this.listener.on(this.channel, () => this.wakeAll());
  }

  /** `"schema"."name"`, for the tables of this ledger. */
  table(name: string): string {
    return `${pg.escapeIdentifier(this.schema)}.${pg.escapeIdentifier(name)}`;
  }

  /** Creates the tables on first use (once, under a lock, however many instances start together). */
  ensureSchema(): Promise<void> {
    this.ready ??= this.createSchema().catch((error: unknown) => {
      this.ready = null;
      throw this.unavailable(error);
    });
    return this.ready;
  }

  /** A connection failure as the port's EventStoreUnavailableError (naming the server, not its password); other errors as they are. */
  private unavailable(error: unknown): unknown {
    if (!isUnavailable(error) || error instanceof PostgresUnavailableError) return error;
    return new PostgresUnavailableError(`cannot reach the event store (PostgreSQL at ${describePostgresUrl(this.connectionString)}): ${(error as Error).message}`);
  }

  /** A query on the pool, with connection failures reported as the port's unavailable error. */
  private async query<R extends pg.QueryResultRow>(sql: string, values: unknown[]): Promise<pg.QueryResult<R>> {
    await this.ensureSchema();
    try {
      return await this.pool.query<R>(sql, values);
    } catch (error) {
      throw this.unavailable(error);
    }
  }

  private async createSchema(): Promise<void> {
    const s = pg.escapeIdentifier(this.schema);
    const events = this.table('events');
    const meta = this.table('store_meta');
    await this.transaction(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1)', [advisoryLockKey(this.schema, 'schema')]);
      // A ledger role without CREATE rights can use tables its DBA created: no DDL once they exist.
      const exists = await c.query<{ t: string | null }>('SELECT to_regclass($1) AS t', [meta]);
      const found = exists.rows[0]?.t ? await c.query<{ value: string }>(`SELECT value FROM ${meta} WHERE key = 'format'`) : null;
      const format = found?.rows[0]?.value;
      if (format === POSTGRES_STORE_FORMAT) return;
      if (format !== undefined) throw new PostgresStoreFormatError(`schema ${this.schema} holds flashtrail events of format ${format}, not ${POSTGRES_STORE_FORMAT}; nothing was changed`);
      await c.query(`
        CREATE SCHEMA IF NOT EXISTS ${s};
        CREATE TABLE IF NOT EXISTS ${meta} (key text PRIMARY KEY, value text NOT NULL);
        CREATE TABLE IF NOT EXISTS ${events} (
          position    bigint PRIMARY KEY CHECK (position > 0),
          stream      text   NOT NULL,
          revision    bigint NOT NULL CHECK (revision >= 0),
          id          text   NOT NULL UNIQUE,
          type        text   NOT NULL,
          data        bytea  NOT NULL,
          recorded_at text   NOT NULL,
          UNIQUE (stream, revision)
        );
        CREATE OR REPLACE FUNCTION ${s}.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN RAISE EXCEPTION 'flashtrail: % on %.% refused: the table is append-only', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege'; END $$;
        CREATE OR REPLACE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON ${events} FOR EACH ROW EXECUTE FUNCTION ${s}.refuse_change();
        CREATE OR REPLACE TRIGGER events_no_truncate BEFORE TRUNCATE ON ${events} FOR EACH STATEMENT EXECUTE FUNCTION ${s}.refuse_change();
        REVOKE UPDATE, DELETE, TRUNCATE ON ${events} FROM PUBLIC, CURRENT_USER;
      `);
      await c.query(`INSERT INTO ${meta} (key, value) VALUES ('format', $1) ON CONFLICT (key) DO NOTHING`, [POSTGRES_STORE_FORMAT]);
    });
  }

  /** Runs `body` in one transaction on one pooled connection; rolls back on any error. */
  async transaction<T>(body: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken: unknown = undefined;
    // A checked-out client has no listener of the pool's: a connection lost between two statements would be
    // an unhandled 'error' event (and end the process). The statement in flight fails instead.
    const onError = (error: Error) => (broken ??= error);
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      const result = await body(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch((rollbackError: unknown) => (broken = rollbackError));
      throw error;
    } finally {
      client.removeListener('error', onError);
      // A connection whose ROLLBACK failed (or that reported an error) is in an unknown state: closed, not reused.
      client.release(broken as Error | undefined);
    }
  }

  appendToStream(stream: string, events: readonly EventData[], options: { expected?: ExpectedRevision } = {}): Promise<AppendResult> {
    return this.appendToStreams([{ stream, events, expected: options.expected ?? 'any' }]).then((r) => r[0] as AppendResult);
  }

  async appendToStreams(requests: readonly AppendRequest[]): Promise<AppendResult[]> {
    const [outcome] = await this.appendGroups([requests]);
    if (!outcome) throw new Error('appendGroups answered no outcome');
    if (outcome.status === 'rejected') throw outcome.reason;
    return outcome.value;
  }

  /**
   * Group commit: several independent appends in one transaction. Each group is atomic (all its requests
   * or none) and is refused on its own (wrong expected revision, reused id) without affecting the others;
   * a later group sees the streams as the earlier accepted groups left them. Everything accepted is
   * durable when the promise resolves. A database failure (connection lost, commit failed) rejects every
   * group: an exact retry of the same events is then answered idempotently, whether or not they landed.
   */
  async appendGroups(groups: readonly (readonly AppendRequest[])[]): Promise<PromiseSettledResult<AppendResult[]>[]> {
    this.assertOpen();
    const outcomes: (PromiseSettledResult<AppendResult[]> | null)[] = groups.map((requests) => {
      try {
        checkAppendShape(requests);
        return null;
      } catch (error) {
        return { status: 'rejected', reason: error };
      }
    });
    const pending = groups.map((g, i) => ({ g, i })).filter(({ i }) => outcomes[i] === null);
    if (pending.length === 0) return outcomes as PromiseSettledResult<AppendResult[]>[];
    const events = this.table('events');
    let lastPosition: bigint | null = null;
    try {
      await this.ensureSchema();
      await this.transaction(async (c) => {
        await c.query('SELECT pg_advisory_xact_lock($1)', [this.appendLockKey]);
        const ids = [...new Set(pending.flatMap(({ g }) => g.flatMap((r) => r.events.map((e) => e.id))))];
        const streams = [...new Set(pending.flatMap(({ g }) => g.map((r) => r.stream)))];
        const [found, heads, last] = [
          await c.query<EventRow>(`SELECT position, stream, revision, id, type, data FROM ${events} WHERE id = ANY($1::text[])`, [ids]),
          await c.query<{ stream: string; head: string }>(`SELECT stream, max(revision) AS head FROM ${events} WHERE stream = ANY($1::text[]) GROUP BY stream`, [streams]),
          await c.query<{ p: string | null }>(`SELECT max(position) AS p FROM ${events}`),
        ];
        const state = new BatchState(
          new Map(heads.rows.map((r) => [r.stream, BigInt(r.head)])),
          new Map(found.rows.map((r) => [r.id, { stream: r.stream, revision: BigInt(r.revision), type: r.type, data: r.data, position: BigInt(r.position) }])),
          BigInt(last.rows[0]?.p ?? 0),
        );
        for (const { g, i } of pending) {
          try {
            outcomes[i] = { status: 'fulfilled', value: state.tryGroup(g) };
          } catch (error) {
            outcomes[i] = { status: 'rejected', reason: error };
          }
        }
        const rows = state.rows;
        if (rows.length === 0) return;
        const recordedAt = this.now().toISOString();
        await c.query(
          `INSERT INTO ${events} (position, stream, revision, id, type, data, recorded_at)
           SELECT p, s, r, i, t, d, $7 FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::bytea[]) AS u(p, s, r, i, t, d)`,
          [rows.map((r) => r.position.toString()), rows.map((r) => r.stream), rows.map((r) => r.revision.toString()), rows.map((r) => r.id), rows.map((r) => r.type), rows.map((r) => Buffer.from(r.data)), recordedAt],
        );
        lastPosition = (rows[rows.length - 1] as NewRow).position;
        await c.query('SELECT pg_notify($1, $2)', [this.channel, String(lastPosition)]);
      });
    } catch (error) {
      const reason = this.unavailable(error);
      return outcomes.map((o) => (o?.status === 'rejected' ? o : { status: 'rejected', reason }));
    }
    if (lastPosition !== null) this.wakeAll();
    return outcomes as PromiseSettledResult<AppendResult[]>[];
  }

  async readStream(stream: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    this.assertOpen();
    const events = this.table('events');
    const limit = options.maxCount ?? null;
    const { rows } =
      options.direction === 'backwards'
        ? await this.query<EventRow>(`SELECT * FROM ${events} WHERE stream = $1 AND revision <= $2 ORDER BY revision DESC LIMIT $3`, [stream, (options.fromRevision ?? INT64_MAX).toString(), limit])
        : await this.query<EventRow>(`SELECT * FROM ${events} WHERE stream = $1 AND revision >= $2 ORDER BY revision LIMIT $3`, [stream, (options.fromRevision ?? 0n).toString(), limit]);
    return rows.map(toRecorded);
  }

  /** One statement for all the streams a batch decides (the SQLite adapter's readStreams, as a text[] parameter). */
  async readStreams(streams: readonly string[]): Promise<Map<string, RecordedEvent[]>> {
    this.assertOpen();
    const found = new Map<string, RecordedEvent[]>();
    if (streams.length === 0) return found;
    const { rows } = await this.query<EventRow>(`SELECT * FROM ${this.table('events')} WHERE stream = ANY($1::text[]) ORDER BY stream, revision`, [[...streams]]);
    for (const row of rows) {
      let events = found.get(row.stream);
      if (!events) found.set(row.stream, (events = []));
      events.push(toRecorded(row));
    }
    return found;
  }

  async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    this.assertOpen();
    const { rows } = await this.query<EventRow>(`SELECT * FROM ${this.table('events')} WHERE position > $1 ORDER BY position LIMIT $2`, [
      (options.after ?? -1n).toString(),
      options.maxCount ?? 1000,
    ]);
    return rows.map(toRecorded);
  }

  async headPosition(): Promise<bigint> {
    this.assertOpen();
    const { rows } = await this.query<{ p: string | null }>(`SELECT max(position) AS p FROM ${this.table('events')}`, []);
    const p = rows[0]?.p ?? null;
    return p === null ? -1n : BigInt(p);
  }

  subscribeToAll(options: { after?: bigint } = {}): Subscription {
    let after = options.after ?? -1n;
    let active = true;
    let wake: (() => void) | null = null;
    const waitForMore = () =>
      new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.waiters.delete(done);
          wake = null;
          resolve();
        };
        const timer = setTimeout(done, this.pollIntervalMs);
        wake = done;
        this.waiters.add(done);
      });
    const startListening = () => this.listener.start().catch(() => undefined);
    const isOpen = () => !this.closed;
    const readBatch = (from: bigint) => this.readAll({ after: from, maxCount: 500 });
    async function* iterate(): AsyncGenerator<RecordedEvent> {
      // LISTEN before the first read: nothing committed between the read and the wait goes unnoticed.
      await startListening();
      while (active && isOpen()) {
        // A server restart or a dropped connection is waited out, as KurrentDB's client does: the
        // subscription resumes from its last position once the server answers again.
        const batch = await readBatch(after).catch(async (error: unknown) => {
          if (!(error instanceof PostgresUnavailableError) || !isOpen()) throw error;
          await waitForMore();
          return [];
        });
        for (const event of batch) {
          if (!active) return;
          after = event.position;
          yield event;
        }
        if (batch.length === 0 && active) await waitForMore();
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

  /** Calls `handler` with the payload of every NOTIFY on `channel` (one listening session per store). */
  onNotification(channel: string, handler: (payload: string) => void): () => void {
    const off = this.listener.on(channel, handler);
    void this.listener.start().catch(() => undefined);
    return off;
  }

  private wakeAll(): void {
    for (const w of [...this.waiters]) w();
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('event store is closed');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.wakeAll();
    await this.listener.close();
    await this.pool.end();
  }
}

interface StoredId {
  readonly stream: string;
  readonly revision: bigint;
  readonly type: string;
  readonly data: Uint8Array;
  readonly position: bigint;
}

interface NewRow extends StoredId {
  readonly id: string;
}

/**
 * What one append transaction knows, under the lock: the heads of the streams it touches, the rows of the
 * ids it carries, the last position. Each group is tried against it and applied only if it succeeds
 * whole, the same rules as the embedded store: an exact retry answers the original positions; any other
 * use of a recorded id is refused; the expected revision must hold.
 */
class BatchState {
  readonly rows: NewRow[] = [];

  constructor(
    private readonly heads: Map<string, bigint>,
    private readonly byId: Map<string, StoredId>,
    private last: bigint,
  ) {}

  tryGroup(requests: readonly AppendRequest[]): AppendResult[] {
    const heads = new Map<string, bigint>();
    const ids = new Map<string, StoredId>();
    const rows: NewRow[] = [];
    let last = this.last;
    const head = (stream: string) => heads.get(stream) ?? this.heads.get(stream) ?? null;
    const recorded = (id: string) => ids.get(id) ?? this.byId.get(id);
    // Conditions read the streams as they were before this group (event-store.ts AppendRequest).
    const before = requests.map((r) => (isCondition(r) ? head(r.stream) : null));
    let fresh = false;
    const results = requests.map((request, index): AppendResult => {
      const { stream, events } = request;
      if (isCondition(request)) return conditionResult(stream, before[index] ?? null);
      const found = events.map((e) => recorded(e.id));
      if (found.some((f) => f !== undefined)) {
        const first = found[0];
        const exact =
          first !== undefined &&
          found.every((f, i) => {
            const e = events[i] as EventData;
            return f !== undefined && f.stream === stream && f.revision === first.revision + BigInt(i) && f.type === e.type && bytesEqual(f.data, e.data);
          });
        if (!exact) {
          const clash = found.find((f) => f !== undefined) as StoredId;
          const clashId = (events[found.indexOf(clash)] as EventData).id;
          throw new DuplicateEventIdError(clashId, clash.stream, stream);
        }
        const positions = found.map((f) => (f as StoredId).position);
        return { stream, nextExpectedRevision: head(stream) ?? 0n, position: positions[positions.length - 1] as bigint, positions };
      }
      const current = head(stream);
      checkExpected(stream, request.expected ?? 'any', current);
      fresh = true;
      let revision = current === null ? 0n : current + 1n;
      const positions: bigint[] = [];
      for (const e of events) {
        last++;
        const row = { id: e.id, stream, revision, type: e.type, data: e.data, position: last };
        rows.push(row);
        ids.set(e.id, row);
        positions.push(last);
        revision++;
      }
      heads.set(stream, revision - 1n);
      return { stream, nextExpectedRevision: revision - 1n, position: last, positions };
    });
    if (fresh) checkConditions(requests, before);
    for (const [k, v] of heads) this.heads.set(k, v);
    for (const [k, v] of ids) this.byId.set(k, v);
    this.rows.push(...rows);
    this.last = last;
    return results;
  }
}

function toRecorded(r: EventRow): RecordedEvent {
  return {
    id: r.id,
    type: r.type,
    stream: r.stream,
    revision: BigInt(r.revision),
    position: BigInt(r.position),
    data: new Uint8Array(r.data),
    recordedAt: r.recorded_at,
  };
}

/**
 * One session that LISTENs on the channels asked for, started on first use and restarted a second after it
 * drops (readers fall back to polling meanwhile, and are woken once it is back, to catch up on what they
 * missed). Payloads go to every handler of the channel.
 */
class Listener {
  private readonly handlers = new Map<string, Set<(payload: string) => void>>();
  private client: pg.Client | null = null;
  private starting: Promise<void> | null = null;
  private restartTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(private readonly connectionString: string) {}

  on(channel: string, handler: (payload: string) => void): () => void {
    const set = this.handlers.get(channel) ?? new Set();
    const added = !this.handlers.has(channel);
    set.add(handler);
    this.handlers.set(channel, set);
    if (added && this.client) void this.client.query(`LISTEN ${pg.escapeIdentifier(channel)}`).catch(() => undefined);
    return () => set.delete(handler);
  }

  start(): Promise<void> {
    if (this.closed || this.client) return Promise.resolve();
    this.starting ??= (async () => {
      const client = new pg.Client({ connectionString: this.connectionString, application_name: 'flashtrail listener' });
      const drop = () => {
        const wasListening = this.client === client;
        if (wasListening) this.client = null;
        this.starting = null;
        if (wasListening) this.restartLater();
      };
      client.on('error', drop);
      client.on('end', drop);
      client.on('notification', (n) => {
        for (const h of this.handlers.get(n.channel) ?? []) h(n.payload ?? '');
      });
      try {
        await client.connect();
        for (const channel of this.handlers.keys()) await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
      } catch (error) {
        drop();
        await client.end().catch(() => undefined);
        this.restartLater();
        throw error;
      }
      if (this.closed) {
        await client.end().catch(() => undefined);
        return;
      }
      this.client = client;
      // Whatever was notified before LISTEN took effect is found by the reader's catch-up read.
      for (const set of this.handlers.values()) for (const h of set) h('');
    })();
    return this.starting;
  }

  private restartLater(): void {
    if (this.closed || this.restartTimer) return;
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      void this.start().catch(() => undefined);
    }, 1000);
    this.restartTimer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    await this.starting?.catch(() => undefined);
    const client = this.client;
    this.client = null;
    await client?.end().catch(() => undefined);
  }
}
