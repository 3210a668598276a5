/**
 * What the rest of the ledger reads the read model through (routes, the interlock, exports, the station key
 * directory, /metrics): the projections' documents and indexes, and catchUp(), which every query that promises
 * read-your-writes awaits first. Two implementations: the ProjectionRunner itself (in-process: the offline
 * commands, PostgreSQL and KurrentDB stores) and ReadSideThread (src/read/read-side-worker.ts: the runner on a
 * worker thread, queries on a read-only connection of the serving thread).
 */
import type { ProjectionStatus, CommitSignal } from './projection-runner.ts';
import { unitStateProjection } from '../../projections/unit-state.ts';
import { productionProjection } from '../../projections/production.ts';
import { componentIndexProjection } from '../../projections/components.ts';

/** The read model's projections, kept by the server and rebuilt by `flashtrail projections rebuild`. */
export const READ_MODEL_PROJECTIONS = [unitStateProjection, productionProjection, componentIndexProjection];

export interface ReadModel {
  /** Resolves once every event committed before the call is projected (read-your-writes). */
  catchUp(): Promise<void>;
  get<T>(projection: string, key: string): T | null;
  list<T>(projection: string, options: { after?: string; limit: number }): T[];
  findKeys(projection: string, name: string, value: string, options?: { after?: string; limit?: number }): string[];
  findDocs<T>(projection: string, name: string, value: string, options?: { after?: string; limit?: number }): T[];
  rangeDocs<T>(projection: string, name: string, from: string, to: string): T[];
  /** Each projection's position and lag behind the store's head, as on file now (no catching up). */
  status(): Promise<ProjectionStatus[]>;
}

/** A read model a server keeps current: started on the store's commits (or a subscription), stopped, closed. */
export interface LiveReadModel extends ReadModel {
  start(onError?: (error: unknown) => void, settleMs?: number, committed?: CommitSignal): void;
  stop(): Promise<void>;
  close(): void | Promise<void>;
  /** Every document and index row of every projection, in order: what rebuild equality is checked on. */
  dump(): string;
}
