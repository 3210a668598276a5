/**
 * The ledger's Merkle log: one leaf per event in $all commit order, leaf = SHA-256(0x00 || envelope bytes).
 * Every complete subtree is stored, so appending costs O(log n) and any inclusion or consistency proof is
 * served from O(log n) stored nodes without rereading events. The file is derived data: rebuild() replays
 * the event store into the identical tree.
 */
import Database from 'better-sqlite3';
import type { EventStore } from '../store/event-store.ts';
import { leafHash, nodeHash, type Hash } from '../merkle/hash.ts';
import { consistencyProof, inclusionProof, rootHash, type SubtreeSource } from '../merkle/proofs.ts';
import type { CryptoBackend } from '../crypto/backend.ts';
import { nativeCrypto } from '../native/crypto.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS merkle_nodes (
  level INTEGER NOT NULL,
  idx   INTEGER NOT NULL,
  hash  BLOB    NOT NULL,
  PRIMARY KEY (level, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS merkle_leaves (
  idx      INTEGER PRIMARY KEY,
  position INTEGER NOT NULL UNIQUE,
  event_id TEXT    NOT NULL UNIQUE
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
  readonly position: bigint;
  readonly eventId: string;
}

export class MerkleLog implements SubtreeSource {
  private readonly db: Database.Database;
  private readonly getNode: Database.Statement<[number, number], { hash: Buffer } | undefined>;
  private readonly putNode: Database.Statement<[number, number, Buffer]>;
  private running: Promise<void> = Promise.resolve();
  private readonly upperNodes = new Map<number, Hash>();

  constructor(
    private readonly store: EventStore,
    file: string,
    private readonly crypto: CryptoBackend = nativeCrypto,
  ) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.exec(SCHEMA);
    this.getNode = this.db.prepare('SELECT hash FROM merkle_nodes WHERE level = ? AND idx = ?') as never;
    this.putNode = this.db.prepare('INSERT INTO merkle_nodes (level, idx, hash) VALUES (?, ?, ?)') as never;
  }

  get size(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM merkle_leaves').get() as { n: number }).n;
  }

  private lastPosition(): bigint {
    const row = this.db.prepare('SELECT MAX(position) AS p FROM merkle_leaves').get() as { p: number | null };
    return row.p === null ? -1n : BigInt(row.p);
  }

  /** Appends a leaf for every event committed since the last call. Concurrent calls share one pass. */
  catchUp(): Promise<void> {
    const pass = this.running.then(() => this.catchUpNow());
    this.running = pass.catch(() => undefined);
    return pass;
  }

  private async catchUpNow(): Promise<void> {
    const addLeaf = this.db.prepare('INSERT INTO merkle_leaves (idx, position, event_id) VALUES (?, ?, ?)');
    for (;;) {
      const events = await this.store.readAll({ after: this.lastPosition(), maxCount: 5000 });
      if (events.length === 0) return;
      this.db.transaction(() => {
        let size = this.size;
        for (const e of events) {
          addLeaf.run(size, e.position, e.id);
          this.appendLeafHash(size, leafHash(e.data, this.crypto));
          size++;
        }
      })();
    }
  }

  private appendLeafHash(index: number, leaf: Hash): void {
    this.putNode.run(0, index, Buffer.from(leaf));
    let level = 0;
    let idx = index;
    let hash = leaf;
    while (idx % 2 === 1) {
      const left = this.perfect(level, idx - 1);
      hash = nodeHash(left, hash, this.crypto);
      level++;
      idx = Math.floor(idx / 2);
      this.putNode.run(level, idx, Buffer.from(hash));
    }
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
    return inclusionProof(this, index, size, this.crypto);
  }

  consistencyProof(from: number, to: number): Hash[] {
    this.checkSize(to);
    return consistencyProof(this, from, to, this.crypto);
  }

  leafOfEvent(eventId: string): LeafInfo | null {
    const row = this.db.prepare('SELECT idx, position, event_id FROM merkle_leaves WHERE event_id = ?').get(eventId) as { idx: number; position: number; event_id: string } | undefined;
    return row ? { index: row.idx, position: BigInt(row.position), eventId: row.event_id } : null;
  }

  leafHashAt(index: number): Hash {
    return this.perfect(0, index);
  }

  latestCheckpoint(): { size: number; root: Hash; note: string } | null {
    const row = this.db.prepare('SELECT size, root, note FROM merkle_checkpoints ORDER BY size DESC LIMIT 1').get() as { size: number; root: Buffer; note: string } | undefined;
    return row ? { size: row.size, root: new Uint8Array(row.root), note: row.note } : null;
  }

  recordCheckpoint(size: number, root: Hash, note: string, issuedAt: string): void {
    this.db.prepare('INSERT INTO merkle_checkpoints (size, root, note, issued_at) VALUES (?, ?, ?, ?)').run(size, Buffer.from(root), note, issuedAt);
  }

  /** Drops the tree (not the issued checkpoints) and rebuilds it from the event store. */
  async rebuild(): Promise<void> {
    await this.running;
    this.db.exec('DELETE FROM merkle_nodes; DELETE FROM merkle_leaves;');
    this.upperNodes.clear();
    await this.catchUp();
  }

  close(): void {
    this.db.close();
  }

  private checkSize(size: number): void {
    if (!Number.isSafeInteger(size) || size < 0 || size > this.size) {
      throw new RangeError(`tree size ${size} is beyond the log (size ${this.size})`);
    }
  }
}
