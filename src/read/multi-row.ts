/**
 * Multi-row statements for the read side's bulk writes (the projection runner's documents and index rows, the
 * Merkle log's leaves and nodes): one statement of many rows costs less than as many one-row statements (the
 * binding and stepping of each was more than the B-tree work, profiled on a rebuild).
 */
import type Database from 'better-sqlite3';

/** `rows` placeholders of `columns` each: `(?, ?), (?, ?), …`. */
export function placeholders(rows: number, columns: number): string {
  const row = `(${Array.from({ length: columns }, () => '?').join(', ')})`;
  return Array.from({ length: rows }, () => row).join(', ');
}

/**
 * Runs `params` (rows of `columns` values, flattened) through statements of `maxRows` rows, the rest through
 * statements of half as many, a quarter, … one row: a handful of prepared statements (`statement(rows)`, which
 * the caller keeps) serve every count.
 */
export function runInRows(params: readonly unknown[], columns: number, maxRows: number, statement: (rows: number) => Database.Statement): void {
  let at = 0;
  for (let rows = maxRows; rows >= 1; rows >>= 1) {
    const width = rows * columns;
    for (; params.length - at >= width; at += width) statement(rows).run(params.slice(at, at + width));
  }
}

/** statement(rows) for runInRows, each size prepared once from `sql(rows)`. */
export function statementsBySize(db: Database.Database, sql: (rows: number) => string): (rows: number) => Database.Statement {
  const prepared = new Map<number, Database.Statement>();
  return (rows) => {
    let statement = prepared.get(rows);
    if (!statement) prepared.set(rows, (statement = db.prepare(sql(rows))));
    return statement;
  };
}
