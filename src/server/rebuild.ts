/**
 * `flashtrail projections rebuild`: rebuilds the derived files of a data directory (the Merkle log and the
 * read model) from the configured event store, whichever it is. The Merkle log is replaced only if the
 * event log still reproduces every signed checkpoint (src/read/merkle-rebuild.ts); when it does not, nothing
 * is changed and the result is false. Run it while the ledger server is stopped. On PostgreSQL the Merkle log
 * lives in the database, shared and append-only: it is checked against the event log, not replaced
 * (src/read/postgres-merkle-check.ts), and the instance's read model is rebuilt if it holds.
 */
import { chmodSync, existsSync } from 'node:fs';
import { ProjectionRunner } from '../read/projection-runner.ts';
import { lockDataDirectory, type DataDirectoryLock } from '../files/dir-lock.ts';
import { describeMerkleRebuild, rebuildMerkleLog, type MerkleRebuildReport } from '../read/merkle-rebuild.ts';
import { merkleLogFile, openEventStore, READ_MODEL_PROJECTIONS, readModelFile, type LedgerConfig } from './main.ts';
import { PostgresEventStore } from '../store/postgres.ts';
import { checkSharedMerkleLog, type SharedLogCheck } from '../read/postgres-merkle-check.ts';

export interface RebuildResult {
  readonly merkle: MerkleRebuildReport | SharedLogCheck;
  /** False when the Merkle log was kept (and the read model left alone) because the event log diverged. */
  readonly ok: boolean;
}

export async function rebuildDerivedFiles(config: LedgerConfig, say: (line: string) => void): Promise<RebuildResult> {
  const store = openEventStore(config);
  // A running server has these files open: refuse rather than swap them under it.
  let lock: DataDirectoryLock;
  try {
    lock = lockDataDirectory(config.dataDir, 'flashtrail projections rebuild');
  } catch (error) {
    await store.close();
    throw error;
  }
  try {
    let merkle: MerkleRebuildReport | SharedLogCheck;
    if (store instanceof PostgresEventStore) {
      const check = await checkSharedMerkleLog(store);
      say(describeSharedLogCheck(check));
      merkle = check;
    } else {
      const rebuilt = await rebuildMerkleLog(store, merkleLogFile(config));
      say(describeMerkleRebuild(rebuilt));
      merkle = rebuilt;
    }
    if (!merkle.ok) return { merkle, ok: false };
    const runner = new ProjectionRunner(store, readModelFile(config), READ_MODEL_PROJECTIONS);
    try {
      await runner.rebuild((position, head) => say(`rebuilding projections: ${position < 0n ? 0 : position}/${head < 0n ? 0 : head} events`));
    } finally {
      runner.close();
    }
    // The rebuilt files are new: private, as the server keeps every file of the data directory.
    for (const file of [merkleLogFile(config), readModelFile(config)].flatMap((f) => [f, `${f}-wal`, `${f}-shm`])) {
      if (existsSync(file)) chmodSync(file, 0o600);
    }
    say('rebuild complete');
    return { merkle, ok: true };
  } finally {
    lock.release();
    await store.close();
  }
}

function describeSharedLogCheck(check: SharedLogCheck): string {
  return check.ok
    ? `checked the shared Merkle log in PostgreSQL: ${check.eventsReplayed} events replayed, root ${check.root} at its size ${check.size}, ${check.checkpointsReproduced} signed checkpoints reproduced`
    : `the shared Merkle log in PostgreSQL does not match the event log: ${check.reason}. Nothing was changed`;
}
