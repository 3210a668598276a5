/**
 * Electing one instance among several on a PostgreSQL store: whoever holds a session-level advisory lock
 * (pg_try_advisory_lock) on a dedicated connection is the leader, for as long as that session lives. A
 * leader killed with SIGKILL, or cut off, loses its session, and with it the lock: the server releases it
 * as soon as it sees the connection closed, and the next candidate to try takes it. The session is handed
 * to the leader's work, so that its writes go through the lock itself and fail once it is lost (the fence:
 * a deposed leader cannot write behind its successor's back).
 */
import pg from 'pg';
import { advisoryLockKey } from './postgres.ts';

export interface ElectionHandlers {
  /** This instance is now the leader; `session` holds the lock. */
  elected(session: pg.Client): void;
  /** The lock is lost (connection gone, health check failed) or given up at close. */
  deposed(reason: string): void;
}

export interface PostgresLeaderElectionOptions {
  /** How often a candidate tries for the lock, in ms. */
  readonly retryMs?: number;
  /** How often the leader checks that its session is alive, in ms. */
  readonly healthCheckMs?: number;
}

export class PostgresLeaderElection {
  readonly lockKey: bigint;
  private readonly retryMs: number;
  private readonly healthCheckMs: number;
  private session: pg.Client | null = null;
  private leader = false;
  private closed = false;
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;

  constructor(
    private readonly connectionString: string,
    schema: string,
    purpose: string,
    options: PostgresLeaderElectionOptions = {},
  ) {
    this.lockKey = advisoryLockKey(schema, purpose);
    this.retryMs = options.retryMs ?? 500;
    this.healthCheckMs = options.healthCheckMs ?? 1000;
  }

  isLeader(): boolean {
    return this.leader;
  }

  start(handlers: ElectionHandlers): void {
    this.loop ??= this.run(handlers);
  }

  private async run(handlers: ElectionHandlers): Promise<void> {
    while (!this.closed) {
      const session = new pg.Client({ connectionString: this.connectionString, application_name: 'flashtrail log writer election' });
      let lost: string | null = null;
      session.on('error', (error) => (lost ??= error.message));
      session.on('end', () => (lost ??= 'connection closed'));
      try {
        await session.connect();
        this.session = session;
        while (!this.closed && lost === null) {
          const { rows } = await session.query<{ got: boolean }>('SELECT pg_try_advisory_lock($1) AS got', [this.lockKey]);
          if (rows[0]?.got) break;
          await this.sleep(this.retryMs);
        }
        if (!this.closed && lost === null) {
          this.leader = true;
          handlers.elected(session);
          while (!this.closed && lost === null) {
            await this.sleep(this.healthCheckMs);
            if (!this.closed) await session.query('SELECT 1');
          }
        }
      } catch (error) {
        lost ??= (error as Error).message;
      }
      if (this.leader) {
        this.leader = false;
        handlers.deposed(this.closed ? 'closing' : (lost ?? 'unknown'));
      }
      this.session = null;
      // Ending the session releases the lock (if held) at once.
      await session.end().catch(() => undefined);
      if (!this.closed) await this.sleep(this.retryMs);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = null;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = null;
        resolve();
      };
    });
  }

  /** Gives up the lock (if held) and stops trying. */
  async close(): Promise<void> {
    this.closed = true;
    this.wake?.();
    await this.loop;
  }
}
