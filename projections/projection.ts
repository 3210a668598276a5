import type { LedgerEvent } from '../schemas/index.ts';

export interface EventMeta {
  readonly stream: string;
  readonly revision: bigint;
  readonly position: bigint;
  /** sha256 of the event's canonical envelope. */
  readonly digest: string;
}

/**
 * A document projection: a pure reducer over the events that map to one key. The runner in
 * src/projections stores one JSON document per key and guarantees in-order, exactly-once application.
 */
export interface DocumentProjection<S> {
  readonly name: string;
  /** Bump when evolve changes: the runner then rebuilds the read model from the first event. */
  readonly version: number;
  keyOf(event: LedgerEvent): string | null;
  evolve(state: S | null, event: LedgerEvent, meta: EventMeta): S;
}
