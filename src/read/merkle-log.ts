/**
 * The ledger's Merkle log: one leaf per event in $all commit order, leaf = SHA-256(0x00 || envelope bytes).
 * Every complete subtree is stored, so appending costs O(log n) and any inclusion or consistency proof is
 * served from O(log n) stored nodes without rereading events. The file is derived data: rebuild() replays
 * the event store into the identical tree.
 *
 * Leaves are keyed by $all position, the one identity every store gives each recorded event exactly once
 * (an event id is unique per stream only on KurrentDB; keyed by id, one reused id would stall the log).
 */
import Database from 'better-sqlite3';
import type { EventStore } from '../store/event-store.ts';
import { leafHash, nodeHash, type Hash } from '../merkle/hash.ts';
import { placeholders, runInRows, statementsBySize } from './multi-row.ts';
import { consistencyProof, inclusionProof, rootHash, type RangeMemo, type SubtreeSource } from '../merkle/proofs.ts';
import type { CryptoBackend } from '../crypto/backend.ts';
import { nativeCrypto } from '../native/crypto.ts';
import { nextTurn, SliceSizer } from './event-loop.ts';
import { SqliteEventStore } from '../store/sqlite.ts';
import { ReplayThread } from './replay-thread.ts';

/** Written into the file; a file of another format is migrated (v1) or refused, never silently rewritten. */
export const MERKLE_LOG_FORMAT = 'flashtrail-merkle-v2';
/** Leaf and node rows per insert statement while catching up (src/read/multi-row.ts). */
const ROWS_PER_STATEMENT = 64;
/** Events a catch-up reads at a time. */
const CATCH_UP_BATCH = 5000;
/**
 * How far behind an offline rebuild's catch-up (src/read/merkle-rebuild.ts) has the leaves hashed on a worker
 * thread (./replay-thread.ts) while this one hashes the nodes and writes. Measured on 100k leaves (load 11-13):
 * the calling thread 430-470 ms and the worker 550 ms of CPU, where one thread took ~860 ms: faster with a free
 * core, but 20-45 % more CPU in all, and slower on a machine already busy. A serving process's catch-ups share the
 * machine (at a first start the read model and the unit map catch up too), so they stay on one thread.
 */
export const THREADED_CATCH_UP_LEAVES = 20 * CATCH_UP_BATCH;

export interface MerkleLogOptions {
  /** A catch-up more than this many leaves behind hashes them on a worker thread (THREADED_CATCH_UP_LEAVES); unset: never. */
  readonly threadedCatchUpLeaves?: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS merkle_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS merkle_nodes (
  level INTEGER NOT NULL,
  idx   INTEGER NOT NULL,
  hash  BLOB    NOT NULL,
  PRIMARY KEY (level, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS merkle_leaves (
  idx      INTEGER PRIMARY KEY,
  position INTEGER NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS merkle_checkpoints (
  size      INTEGER PRIMARY KEY,
  root      BLOB    NOT NULL,
  note      TEXT    NOT NULL,
  issued_at TEXT    NOT NULL
);
`;

export interface LeafInfo {
  readonly index: number;
  /** $all position of the event the leaf hashes. */
  readonly position: bigint;
}

/**
 * Appends the leaves of newly committed events into the same file from elsewhere (./merkle-append-thread.ts:
 * a worker thread): resolves once every event committed before the call has its leaf.
 */
export interface LeafAppender {
  catchUp(): Promise<void>;
  close(): Promise<void>;
}

/** The file is not a Merkle log this version can read; nothing in it was changed. */
export class MerkleLogFormatError extends Error {
  override readonly name = 'MerkleLogFormatError';
  constructor(
    readonly file: string,
    readonly found: string,
  ) {
    super(`${file} holds a Merkle log of format ${found}, not ${MERKLE_LOG_FORMAT}; it was left unchanged (flashtrail projections rebuild writes a new one from the event log)`);
  }
}

export class MerkleLog implements SubtreeSource {
  private readonly db: Database.Database;
  private readonly getNode: Database.Statement<[number, number], { hash: Buffer } | undefined>;
  private readonly addNodes: (rows: number) => Database.Statement;
  private readonly addLeaves: (rows: number) => Database.Statement;
  /** The statements of the hot paths (proofs, leaf lookups, catch-up), prepared once. */
  private readonly sizeQuery: Database.Statement<[], { n: number | null }>;
  private readonly lastPositionQuery: Database.Statement<[], { p: bigint | null }>;
  private readonly leafByPosition: Database.Statement<[bigint], { idx: bigint; position: bigint } | undefined>;
  private readonly leafRange: Database.Statement<[number, number], Buffer>;
  private readonly leavesByPositionList: Database.Statement<[string], { idx: bigint; position: bigint }>;
  private readonly leavesByPositionRange: Database.Statement<[bigint, bigint], { idx: bigint; position: bigint }>;
  private running: Promise<void> = Promise.resolve();
  /** Where the leaves are appended, when not on this connection (appendOn): this instance then only reads and records checkpoints. */
  private appender: LeafAppender | null = null;
  private readonly upperNodes = new Map<number, Hash>();
  /** The right edge's incomplete ranges, which every proof against one size shares (bounded: cleared when full). */
  private readonly edgeRanges: RangeMemo = new Map();

  constructor(
    private readonly store: EventStore,
    file: string,
    private readonly crypto: CryptoBackend = nativeCrypto,
    private readonly options: MerkleLogOptions = {},
  ) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    try {
      openFormat(this.db, file);
    } catch (error) {
      this.db.close();
      throw error;
    }
    this.getNode = this.db.prepare('SELECT hash FROM merkle_nodes WHERE level = ? AND idx = ?') as never;
    this.addNodes = statementsBySize(this.db, (rows) => `INSERT INTO merkle_nodes (level, idx, hash) VALUES ${placeholders(rows, 3)}`);
    this.addLeaves = statementsBySize(this.db, (rows) => `INSERT INTO merkle_leaves (idx, position) VALUES ${placeholders(rows, 2)}`);
    this.sizeQuery = this.db.prepare('SELECT MAX(idx) AS n FROM merkle_leaves') as never;
    this.lastPositionQuery = this.db.prepare('SELECT MAX(position) AS p FROM merkle_leaves').safeIntegers(true) as never;
    this.leafByPosition = this.db.prepare('SELECT idx, position FROM merkle_leaves WHERE position = ?').safeIntegers(true) as never;
    this.leafRange = this.db.prepare('SELECT hash FROM merkle_nodes WHERE level = 0 AND idx >= ? AND idx < ? ORDER BY idx').pluck(true) as never;
    // Any number of positions bound as one JSON array: one statement, one walk of the position index.
    this.leavesByPositionList = this.db.prepare('SELECT idx, position FROM merkle_leaves WHERE position IN (SELECT value FROM json_each(?))').safeIntegers(true) as never;
    this.leavesByPositionRange = this.db.prepare('SELECT idx, position FROM merkle_leaves WHERE position BETWEEN ? AND ?').safeIntegers(true) as never;
  }

  get size(): number {
    // Leaf indexes run from 0 without gaps: the largest one is found in the index, no count needed.
    const row = this.sizeQuery.get() as { n: number | null };
    return row.n === null ? 0 : row.n + 1;
  }

  private lastPosition(): bigint {
    const row = this.lastPositionQuery.get() as { p: bigint | null };
    return row.p ?? -1n;
  }

  /**
   * From now on the leaves are appended by `appender` (the file's one writer of leaves and subtrees, on its own
   * connection), this instance's catchUp waiting for it. Set once, before the first catchUp.
   */
  appendOn(appender: LeafAppender): void {
    if (this.appender) throw new Error('the Merkle log already has an appender');
    this.appender = appender;
  }

  /** Appends a leaf for every event committed since the last call. Concurrent calls share one pass. */
  catchUp(): Promise<void> {
    const pass = this.running.then(() => (this.appender ? this.appender.catchUp() : this.catchUpNow()));
    this.running = pass.catch(() => undefined);
    return pass;
  }

  private async catchUpNow(): Promise<void> {
    // Requests are served between slices of a backlog (src/read/event-loop.ts).
    const sizer = new SliceSizer(CATCH_UP_BATCH);
    for (let slice = 0; ; slice++) {
      if (slice > 0) await nextTurn();
      const started = performance.now();
      // Only the position and the bytes are hashed and kept: the replay read (where the store has one) reads no more.
      const after = this.lastPosition();
      const events: readonly { position: bigint; data: Uint8Array }[] = await (this.store.readAllForReplay ?? this.store.readAll).call(this.store, { after, maxCount: sizer.size });
      if (events.length === 0) return;
      const threadedFrom = this.options.threadedCatchUpLeaves;
      if (slice === 0 && threadedFrom !== undefined && events.length === sizer.size && this.store instanceof SqliteEventStore && (await this.store.headPosition()) - after > threadedFrom) return this.catchUpOnThread(this.store.file);
      this.appendBatch(events.length, (i) => (events[i] as { position: bigint }).position, (i) => leafHash((events[i] as { data: Uint8Array }).data, this.crypto));
      sizer.took(events.length, performance.now() - started);
    }
  }

  /**
   * The catch-up of a long backlog: a worker reads the events and hashes their leaves (the same SHA-256 of
   * 0x00 and the envelope) a batch ahead, while this thread hashes the nodes above them and writes.
   */
  private async catchUpOnThread(eventsFile: string): Promise<void> {
    const thread = await ReplayThread.open({ eventsFile });
    try {
      let next = thread.leaves(this.lastPosition(), CATCH_UP_BATCH);
      for (;;) {
        const batch = await next;
        const count = batch.positions.length;
        if (count === 0) return;
        next = thread.leaves(batch.positions[count - 1] as bigint, CATCH_UP_BATCH);
        // Awaited in turn above; a failure while this batch is written must not go unhandled meanwhile.
        next.catch(() => undefined);
        this.appendBatch(count, (i) => batch.positions[i] as bigint, (i) => batch.hashes.subarray(32 * i, 32 * i + 32));
        await nextTurn();
      }
    } finally {
      await thread.close();
    }
  }

  /** Appends `count` leaves (their positions and hashes) and the nodes they complete, in one transaction. */
  private appendBatch(count: number, positionOf: (i: number) => bigint, leafOf: (i: number) => Hash): void {
    this.db.transaction(() => {
      let size = this.size;
      // The batch's rows, written at its end in multi-row statements (no append reads them back: lastWritten).
      const leaves: (number | bigint)[] = [];
      const nodes: (number | Buffer)[] = [];
      for (let i = 0; i < count; i++) {
        leaves.push(size, positionOf(i));
        this.appendLeafHash(size, leafOf(i), nodes);
        size++;
      }
      runInRows(leaves, 2, ROWS_PER_STATEMENT, this.addLeaves);
      runInRows(nodes, 3, ROWS_PER_STATEMENT, this.addNodes);
    })();
  }

  /**
   * The last node written at each level: the left sibling an append hashes with is the node written last at
   * its level, so a catch-up reads none back from the file. An entry serves only the index it holds, and
   * appends run in order, so an entry a rolled-back transaction left is written again before it is read.
   */
  private readonly lastWritten: { idx: number; hash: Hash }[] = [];

  /** Adds the rows of the leaf's node and of the nodes it completes to `nodes` (level, idx, hash; flattened). */
  private appendLeafHash(index: number, leaf: Hash, nodes: (number | Buffer)[]): void {
    nodes.push(0, index, Buffer.from(leaf));
    let level = 0;
    let idx = index;
    let hash = leaf;
    while (idx % 2 === 1) {
      const last = this.lastWritten[level];
      const left = last?.idx === idx - 1 ? last.hash : this.perfect(level, idx - 1);
      this.lastWritten[level] = { idx, hash };
      hash = nodeHash(left, hash, this.crypto);
      level++;
      idx = Math.floor(idx / 2);
      nodes.push(level, idx, Buffer.from(hash));
    }
    this.lastWritten[level] = { idx, hash };
  }

  perfect(level: number, index: number): Hash {
    // Complete subtrees never change, so the upper ones, shared by every proof, are kept in memory.
    const cacheKey = level >= 4 ? level * 2 ** 40 + index : -1;
    const cached = cacheKey >= 0 ? this.upperNodes.get(cacheKey) : undefined;
    if (cached) return cached;
    const row = this.getNode.get(level, index);
    if (!row) throw new RangeError(`the Merkle log has no subtree at level ${level}, index ${index}`);
    const hash = new Uint8Array(row.hash);
    if (cacheKey >= 0 && this.upperNodes.size < 1_000_000) this.upperNodes.set(cacheKey, hash);
    return hash;
  }

  root(size = this.size): Hash {
    return rootHash(this, size, this.crypto);
  }

  inclusionProof(index: number, size: number): Hash[] {
    this.checkSize(size);
    if (this.edgeRanges.size > 4096) this.edgeRanges.clear();
    return inclusionProof(this, index, size, this.crypto, this.edgeRanges);
  }

  consistencyProof(from: number, to: number): Hash[] {
    this.checkSize(to);
    return consistencyProof(this, from, to, this.crypto);
  }

  /** The leaf of the event recorded at this $all position, or null when the log has not reached it. */
  leafOfPosition(position: bigint): LeafInfo | null {
    const row = this.leafByPosition.get(position);
    return row ? { index: Number(row.idx), position: row.position } : null;
  }

  /**
   * The leaves of several events in one query (those the log has not reached are absent). Positions that lie
   * close together (a unit's events, appended together; consecutive units of a batch) are read as one range
   * of the position index, scattered ones as a list: an export asks for the leaves of hundreds of events at once.
   */
  leavesOfPositions(positions: readonly bigint[]): Map<bigint, LeafInfo> {
    const found = new Map<bigint, LeafInfo>();
    if (positions.length === 0) return found;
    let low = positions[0] as bigint;
    let high = low;
    for (const p of positions) {
      if (p < low) low = p;
      if (p > high) high = p;
    }
    const wanted = new Set(positions);
    const dense = high - low < BigInt(2 * wanted.size);
    const rows = dense ? this.leavesByPositionRange.all(low, high) : this.leavesByPositionList.all(`[${[...wanted].join(',')}]`);
    for (const r of rows) if (wanted.has(r.position)) found.set(r.position, { index: Number(r.idx), position: r.position });
    return found;
  }

  /** Up to `count` leaves from index `from` on, in index order. */
  leavesFrom(from: number, count: number): LeafInfo[] {
    const rows = this.db.prepare('SELECT idx, position FROM merkle_leaves WHERE idx >= ? ORDER BY idx LIMIT ?').safeIntegers(true).all(from, count) as { idx: bigint; position: bigint }[];
    return rows.map((r) => ({ index: Number(r.idx), position: r.position }));
  }

  leafHashAt(index: number): Hash {
    return this.perfect(0, index);
  }

  /** The leaf hashes of indexes [start, start + count), in one read; throws if the log has not reached them all. */
  leafHashes(start: number, count: number): Hash[] {
    const rows = this.leafRange.all(start, start + count);
    if (rows.length !== count) throw new RangeError(`the Merkle log has ${rows.length} of the ${count} leaves from index ${start}`);
    return rows.map((hash) => new Uint8Array(hash.buffer, hash.byteOffset, hash.byteLength));
  }

  latestCheckpoint(): { size: number; root: Hash; note: string } | null {
    const row = this.db.prepare('SELECT size, root, note FROM merkle_checkpoints ORDER BY size DESC LIMIT 1').get() as { size: number; root: Buffer; note: string } | undefined;
    return row ? { size: row.size, root: new Uint8Array(row.root), note: row.note } : null;
  }

  /** Every checkpoint recorded in this file, smallest first. */
  checkpoints(): { size: number; root: Hash; note: string; issuedAt: string }[] {
    const rows = this.db.prepare('SELECT size, root, note, issued_at FROM merkle_checkpoints ORDER BY size').all() as { size: number; root: Buffer; note: string; issued_at: string }[];
    return rows.map((r) => ({ size: r.size, root: new Uint8Array(r.root), note: r.note, issuedAt: r.issued_at }));
  }

  recordCheckpoint(size: number, root: Hash, note: string, issuedAt: string): void {
    this.db.prepare('INSERT INTO merkle_checkpoints (size, root, note, issued_at) VALUES (?, ?, ?, ?)').run(size, Buffer.from(root), note, issuedAt);
  }

  /**
   * Drops the tree (not the issued checkpoints) and rebuilds it from the event store, in place and without
   * checking it against anything: src/read/merkle-rebuild.ts is the careful way, for a file that served proofs.
   */
  async rebuild(): Promise<void> {
    // The appender's own connection keeps subtrees in memory that a rebuild under it would make stale.
    if (this.appender) throw new Error('a Merkle log whose leaves another thread appends is rebuilt without it (src/read/merkle-rebuild.ts)');
    await this.running;
    this.db.exec('DELETE FROM merkle_nodes; DELETE FROM merkle_leaves;');
    this.upperNodes.clear();
    this.edgeRanges.clear();
    this.lastWritten.length = 0;
    await this.catchUp();
  }

  close(): void {
    this.db.close();
  }

  /** Stops the appender (after the pass it is running), then closes this connection. */
  async closeAll(): Promise<void> {
    await this.running;
    await this.appender?.close();
    this.db.close();
  }

  private checkSize(size: number): void {
    if (!Number.isSafeInteger(size) || size < 0 || size > this.size) {
      throw new RangeError(`tree size ${size} is beyond the log (size ${this.size})`);
    }
  }
}

/**
 * Creates the schema in a new file, migrates a v1 file (leaves keyed by event id) in place, and refuses
 * any other format. The v1 migration copies leaf indexes and positions and drops the id column; stored
 * subtrees and checkpoints are not touched, so every root stays byte for byte what it was.
 */
function openFormat(db: Database.Database, file: string): void {
  const hasTable = (name: string) => db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== undefined;
  const marked = hasTable('merkle_meta') ? (db.prepare("SELECT value FROM merkle_meta WHERE key = 'format'").get() as { value: string } | undefined)?.value : undefined;
  if (marked !== undefined && marked !== MERKLE_LOG_FORMAT) throw new MerkleLogFormatError(file, marked);
  db.transaction(() => {
    if (marked === undefined && hasTable('merkle_leaves')) {
      const columns = (db.prepare('PRAGMA table_info(merkle_leaves)').all() as { name: string }[]).map((c) => c.name).sort().join(',');
      if (columns !== 'event_id,idx,position') throw new MerkleLogFormatError(file, `unmarked (merkle_leaves columns ${columns})`);
      db.exec(`
        CREATE TABLE merkle_leaves_v2 (idx INTEGER PRIMARY KEY, position INTEGER NOT NULL UNIQUE);
        INSERT INTO merkle_leaves_v2 (idx, position) SELECT idx, position FROM merkle_leaves ORDER BY idx;
        DROP TABLE merkle_leaves;
        ALTER TABLE merkle_leaves_v2 RENAME TO merkle_leaves;
      `);
    }
    db.exec(SCHEMA);
    db.prepare("INSERT OR IGNORE INTO merkle_meta (key, value) VALUES ('format', ?)").run(MERKLE_LOG_FORMAT);
  })();
}
