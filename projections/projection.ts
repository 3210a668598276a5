import type { LedgerEvent } from '../schemas/index.ts';

export interface EventMeta {
  readonly stream: string;
  readonly revision: bigint;
  readonly position: bigint;
  /** sha256 of the event's canonical envelope. */
  readonly digest: string;
}

/** Reads another document of the same projection, as of the events applied so far. */
export type Lookup = <T>(key: string) => T | null;

/**
 * A document projection: a pure reducer over the events that map to one key. The runner in
 * src/projections stores one JSON document per key and guarantees in-order, exactly-once application.
 * `indexes` names the values a document is found by (e.g. the firmware hashes a unit carries); the runner
 * keeps them in an index table so that queries never scan documents.
 */
export interface DocumentProjection<S> {
  readonly name: string;
  /** Bump when evolve or indexes change: the runner then rebuilds the read model from the first event. */
  readonly version: number;
  keyOf(event: LedgerEvent): string | null;
  evolve(state: S | null, event: LedgerEvent, meta: EventMeta, lookup: Lookup): S;
  indexes?(doc: S): readonly (readonly [name: string, value: string])[];
}
