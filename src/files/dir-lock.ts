/**
 * An exclusive lock on a data directory, held for the life of the process that takes it: two ledger servers
 * on one directory would interleave appends, checkpoints and derived files.
 *
 * Node has no flock(2). A pid file created with O_EXCL is not crash-safe (kill -9 leaves it behind, and a pid
 * is reused). SQLite's own locking is: the lock is an fcntl(2) lock on `lock.sqlite`, taken by an EXCLUSIVE
 * transaction that is never committed, and the kernel releases it when the process ends, however it ends.
 * Taking it never waits: a second process is refused at once. `lock.holder` beside it says who holds the
 * lock, for the message; it is never what decides.
 */
import Database from 'better-sqlite3';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

export const LOCK_FILE = 'lock.sqlite';
const HOLDER_FILE = 'lock.holder';

/** The data directory is in use by another process, or cannot be locked. */
export class DataDirectoryLockedError extends Error {
  override readonly name = 'DataDirectoryLockedError';
}

export interface DataDirectoryLock {
  readonly file: string;
  release(): void;
}

export function lockDataDirectory(dir: string, purpose = 'flashtrail serve'): DataDirectoryLock {
  const file = join(dir, LOCK_FILE);
  closeSync(openSync(file, 'a', 0o600)); // created private: SQLite would create it with the umask's mode
  // timeout 0: SQLITE_BUSY at once instead of better-sqlite3's default 5 s of retries.
  const db = new Database(file, { timeout: 0 });
  try {
    db.pragma('journal_mode = DELETE');
    db.exec('BEGIN EXCLUSIVE');
  } catch (error) {
    db.close();
    if ((error as { code?: string }).code === 'SQLITE_BUSY') {
      throw new DataDirectoryLockedError(`the data directory ${dir} is in use by another flashtrail process${holderOf(dir)}: stop it first (${file} is locked)`);
    }
    throw error;
  }
  writeFileSync(join(dir, HOLDER_FILE), JSON.stringify({ pid: process.pid, host: hostname(), purpose, since: new Date().toISOString() }) + '\n', { mode: 0o600 });
  let held = true;
  return {
    file,
    release() {
      if (!held) return;
      held = false;
      db.close(); // rolls the open transaction back, and with it the lock
    },
  };
}

function holderOf(dir: string): string {
  try {
    const holder = JSON.parse(readFileSync(join(dir, HOLDER_FILE), 'utf8')) as { pid?: unknown; host?: unknown; purpose?: unknown; since?: unknown };
    return ` (${String(holder.purpose)}, pid ${String(holder.pid)} on ${String(holder.host)}, since ${String(holder.since)})`;
  } catch {
    return '';
  }
}
