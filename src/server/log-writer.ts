/**
 * Several API instances on one PostgreSQL store: every instance accepts appends and serves reads and
 * proofs from the shared Merkle log; exactly one, the elected log writer, extends that log and signs
 * checkpoints. An instance that needs a checkpoint it cannot sign (a provenance document or an export
 * covering events the last checkpoint does not) asks the writer over NOTIFY and waits for it to appear.
 */
import type { Logger } from 'pino';
import type { PostgresEventStore } from '../store/postgres.ts';
import { PostgresLeaderElection } from '../store/postgres-election.ts';
import { PostgresMerkleLog } from '../read/postgres-merkle-log.ts';
import type { Checkpointer, SigningLeadership } from '../write/checkpointer.ts';
import { LedgerError } from '../write/errors.ts';

export interface SharedLogOptions {
  /** How long an instance waits for the writer's checkpoint before answering 503, in ms. */
  readonly checkpointWaitMs?: number;
  /** How often a candidate tries for the writer's lock, in ms. */
  readonly electionRetryMs?: number;
  /**
   * Pinned keys this instance's key also continues (during and after a rotation: the replaced key, and every
   * key of the log's rotation chain that leads to it), docs/shared-log.md §2.2.
   */
  readonly acceptedKeys?: readonly string[];
}

export interface SharedLog {
  readonly log: PostgresMerkleLog;
  readonly leadership: SigningLeadership;
  /** Joins the election; the checkpointer signs what other instances ask for while this one is the writer. */
  start(checkpointer: Checkpointer): void;
  close(): Promise<void>;
}

export async function openSharedLog(store: PostgresEventStore, verifierKey: string, logger: Logger, options: SharedLogOptions = {}): Promise<SharedLog> {
  const log = new PostgresMerkleLog(store);
  await log.open(verifierKey, options.acceptedKeys ?? []);
  const election = new PostgresLeaderElection(store.connectionString, store.schema, 'log-writer', { retryMs: options.electionRetryMs ?? 500 });
  const wantedChannel = `flashtrail_checkpoint_wanted_${store.schema}`;
  const checkpointWaitMs = options.checkpointWaitMs ?? 15_000;
  const unlisten: (() => void)[] = [];

  const leadership: SigningLeadership = {
    isLeader: () => log.isWriter,
    // Wrong key for the tree (docs/shared-log.md §2.1): stop writing, end the session (it releases the lock),
    // never campaign again until restarted with the new key files.
    abdicate: (reason) => {
      logger.error({ schema: store.schema, reason }, 'giving up the log writer lock for good: this instance cannot sign the log');
      log.stopWriting();
      void election.close();
    },
    requestCheckpoint: async (size) => {
      const deadline = Date.now() + checkpointWaitMs;
      let wake: (() => void) | null = null;
      const off = store.onNotification(log.checkpointChannel, () => wake?.());
      try {
        for (;;) {
          const latest = await log.latestCheckpoint();
          if (latest && latest.size >= size) return latest.note;
          if (Date.now() >= deadline) throw new LedgerError('UNAVAILABLE', `no log writer signed a checkpoint of ${size} leaves within ${checkpointWaitMs / 1000} s; retry later`, { size });
          // Asked again on every round: a writer elected meanwhile hears it too.
          await store.pool.query('SELECT pg_notify($1, $2)', [wantedChannel, String(size)]);
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, 500);
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
        }
      } finally {
        off();
      }
    },
  };

  return {
    log,
    leadership,
    start(checkpointer) {
      unlisten.push(
        store.onNotification(wantedChannel, () => {
          if (log.isWriter) void checkpointer.issue().catch((error: unknown) => logger.error({ err: (error as Error).message }, 'checkpoint asked for by another instance failed'));
        }),
      );
      election.start({
        elected: (session) => {
          log.becomeWriter(session);
          logger.info({ schema: store.schema }, 'elected log writer: this instance extends the Merkle log and signs checkpoints');
        },
        deposed: (reason) => {
          log.stopWriting();
          if (reason === 'closing') logger.info({ schema: store.schema }, 'log writer lock released');
          else logger.warn({ schema: store.schema, reason }, 'no longer the log writer');
        },
      });
    },
    async close() {
      for (const off of unlisten.splice(0)) off();
      log.stopWriting();
      await election.close();
      log.close();
    },
  };
}
