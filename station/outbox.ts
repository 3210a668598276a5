/**
 * The station's durable outbox: every event is signed and committed here (SQLite, synchronous=FULL) before
 * the operator sees the step's result. The chain head of every stream the station writes lives in the same
 * transaction, so a crash can never leave a signed event without its successor's `prev`.
 */
import Database from 'better-sqlite3';
import type { DsseEnvelope } from '../src/crypto/dsse.ts';
import type { SignedEvent } from '../src/event/signer.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS outbox (
  seq          INTEGER PRIMARY KEY AUTOINCREMENT,
  event_id     TEXT NOT NULL UNIQUE,
  stream       TEXT NOT NULL,
  type         TEXT NOT NULL,
  envelope     TEXT NOT NULL,
  state        TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'rejected')),
  attempts     INTEGER NOT NULL DEFAULT 0,
  last_error   TEXT,
  created_at   TEXT NOT NULL,
  delivered_at TEXT
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (state, seq);
CREATE TABLE IF NOT EXISTS heads (stream TEXT PRIMARY KEY, digest TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
`;

export interface OutboxEntry {
  readonly seq: number;
  readonly eventId: string;
  readonly stream: string;
  readonly type: string;
  readonly envelope: DsseEnvelope;
  readonly attempts: number;
  readonly lastError: string | null;
}

export interface OutboxCounts {
  readonly pending: number;
  readonly delivered: number;
  readonly rejected: number;
}

export class Outbox {
  private readonly db: Database.Database;

  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
  }

  head(stream: string): string | null | undefined {
    const row = this.db.prepare('SELECT digest FROM heads WHERE stream = ?').get(stream) as { digest: string } | undefined;
    return row?.digest;
  }

  /** Records a signed event and moves its stream's head, atomically and durably. */
  enqueue(signed: SignedEvent, now: Date): void {
    this.db.transaction(() => {
      this.db
        .prepare("INSERT INTO outbox (event_id, stream, type, envelope, state, created_at) VALUES (?, ?, ?, ?, 'pending', ?)")
        .run(signed.event.id, signed.stream, signed.event.type, JSON.stringify(signed.envelope), now.toISOString());
      this.db.prepare('INSERT INTO heads (stream, digest) VALUES (?, ?) ON CONFLICT (stream) DO UPDATE SET digest = excluded.digest').run(signed.stream, signed.digest);
    })();
  }

  /**
   * Takes the ledger's head for a stream when nothing of this station's is waiting in it (another station
   * may have written the unit since): the next event chains on what the ledger holds.
   */
  followLedgerHead(stream: string, digest: string | null): void {
    const waiting = (this.db.prepare("SELECT COUNT(*) AS n FROM outbox WHERE stream = ? AND state IN ('pending', 'rejected')").get(stream) as { n: number }).n;
    if (waiting > 0) return;
    if (digest === null) this.db.prepare('DELETE FROM heads WHERE stream = ?').run(stream);
    else this.db.prepare('INSERT INTO heads (stream, digest) VALUES (?, ?) ON CONFLICT (stream) DO UPDATE SET digest = excluded.digest').run(stream, digest);
  }

  /** Adopts a head learnt from the ledger for a stream this station has not written yet. */
  adoptHead(stream: string, digest: string): void {
    this.db.prepare('INSERT OR IGNORE INTO heads (stream, digest) VALUES (?, ?)').run(stream, digest);
  }

  pending(limit: number): OutboxEntry[] {
    const rows = this.db
      .prepare("SELECT seq, event_id, stream, type, envelope, attempts, last_error FROM outbox WHERE state = 'pending' ORDER BY seq LIMIT ?")
      .all(limit) as { seq: number; event_id: string; stream: string; type: string; envelope: string; attempts: number; last_error: string | null }[];
    return rows.map((r) => ({ seq: r.seq, eventId: r.event_id, stream: r.stream, type: r.type, envelope: JSON.parse(r.envelope) as DsseEnvelope, attempts: r.attempts, lastError: r.last_error }));
  }

  rejected(): OutboxEntry[] {
    const rows = this.db
      .prepare("SELECT seq, event_id, stream, type, envelope, attempts, last_error FROM outbox WHERE state = 'rejected' ORDER BY seq")
      .all() as { seq: number; event_id: string; stream: string; type: string; envelope: string; attempts: number; last_error: string | null }[];
    return rows.map((r) => ({ seq: r.seq, eventId: r.event_id, stream: r.stream, type: r.type, envelope: JSON.parse(r.envelope) as DsseEnvelope, attempts: r.attempts, lastError: r.last_error }));
  }

  markDelivered(seqs: readonly number[], now: Date): void {
    const stmt = this.db.prepare("UPDATE outbox SET state = 'delivered', attempts = attempts + 1, delivered_at = ?, last_error = NULL WHERE seq = ?");
    this.db.transaction(() => seqs.forEach((s) => stmt.run(now.toISOString(), s)))();
  }

  markFailedAttempt(seqs: readonly number[], error: string): void {
    const stmt = this.db.prepare('UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE seq = ?');
    this.db.transaction(() => seqs.forEach((s) => stmt.run(error, s)))();
  }

  /** Where one event stands: pending, delivered or rejected (with the ledger's reason), or unknown. */
  stateOf(eventId: string): { state: 'pending' | 'delivered' | 'rejected'; lastError: string | null } | null {
    const row = this.db.prepare('SELECT state, last_error FROM outbox WHERE event_id = ?').get(eventId) as { state: 'pending' | 'delivered' | 'rejected'; last_error: string | null } | undefined;
    return row ? { state: row.state, lastError: row.last_error } : null;
  }

  /** The envelopes this station signed for a stream, in order: its own record of a unit when the ledger is away. */
  envelopesOf(stream: string): { envelope: DsseEnvelope; state: string }[] {
    const rows = this.db.prepare('SELECT envelope, state FROM outbox WHERE stream = ? ORDER BY seq').all(stream) as { envelope: string; state: string }[];
    return rows.map((r) => ({ envelope: JSON.parse(r.envelope) as DsseEnvelope, state: r.state }));
  }

  /** Rejected events of a stream: a unit with one of them is not what the ledger holds. */
  rejectedIn(stream: string): number {
    return (this.db.prepare("SELECT COUNT(*) AS n FROM outbox WHERE stream = ? AND state = 'rejected'").get(stream) as { n: number }).n;
  }

  /**
   * Puts rejected events back in the queue, in their original order, once their cause is fixed (a closed
   * batch reopened, a key registered): they are still validly signed and their chain is intact.
   */
  requeueRejected(stream?: string): number {
    const sql = "UPDATE outbox SET state = 'pending', last_error = NULL WHERE state = 'rejected'" + (stream ? ' AND stream = ?' : '');
    return (stream ? this.db.prepare(sql).run(stream) : this.db.prepare(sql).run()).changes;
  }

  markRejected(seq: number, error: string): void {
    this.db.prepare("UPDATE outbox SET state = 'rejected', attempts = attempts + 1, last_error = ? WHERE seq = ?").run(error, seq);
  }

  counts(): OutboxCounts {
    const rows = this.db.prepare('SELECT state, COUNT(*) AS n FROM outbox GROUP BY state').all() as { state: keyof OutboxCounts; n: number }[];
    const c = { pending: 0, delivered: 0, rejected: 0 };
    for (const r of rows) c[r.state] = r.n;
    return c;
  }

  getMeta(key: string): string | null {
    return (this.db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined)?.value ?? null;
  }

  setMeta(key: string, value: string): void {
    this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value);
  }

  close(): void {
    this.db.close();
  }
}
