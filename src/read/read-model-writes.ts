/**
 * The read model's writes: each batch's documents, index rows and checkpoints, gathered as rows of strings
 * (WriteBatch) and written in one transaction of multi-row statements (ReadModelWriter). Gathering and
 * writing are apart so that a rebuild can gather on one thread and write on another (./rebuild-thread.ts):
 * the rows are plain strings, which cross threads as they are.
 */
import type Database from 'better-sqlite3';
import { placeholders, runInRows, statementsBySize } from './multi-row.ts';

export type WriteKind = 'putDoc' | 'addIndex' | 'removeIndex';

/** A batch's rows by kind, each row's values flattened: putDoc (projection, key, doc), the index rows (projection, name, value, key). */
export type WriteRows = Readonly<Record<WriteKind, string[]>>;

/** What a batch sets each projection's checkpoint to: its name, version and the batch's last position. */
export type CheckpointRow = readonly [projection: string, version: number, position: bigint];

const WRITE_SQL: Readonly<Record<WriteKind, (rows: number) => string>> = {
  putDoc: (rows) => `INSERT INTO projection_docs (projection, key, doc) VALUES ${placeholders(rows, 3)} ON CONFLICT (projection, key) DO UPDATE SET doc = excluded.doc`,
  addIndex: (rows) => `INSERT OR IGNORE INTO projection_index (projection, name, value, key) VALUES ${placeholders(rows, 4)}`,
  // Rare (a live document losing an index value): one row per statement, found by its primary key.
  removeIndex: () => 'DELETE FROM projection_index WHERE projection = ? AND name = ? AND value = ? AND key = ?',
};
const WRITE_COLUMNS: Readonly<Record<WriteKind, number>> = { putDoc: 3, addIndex: 4, removeIndex: 4 };
const ROWS_PER_STATEMENT: Readonly<Record<WriteKind, number>> = { putDoc: 64, addIndex: 64, removeIndex: 1 };

/** A batch's document and index writes, gathered. Each key's document is written once per batch, as its last state. */
export class WriteBatch {
  readonly rows: WriteRows = { putDoc: [], addIndex: [], removeIndex: [] };

  putDoc(projection: string, key: string, doc: string): void {
    this.rows.putDoc.push(projection, key, doc);
  }

  addIndex(projection: string, name: string, value: string, key: string): void {
    this.rows.addIndex.push(projection, name, value, key);
  }

  removeIndex(projection: string, name: string, value: string, key: string): void {
    this.rows.removeIndex.push(projection, name, value, key);
  }
}

/** Writes batches into a read model's connection: the statements are prepared once per size. */
export class ReadModelWriter {
  private readonly statements: Readonly<Record<WriteKind, (rows: number) => Database.Statement>>;
  private readonly setCheckpoint: Database.Statement;
  private readonly transaction: (rows: WriteRows, checkpoints: readonly CheckpointRow[]) => void;

  constructor(db: Database.Database) {
    this.statements = { putDoc: statementsBySize(db, WRITE_SQL.putDoc), addIndex: statementsBySize(db, WRITE_SQL.addIndex), removeIndex: statementsBySize(db, WRITE_SQL.removeIndex) };
    this.setCheckpoint = db.prepare(
      'INSERT INTO projection_checkpoints (projection, version, position) VALUES (?, ?, ?) ON CONFLICT (projection) DO UPDATE SET version = excluded.version, position = excluded.position',
    );
    this.transaction = db.transaction((rows: WriteRows, checkpoints: readonly CheckpointRow[]) => this.writeInTransaction(rows, checkpoints));
  }

  /** The rows and the checkpoints, in a transaction of their own. */
  write(rows: WriteRows, checkpoints: readonly CheckpointRow[]): void {
    this.transaction(rows, checkpoints);
  }

  /** The rows and the checkpoints, in the transaction the caller has open. Removals run before additions. */
  writeInTransaction(rows: WriteRows, checkpoints: readonly CheckpointRow[]): void {
    for (const kind of ['putDoc', 'removeIndex', 'addIndex'] as const) runInRows(rows[kind], WRITE_COLUMNS[kind], ROWS_PER_STATEMENT[kind], this.statements[kind]);
    for (const row of checkpoints) this.setCheckpoint.run(...row);
  }
}
