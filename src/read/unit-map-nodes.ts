/**
 * The unit history map's trees on disk (issue 19: the server's memory flat as the ledger grows): the nodes of
 * the map tree, of the firmware values' own tree before the v2 switch, and of every digest's set tree, as rows
 * of unit-map.sqlite (docs/format.md §15.3, storage notes), read by src/tlog/mpt.ts when a lookup needs them.
 *
 *   map_nodes    (id, row)                 one row per node ever flushed and not yet freed (mpt.ts encodeRow)
 *   map_trees    (name, root, hash, size)  where each tree starts: 'map', 'firmware', 'set/<sha256>'
 *   map_garbage  (at, id)                  nodes that commitment `at` replaced: still in the snapshots of
 *                                          earlier commitments, freed once none is served (UnitMapIndex)
 *
 * Rows are written in the transaction of the stage or commitment they belong to (unit-map-storage.ts), so the
 * trees on disk are always those of one flush. Every read is checked by the tree against the hash its parent
 * holds, the root against the committed map root: a changed row is found, never served.
 */
import type Database from 'better-sqlite3';
import { MPT_EMPTY_ROOT, MptIntegrityError, type MptPages, type MptStoredTree } from '../tlog/mpt.ts';

export const NODE_SCHEMA = `
CREATE TABLE IF NOT EXISTS map_nodes (id INTEGER PRIMARY KEY, row BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS map_trees (name TEXT PRIMARY KEY, root INTEGER NOT NULL, hash BLOB NOT NULL, size INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS map_garbage (at INTEGER NOT NULL, id INTEGER NOT NULL, PRIMARY KEY (at, id)) WITHOUT ROWID;
`;

const EMPTY: MptStoredTree = { root: 0, hash: MPT_EMPTY_ROOT, size: 0 };

/** What a stage or commitment writes of the trees (in its own transaction). */
export interface UnitMapNodeSink {
  node(id: number, row: Uint8Array): void;
  tree(name: string, stored: MptStoredTree): void;
  /** Nodes no tree holds any more since the flush before: the snapshots of commitments before `at` may. */
  replaced(ids: readonly number[], at: number): void;
}

export class SqliteUnitMapNodes implements MptPages {
  private next: number;
  private readonly readRow: Database.Statement<[number], Buffer>;
  private readonly readTree: Database.Statement<[string], { root: number; hash: Buffer; size: number }>;
  private readonly readSlots: Database.Statement<[string], { slot: string; sha256: string }>;

  constructor(private readonly db: Database.Database) {
    this.next = ((db.prepare('SELECT MAX(id) AS n FROM map_nodes').get() as { n: number | null }).n ?? 0) + 1;
    this.readRow = db.prepare<[number], Buffer>('SELECT row FROM map_nodes WHERE id = ?').pluck();
    this.readTree = db.prepare('SELECT root, hash, size FROM map_trees WHERE name = ?');
    this.readSlots = db.prepare('SELECT slot, sha256 FROM map_slots WHERE serial = ?');
  }

  read(id: number): Uint8Array {
    const row = this.readRow.get(id);
    if (row === undefined) throw new MptIntegrityError(`stored node ${id} is missing from map_nodes: the node store was changed or damaged`);
    return row;
  }

  allocate(): number {
    return this.next++;
  }

  /** A tree as the last flush recorded it (the empty tree when it never was). */
  tree(name: string): MptStoredTree {
    const row = this.readTree.get(name);
    return row ? { root: row.root, hash: new Uint8Array(row.hash), size: row.size } : EMPTY;
  }

  /** A digest's set tree, or null when no flush wrote one. */
  setTree(digest: string): MptStoredTree | null {
    const row = this.readTree.get(`set/${digest}`);
    return row ? { root: row.root, hash: new Uint8Array(row.hash), size: row.size } : null;
  }

  /** Whether any tree was flushed (a state with commitments but no trees is not this format's). */
  get empty(): boolean {
    return this.db.prepare('SELECT 1 FROM map_trees LIMIT 1').get() === undefined;
  }

  slotsOf(serial: string): { slot: string; sha256: string }[] {
    return this.readSlots.all(serial);
  }

  /** The sink a stage or commitment writes through; called inside its transaction. */
  sink(): UnitMapNodeSink {
    const putNode = this.db.prepare('INSERT INTO map_nodes (id, row) VALUES (?, ?)');
    const putTree = this.db.prepare('INSERT INTO map_trees (name, root, hash, size) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET root = excluded.root, hash = excluded.hash, size = excluded.size');
    const putGarbage = this.db.prepare('INSERT OR IGNORE INTO map_garbage (at, id) VALUES (?, ?)');
    return {
      node: (id, row) => void putNode.run(id, row),
      tree: (name, t) => void putTree.run(name, t.root, t.hash, t.size),
      replaced: (ids, at) => {
        for (const id of ids) putGarbage.run(at, id);
      },
    };
  }

  /** Deletes the nodes replaced by commitments up to `at` (no snapshot served needs them). */
  free(at: number): void {
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM map_nodes WHERE id IN (SELECT id FROM map_garbage WHERE at <= ?)').run(at);
      this.db.prepare('DELETE FROM map_garbage WHERE at <= ?').run(at);
    })();
  }

  reset(): void {
    this.db.exec('DELETE FROM map_nodes; DELETE FROM map_trees; DELETE FROM map_garbage;');
  }
}
