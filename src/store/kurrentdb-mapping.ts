/**
 * Pure translation between flashtrail's event store port and KurrentDB/EventStoreDB's client types:
 * expected stream states, wrong-expected-version errors, $all positions and recorded events.
 * Kept apart from the adapter so that it is unit-tested without a server.
 */
import type { ExpectedRevision, RecordedEvent } from './event-store.ts';
import { WrongExpectedVersionError } from './event-store.ts';

/** The streams flashtrail writes; the $all subscription is filtered to them (no system or foreign streams). */
export const LEDGER_STREAM_PREFIXES = ['unit-', 'station-', 'release-', 'batch-', 'ledger-'] as const;

export type KurrentStreamState = 'any' | 'no_stream' | 'stream_exists' | bigint;

export function toStreamState(expected: ExpectedRevision | undefined): KurrentStreamState {
  return expected ?? 'any';
}

/** KurrentDB reports the actual state as a revision, or as 'no_stream' when the stream does not exist. */
export function fromWrongExpectedVersion(error: { streamName: string; expectedState: unknown; actualState: unknown }): WrongExpectedVersionError {
  const expected = error.expectedState;
  const actual = error.actualState;
  return new WrongExpectedVersionError(
    error.streamName,
    typeof expected === 'bigint' || expected === 'any' || expected === 'no_stream' || expected === 'stream_exists' ? expected : 'any',
    typeof actual === 'bigint' ? actual : 'no_stream',
  );
}

/**
 * A KurrentDB $all position is a (commit, prepare) pair; flashtrail's is one number. The prepare position
 * is unique per event and grows in log order, and commit >= prepare, so reading from
 * {commit: p, prepare: p} and skipping positions <= p resumes exactly after p.
 */
export function toPortPosition(position: { commit: bigint; prepare: bigint } | undefined): bigint {
  if (!position) throw new Error('KurrentDB returned an event without a position');
  return position.prepare;
}

export function fromPortPosition(after: bigint | undefined): 'start' | { commit: bigint; prepare: bigint } {
  return after === undefined || after < 0n ? 'start' : { commit: after, prepare: after };
}

export interface KurrentRecorded {
  readonly id: string;
  readonly type: string;
  readonly streamId: string;
  readonly revision: bigint;
  readonly created: Date;
  readonly data: unknown;
  readonly position?: { commit: bigint; prepare: bigint };
}

export function toRecordedEvent(e: KurrentRecorded, position?: bigint): RecordedEvent {
  if (!(e.data instanceof Uint8Array)) throw new Error(`event ${e.id} of ${e.streamId} is not a binary event`);
  return {
    id: e.id,
    type: e.type,
    stream: e.streamId,
    revision: e.revision,
    position: position ?? toPortPosition(e.position),
    data: new Uint8Array(e.data),
    recordedAt: e.created.toISOString(),
  };
}

export function isLedgerStream(stream: string): boolean {
  return LEDGER_STREAM_PREFIXES.some((p) => stream.startsWith(p));
}
