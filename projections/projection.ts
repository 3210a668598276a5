import type { LedgerEvent } from '../schemas/index.ts';

export interface EventMeta {
  readonly stream: string;
  readonly revision: bigint;
  readonly position: bigint;
  /** sha256 of the event's canonical envelope. */
  readonly digest: string;
}

/**
 * Reads a document as of the events applied so far: of the same projection, or, given `projection`, of one the
 * reducer names in its `reads` (that projection has then applied this event too). A document looked up is
 * read, never kept in the reducer's own state: its owner may change it in place later in the batch.
 */
export type Lookup = <T>(key: string, projection?: string) => T | null;

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
  /**
   * The projections whose documents evolve looks up (the second argument of `lookup`): they must come before
   * this one in the runner's list, and they are rebuilt together (a version change of either rebuilds both),
   * so that each event's lookup sees them as of that event.
   */
  readonly reads?: readonly string[];
  keyOf(event: LedgerEvent): string | null;
  /**
   * Returns the next state: a new object, or `state` itself. `owned` says that `state` is this reducer's own
   * working copy (an object it returned for an earlier event of the runner's batch, that nobody else holds):
   * it may then set the members of `state` in place and return it, instead of copying it per event. Without
   * `owned`, `state` is shared (the runner's cache, the document on file) and must not change.
   */
  evolve(state: S | null, event: LedgerEvent, meta: EventMeta, lookup: Lookup, owned?: boolean): S;
  indexes?(doc: S): readonly (readonly [name: string, value: string])[];
}
