/**
 * Runs document projections over $all into a SQLite read model. Documents and the checkpoint are written
 * in one transaction per batch, so every event is applied exactly once, in commit order, across restarts.
 * The read model is disposable: rebuild() replays from the first event to the identical result.
 */
import Database from 'better-sqlite3';
import type { EventStore } from '../store/event-store.ts';
import type { DocumentProjection } from '../../projections/projection.ts';
import { decodeStored } from '../ledger/codec.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS projection_checkpoints (
  projection TEXT PRIMARY KEY,
  version    INTEGER NOT NULL,
  position   INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS projection_docs (
  projection TEXT NOT NULL,
  key        TEXT NOT NULL,
  doc        TEXT NOT NULL,
  PRIMARY KEY (projection, key)
) WITHOUT ROWID;
`;

export interface ProjectionStatus {
  readonly name: string;
  readonly position: bigint;
  readonly lag: bigint;
}

export class ProjectionRunner {
  private readonly db: Database.Database;
  private running: Promise<void> = Promise.resolve();
  private stopLive: (() => Promise<void>) | null = null;

  constructor(
    private readonly store: EventStore,
    file: string,
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- heterogeneous document types
    private readonly projections: readonly DocumentProjection<any>[],
    private readonly batchSize = 2000,
  ) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(SCHEMA);
    for (const p of projections) {
      const row = this.db.prepare('SELECT version FROM projection_checkpoints WHERE projection = ?').get(p.name) as { version: number } | undefined;
      if (row && row.version !== p.version) this.reset(p.name);
    }
  }

  /** Applies every event committed so far. Concurrent calls share one pass. */
  catchUp(): Promise<void> {
    const pass = this.running.then(() => this.catchUpNow());
    this.running = pass.catch(() => undefined);
    return pass;
  }

  private async catchUpNow(): Promise<void> {
    for (;;) {
      const from = this.lowestCheckpoint();
      const events = await this.store.readAll({ after: from, maxCount: this.batchSize });
      if (events.length === 0) return;
      const getDoc = this.db.prepare('SELECT doc FROM projection_docs WHERE projection = ? AND key = ?');
      const putDoc = this.db.prepare('INSERT INTO projection_docs (projection, key, doc) VALUES (?, ?, ?) ON CONFLICT (projection, key) DO UPDATE SET doc = excluded.doc');
      const setCheckpoint = this.db.prepare(
        'INSERT INTO projection_checkpoints (projection, version, position) VALUES (?, ?, ?) ON CONFLICT (projection) DO UPDATE SET version = excluded.version, position = excluded.position',
      );
      this.db.transaction(() => {
        const checkpoints = new Map(this.projections.map((p) => [p.name, this.checkpointOf(p.name)]));
        for (const recorded of events) {
          const decoded = decodeStored(recorded.data);
          const meta = { stream: recorded.stream, revision: recorded.revision, position: recorded.position, digest: decoded.digest };
          for (const p of this.projections) {
            if (recorded.position <= (checkpoints.get(p.name) as bigint)) continue;
            const key = p.keyOf(decoded.event);
            if (key === null) continue;
            const row = getDoc.get(p.name, key) as { doc: string } | undefined;
            const next = p.evolve(row ? JSON.parse(row.doc) : null, decoded.event, meta);
            putDoc.run(p.name, key, JSON.stringify(next));
          }
        }
        const last = (events[events.length - 1] as { position: bigint }).position;
        for (const p of this.projections) setCheckpoint.run(p.name, p.version, last);
      })();
    }
  }

  /** Drops the read model and replays every event from the start of the log. */
  async rebuild(onProgress?: (position: bigint, head: bigint) => void): Promise<void> {
    await this.running;
    for (const p of this.projections) this.reset(p.name);
    const head = await this.store.headPosition();
    if (onProgress) {
      const timer = setInterval(() => onProgress(this.lowestCheckpoint(), head), 1000);
      try {
        await this.catchUp();
      } finally {
        clearInterval(timer);
      }
      onProgress(this.lowestCheckpoint(), head);
    } else {
      await this.catchUp();
    }
  }

  /** Keeps the read model current from a live $all subscription until stop(). */
  start(): void {
    if (this.stopLive) return;
    const subscription = this.store.subscribeToAll({ after: this.lowestCheckpoint() });
    let stopped = false;
    const loop = (async () => {
      try {
        for await (const event of subscription) {
          if (stopped) break;
          if (event.position > this.lowestCheckpoint()) await this.catchUp();
        }
      } catch {
        // The store closed under us; a restart catches up from the checkpoint.
      }
    })();
    this.stopLive = async () => {
      stopped = true;
      await subscription.close();
      await loop;
    };
  }

  async stop(): Promise<void> {
    const stop = this.stopLive;
    this.stopLive = null;
    if (stop) await stop();
    await this.running;
  }

  get<T>(projection: string, key: string): T | null {
    const row = this.db.prepare('SELECT doc FROM projection_docs WHERE projection = ? AND key = ?').get(projection, key) as { doc: string } | undefined;
    return row ? (JSON.parse(row.doc) as T) : null;
  }

  list<T>(projection: string, options: { after?: string; limit: number }): T[] {
    const rows = this.db
      .prepare('SELECT doc FROM projection_docs WHERE projection = ? AND key > ? ORDER BY key LIMIT ?')
      .all(projection, options.after ?? '', options.limit) as { doc: string }[];
    return rows.map((r) => JSON.parse(r.doc) as T);
  }

  /** Every document of every projection, in key order: what rebuild equality is checked on. */
  dump(): string {
    const rows = this.db.prepare('SELECT projection, key, doc FROM projection_docs ORDER BY projection, key').all();
    return JSON.stringify(rows);
  }

  async status(): Promise<ProjectionStatus[]> {
    const head = await this.store.headPosition();
    return this.projections.map((p) => {
      const position = this.checkpointOf(p.name);
      return { name: p.name, position, lag: head > position ? head - position : 0n };
    });
  }

  close(): void {
    this.db.close();
  }

  private checkpointOf(name: string): bigint {
    const row = this.db.prepare('SELECT position FROM projection_checkpoints WHERE projection = ?').get(name) as { position: number } | undefined;
    return row ? BigInt(row.position) : -1n;
  }

  private lowestCheckpoint(): bigint {
    return this.projections.reduce((min, p) => {
      const c = this.checkpointOf(p.name);
      return c < min ? c : min;
    }, BigInt(Number.MAX_SAFE_INTEGER));
  }

  private reset(name: string): void {
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM projection_docs WHERE projection = ?').run(name);
      this.db.prepare('DELETE FROM projection_checkpoints WHERE projection = ?').run(name);
    })();
  }
}
