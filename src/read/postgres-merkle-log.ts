/**
 * The Merkle log in PostgreSQL, beside the events and shared by every API instance on the store: the same
 * tree as the file-backed MerkleLog (leaf = SHA-256(0x00 || envelope) in $all order, every complete subtree
 * stored, leaves keyed by $all position), in tables of the ledger's schema.
 *
 * One writer. Only the instance elected log writer (PostgresLeaderElection: a session-level advisory lock)
 * appends leaves and records checkpoints, and it does so through the very session that holds the lock: if
 * that session is gone, so is the lock, and its writes fail instead of racing a new writer (the session is
 * the fence). The other instances read the shared tables and serve proofs from them; their catchUp() waits
 * for the writer to have logged what was committed before the call. The tables are append-only (triggers,
 * as the events), and the ledger's verifier key is pinned in them: an instance with another ledger key
 * refuses to start rather than sign the same log with a second identity.
 */
import pg from 'pg';
import { advisoryLockKey, type PostgresEventStore } from '../store/postgres.ts';
import type { RecordedEvent } from '../store/event-store.ts';
import { leafHash, nodeHash, type Hash } from '../merkle/hash.ts';
import { consistencyProof, inclusionProof, rootHash, type SubtreeSource } from '../merkle/proofs.ts';
import type { CryptoBackend } from '../crypto/backend.ts';
import { nativeCrypto } from '../native/crypto.ts';
import { MERKLE_LOG_FORMAT, type LeafInfo } from './merkle-log.ts';
import type { LedgerLog, RecordedCheckpoint } from './ledger-log.ts';

/** This store's log is signed by another ledger key than the instance's; nothing was written. */
export class LedgerIdentityMismatchError extends Error {
  override readonly name = 'LedgerIdentityMismatchError';
}

export interface PostgresMerkleLogOptions {
  readonly crypto?: CryptoBackend;
  /** How long a reader's catchUp() waits for the writer, in ms, before serving the log as it is. */
  readonly waitForWriterMs?: number;
}

const ZERO: Hash = new Uint8Array(32);

export class PostgresMerkleLog implements LedgerLog {
  private readonly crypto: CryptoBackend;
  private readonly waitForWriterMs: number;
  /** The session holding the log writer's lock, while this instance is the writer. */
  private writer: pg.Client | null = null;
  private running: Promise<void> = Promise.resolve();
  /** The writer's session runs one statement sequence at a time: a checkpoint insert never lands inside a leaf transaction. */
  private sessionQueue: Promise<unknown> = Promise.resolve();
  private pendingPass: Promise<void> | null = null;
  private readonly nodes = new Map<string, Hash>();
  private readonly waiters = new Set<() => void>();
  private readonly unlisten: (() => void)[] = [];
  private extendTimer: NodeJS.Timeout | null = null;
  readonly logChannel: string;
  /** NOTIFY on every checkpoint recorded (payload: its size). */
  readonly checkpointChannel: string;

  constructor(
    private readonly store: PostgresEventStore,
    options: PostgresMerkleLogOptions = {},
  ) {
    this.crypto = options.crypto ?? nativeCrypto;
    this.waitForWriterMs = options.waitForWriterMs ?? 10_000;
    this.logChannel = `flashtrail_merkle_${store.schema}`;
    this.checkpointChannel = `flashtrail_checkpoint_${store.schema}`;
  }

  private t(name: string): string {
    return this.store.table(name);
  }

  /**
   * Creates the tables (once, under the schema lock) and pins the ledger's verifier key: the first instance
   * records it, every later one must present the same.
   */
  async open(verifierKey: string, alsoAccepted: readonly string[] = []): Promise<void> {
    await this.store.ensureSchema();
    const s = pg.escapeIdentifier(this.store.schema);
    await this.store.transaction(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1)', [advisoryLockKey(this.store.schema, 'schema')]);
      const exists = await c.query<{ t: string | null }>('SELECT to_regclass($1) AS t', [this.t('merkle_meta')]);
      if (!exists.rows[0]?.t) {
        await c.query(`
          CREATE TABLE ${this.t('merkle_meta')} (key text PRIMARY KEY, value text NOT NULL);
          CREATE TABLE ${this.t('merkle_nodes')} (level smallint NOT NULL, idx bigint NOT NULL, hash bytea NOT NULL CHECK (length(hash) = 32), PRIMARY KEY (level, idx));
          CREATE TABLE ${this.t('merkle_leaves')} (idx bigint PRIMARY KEY CHECK (idx >= 0), position bigint NOT NULL UNIQUE);
          CREATE TABLE ${this.t('merkle_checkpoints')} (size bigint PRIMARY KEY, root bytea NOT NULL, note text NOT NULL, issued_at text NOT NULL);
        `);
        for (const table of ['merkle_meta', 'merkle_nodes', 'merkle_leaves', 'merkle_checkpoints']) {
          await c.query(`
            CREATE OR REPLACE TRIGGER ${table}_append_only BEFORE UPDATE OR DELETE ON ${this.t(table)} FOR EACH ROW EXECUTE FUNCTION ${s}.refuse_change();
            CREATE OR REPLACE TRIGGER ${table}_no_truncate BEFORE TRUNCATE ON ${this.t(table)} FOR EACH STATEMENT EXECUTE FUNCTION ${s}.refuse_change();
            REVOKE UPDATE, DELETE, TRUNCATE ON ${this.t(table)} FROM PUBLIC, CURRENT_USER;
          `);
        }
        await c.query(`INSERT INTO ${this.t('merkle_meta')} (key, value) VALUES ('format', $1)`, [MERKLE_LOG_FORMAT]);
      }
      const meta = new Map((await c.query<{ key: string; value: string }>(`SELECT key, value FROM ${this.t('merkle_meta')}`)).rows.map((r) => [r.key, r.value]));
      if (meta.get('format') !== MERKLE_LOG_FORMAT) throw new Error(`the Merkle log in schema ${this.store.schema} has format ${meta.get('format') ?? 'none'}, not ${MERKLE_LOG_FORMAT}`);
      const pinned = meta.get('verifier_key');
      if (pinned === undefined) await c.query(`INSERT INTO ${this.t('merkle_meta')} (key, value) VALUES ('verifier_key', $1)`, [verifierKey]);
      else if (pinned !== verifierKey && !alsoAccepted.includes(pinned)) {
        throw new LedgerIdentityMismatchError(`the ledger in PostgreSQL schema ${this.store.schema} is signed by ${pinned}, but this instance's ledger key is ${verifierKey}: give every instance the same ledger.key and ledger.json`);
      }
    });
    this.unlisten.push(this.store.onNotification(this.logChannel, () => this.wakeAll()));
    // The writer logs new events shortly after their NOTIFY: notifications within a few milliseconds share one
    // pass (one transaction), so that a busy ledger does not pay a second commit for every append.
    this.unlisten.push(this.store.onNotification(`flashtrail_events_${this.store.schema}`, () => this.extendSoon()));
  }

  /** From now on this instance writes the log, through the session that holds the writer's lock. */
  becomeWriter(session: pg.Client): void {
    this.writer = session;
    void this.extendIfWriter();
  }

  /** The lock is lost (or given up): no more writes. */
  stopWriting(): void {
    this.writer = null;
  }

  get isWriter(): boolean {
    return this.writer !== null;
  }

  private extendSoon(): void {
    if (!this.writer || this.extendTimer) return;
    this.extendTimer = setTimeout(() => {
      this.extendTimer = null;
      void this.extendIfWriter();
    }, 20);
    this.extendTimer.unref();
  }

  private extendIfWriter(): Promise<void> {
    if (!this.writer) return Promise.resolve();
    return this.catchUp().catch(() => undefined);
  }

  catchUp(): Promise<void> {
    if (!this.writer) return this.waitForWriter();
    // Concurrent calls share one pass after the running one (a pass reads what was committed when it starts).
    this.pendingPass ??= this.running.then(() => {
      this.pendingPass = null;
      return this.extend();
    });
    const pass = this.pendingPass;
    this.running = pass.catch(() => undefined);
    return pass;
  }

  private async extend(): Promise<void> {
    for (;;) {
      const session = this.writer;
      if (!session) return;
      const { size, lastPosition } = await this.tip(session);
      const events = await this.store.readAll({ after: lastPosition, maxCount: 5000 });
      if (events.length === 0) return;
      const frontier = await this.frontier(session, size);
      const { nodes, leaves } = extendTree(frontier, size, events, this.crypto);
      await this.onSession(session, async () => {
        await session.query('BEGIN');
        try {
          // Leaves are derived data (recomputed from the events by the next writer if lost), so their commit
          // does not wait for the disk. What is signed is durable all the same: recording a checkpoint is a
          // synchronous commit, which flushes the write-ahead log up to it, these leaves included.
          await session.query('SET LOCAL synchronous_commit TO off');
          await session.query(`INSERT INTO ${this.t('merkle_leaves')} (idx, position) SELECT * FROM unnest($1::bigint[], $2::bigint[])`, [leaves.map((l) => l.index), leaves.map((l) => l.position.toString())]);
          await session.query(`INSERT INTO ${this.t('merkle_nodes')} (level, idx, hash) SELECT * FROM unnest($1::smallint[], $2::bigint[], $3::bytea[])`, [
            nodes.map((n) => n.level),
            nodes.map((n) => n.index),
            nodes.map((n) => Buffer.from(n.hash)),
          ]);
          await session.query('SELECT pg_notify($1, $2)', [this.logChannel, String(size + events.length)]);
          await session.query('COMMIT');
        } catch (error) {
          await session.query('ROLLBACK').catch(() => undefined);
          throw error;
        }
      });
      for (const n of nodes) this.remember(n.level, n.index, n.hash);
    }
  }

  /**
   * Runs `work` on the session that holds the writer's lock, queued behind the log's own statements: derived
   * state kept beside the log (the unit map, src/read/postgres-unit-map.ts) is written through the lock too, so
   * a deposed writer's writes fail with its session instead of racing its successor.
   */
  writeOnSession<T>(work: (session: pg.Client) => Promise<T>): Promise<T> {
    const session = this.writer;
    if (!session) return Promise.reject(new Error('this instance is not the log writer'));
    return this.onSession(session, () => work(session));
  }

  private onSession<T>(session: pg.Client, work: () => Promise<T>): Promise<T> {
    const run = this.sessionQueue.then(() => {
      if (this.writer !== session) throw new Error('this instance is no longer the log writer');
      return work();
    });
    this.sessionQueue = run.catch(() => undefined);
    return run;
  }

  private async tip(client: pg.Client | pg.Pool = this.store.pool): Promise<{ size: number; lastPosition: bigint }> {
    const { rows } = await client.query<{ idx: string; position: string }>(`SELECT idx, position FROM ${this.t('merkle_leaves')} ORDER BY idx DESC LIMIT 1`);
    const top = rows[0];
    return top ? { size: Number(top.idx) + 1, lastPosition: BigInt(top.position) } : { size: 0, lastPosition: -1n };
  }

  /** The perfect subtrees along the right edge of a tree of `size` leaves: what new leaves combine with. */
  private async frontier(client: pg.Client, size: number): Promise<Map<string, Hash>> {
    const wanted: [number, number][] = [];
    for (let level = 0; 2 ** level <= size; level++) if (Math.floor(size / 2 ** level) % 2 === 1) wanted.push([level, Math.floor(size / 2 ** level) - 1]);
    return this.fetchNodes(wanted, client);
  }

  private async fetchNodes(wanted: readonly [number, number][], client: pg.Client | pg.Pool = this.store.pool): Promise<Map<string, Hash>> {
    const found = new Map<string, Hash>();
    const missing = wanted.filter(([l, i]) => {
      const cached = this.nodes.get(key(l, i));
      if (cached) found.set(key(l, i), cached);
      return !cached;
    });
    if (missing.length > 0) {
      const { rows } = await client.query<{ level: number; idx: string; hash: Buffer }>(
        `SELECT n.level, n.idx, n.hash FROM ${this.t('merkle_nodes')} n JOIN unnest($1::smallint[], $2::bigint[]) AS w(level, idx) ON n.level = w.level AND n.idx = w.idx`,
        [missing.map(([l]) => l), missing.map(([, i]) => i)],
      );
      for (const r of rows) {
        const hash = new Uint8Array(r.hash);
        found.set(key(r.level, Number(r.idx)), hash);
        this.remember(r.level, Number(r.idx), hash);
      }
    }
    return found;
  }

  private remember(level: number, index: number, hash: Hash): void {
    // Complete subtrees never change; the cache is bounded, not evicted by age.
    if (this.nodes.size >= 500_000) this.nodes.clear();
    this.nodes.set(key(level, index), hash);
  }

  /**
   * Runs a proof computation over the stored subtrees: a dry run records which subtrees it reads (the
   * algorithms' shape depends on sizes and indexes, never on hash values), one query fetches them, and the
   * real run computes from them.
   */
  private async overStoredNodes<T>(compute: (source: SubtreeSource) => T): Promise<T> {
    const wanted: [number, number][] = [];
    compute({
      perfect: (level, index) => {
        wanted.push([level, index]);
        return ZERO;
      },
    });
    const nodes = await this.fetchNodes(wanted);
    return compute({
      perfect: (level, index) => {
        const hash = nodes.get(key(level, index));
        if (!hash) throw new RangeError(`the Merkle log has no subtree at level ${level}, index ${index}`);
        return hash;
      },
    });
  }

  private async waitForWriter(): Promise<void> {
    const target = await this.store.headPosition();
    const deadline = Date.now() + this.waitForWriterMs;
    while ((await this.tip()).lastPosition < target && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, 250);
        this.waiters.add(done);
      });
    }
  }

  private wakeAll(): void {
    for (const w of [...this.waiters]) w();
  }

  async size(): Promise<number> {
    return (await this.tip()).size;
  }

  async root(size: number): Promise<Hash> {
    await this.checkSize(size);
    return this.overStoredNodes((source) => rootHash(source, size, this.crypto));
  }

  async inclusionProof(index: number, size: number): Promise<Hash[]> {
    await this.checkSize(size);
    return this.overStoredNodes((source) => inclusionProof(source, index, size, this.crypto));
  }

  async consistencyProof(from: number, to: number): Promise<Hash[]> {
    await this.checkSize(to);
    return this.overStoredNodes((source) => consistencyProof(source, from, to, this.crypto));
  }

  async leafOfPosition(position: bigint): Promise<LeafInfo | null> {
    return (await this.leavesOfPositions([position])).get(position) ?? null;
  }

  async leavesOfPositions(positions: readonly bigint[]): Promise<Map<bigint, LeafInfo>> {
    const { rows } = await this.store.pool.query<{ idx: string; position: string }>(`SELECT idx, position FROM ${this.t('merkle_leaves')} WHERE position = ANY($1::bigint[])`, [
      positions.map(String),
    ]);
    return new Map(rows.map((r) => [BigInt(r.position), { index: Number(r.idx), position: BigInt(r.position) }]));
  }

  /** The leaf hashes of indexes [start, start + count) in one query (an export's shared proofs read blocks of up to 1,024). */
  async leafHashes(start: number, count: number): Promise<Hash[]> {
    const { rows } = await this.store.pool.query<{ hash: Buffer }>(`SELECT hash FROM ${this.t('merkle_nodes')} WHERE level = 0 AND idx >= $1 AND idx < $2 ORDER BY idx`, [start, start + count]);
    if (rows.length !== count) throw new RangeError(`the Merkle log has ${rows.length} of the ${count} leaves from index ${start}`);
    return rows.map((r) => new Uint8Array(r.hash));
  }

  async leafHashAt(index: number): Promise<Hash> {
    const nodes = await this.fetchNodes([[0, index]]);
    const hash = nodes.get(key(0, index));
    if (!hash) throw new RangeError(`the Merkle log has no leaf ${index}`);
    return hash;
  }

  async latestCheckpoint(): Promise<RecordedCheckpoint | null> {
    const { rows } = await this.store.pool.query<{ size: string; root: Buffer; note: string }>(`SELECT size, root, note FROM ${this.t('merkle_checkpoints')} ORDER BY size DESC LIMIT 1`);
    const row = rows[0];
    return row ? { size: Number(row.size), root: new Uint8Array(row.root), note: row.note } : null;
  }

  /** Every checkpoint recorded, smallest first. */
  async checkpoints(): Promise<(RecordedCheckpoint & { issuedAt: string })[]> {
    const { rows } = await this.store.pool.query<{ size: string; root: Buffer; note: string; issued_at: string }>(`SELECT size, root, note, issued_at FROM ${this.t('merkle_checkpoints')} ORDER BY size`);
    return rows.map((r) => ({ size: Number(r.size), root: new Uint8Array(r.root), note: r.note, issuedAt: r.issued_at }));
  }

  async recordCheckpoint(size: number, root: Hash, note: string, issuedAt: string): Promise<void> {
    const session = this.writer;
    if (!session) throw new Error('only the elected log writer records checkpoints');
    await this.onSession(session, async () => {
      await session.query(`INSERT INTO ${this.t('merkle_checkpoints')} (size, root, note, issued_at) VALUES ($1, $2, $3, $4)`, [size, Buffer.from(root), note, issuedAt]);
      await session.query('SELECT pg_notify($1, $2)', [this.checkpointChannel, String(size)]);
    });
  }

  private async checkSize(size: number): Promise<void> {
    const logSize = await this.size();
    if (!Number.isSafeInteger(size) || size < 0 || size > logSize) throw new RangeError(`tree size ${size} is beyond the log (size ${logSize})`);
  }

  close(): void {
    this.writer = null;
    if (this.extendTimer) clearTimeout(this.extendTimer);
    for (const off of this.unlisten.splice(0)) off();
    this.wakeAll();
  }
}

const key = (level: number, index: number) => `${level}:${index}`;

/**
 * The nodes and leaves that appending `events` to a tree of `size` leaves adds, given the tree's right-edge
 * subtrees (`frontier`): each new leaf, then every subtree it completes.
 */
export function extendTree(
  frontier: ReadonlyMap<string, Hash>,
  size: number,
  events: readonly RecordedEvent[],
  crypto: CryptoBackend,
): { nodes: { level: number; index: number; hash: Hash }[]; leaves: { index: number; position: bigint }[] } {
  const known = new Map(frontier);
  const nodes: { level: number; index: number; hash: Hash }[] = [];
  const leaves: { index: number; position: bigint }[] = [];
  let index = size;
  for (const e of events) {
    let hash = leafHash(e.data, crypto);
    let level = 0;
    let idx = index;
    nodes.push({ level, index: idx, hash });
    known.set(key(level, idx), hash);
    leaves.push({ index, position: e.position });
    while (idx % 2 === 1) {
      const left = known.get(key(level, idx - 1));
      if (!left) throw new RangeError(`the Merkle log has no subtree at level ${level}, index ${idx - 1}`);
      hash = nodeHash(left, hash, crypto);
      level++;
      idx = Math.floor(idx / 2);
      nodes.push({ level, index: idx, hash });
      known.set(key(level, idx), hash);
    }
    index++;
  }
  return { nodes, leaves };
}
