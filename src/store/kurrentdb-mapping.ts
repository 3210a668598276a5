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

/**
 * KurrentDB de-duplicates event ids only within a stream (and only "in quick succession"); the port
 * promises an id is unique across the store. So every appended event also reserves its id in a stream of
 * its own, `flashtrail-eventid-<id>`, written in the same atomic multi-stream append with expected state
 * no_stream: a second writer of the same id anywhere fails that expectation. These streams are outside
 * LEDGER_STREAM_PREFIXES, so they never reach $all readers (the Merkle log, projections).
 */
export const EVENT_ID_STREAM_PREFIX = 'flashtrail-eventid-';
export const EVENT_ID_RESERVED_TYPE = 'EventIdReserved';

export const eventIdStream = (eventId: string): string => `${EVENT_ID_STREAM_PREFIX}${eventId}`;

export function isEventIdStream(stream: string): boolean {
  return stream.startsWith(EVENT_ID_STREAM_PREFIX);
}

/** Where a reserved id was written: enough to recognise an exact retry without an index by id. */
export interface EventIdReservation {
  readonly stream: string;
  readonly revision: bigint;
}

export function encodeReservation(r: EventIdReservation): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ stream: r.stream, revision: r.revision.toString() }));
}

export function decodeReservation(bytes: Uint8Array): EventIdReservation {
  const parsed = JSON.parse(new TextDecoder().decode(bytes)) as { stream?: unknown; revision?: unknown };
  if (typeof parsed.stream !== 'string' || typeof parsed.revision !== 'string' || !/^(0|[1-9][0-9]*)$/.test(parsed.revision)) {
    throw new Error('not an event id reservation');
  }
  return { stream: parsed.stream, revision: BigInt(parsed.revision) };
}

export type ReplayVerdict =
  | { readonly kind: 'fresh' }
  | { readonly kind: 'replay'; readonly firstRevision: bigint }
  | { readonly kind: 'duplicate'; readonly eventId: string; readonly heldBy: string };

/**
 * The port's idempotency rule, given the reservations found for a request's ids: none reserved is a fresh
 * append; all reserved by this stream at consecutive revisions is a candidate replay (the caller still
 * compares the stored bytes); anything else reuses an id and is refused.
 */
export function classifyReservations(stream: string, eventIds: readonly string[], found: readonly (EventIdReservation | null)[]): ReplayVerdict {
  const firstReserved = found.findIndex((r) => r !== null);
  if (firstReserved < 0) return { kind: 'fresh' };
  const first = found[0];
  const consecutive = first !== null && first !== undefined && found.every((r, i) => r !== null && r.stream === stream && r.revision === first.revision + BigInt(i));
  if (consecutive) return { kind: 'replay', firstRevision: first.revision };
  // Name an id held by another stream if there is one: that is the more useful evidence.
  const foreign = found.findIndex((r) => r !== null && r.stream !== stream);
  const at = foreign >= 0 ? foreign : firstReserved;
  return { kind: 'duplicate', eventId: eventIds[at] as string, heldBy: (found[at] as EventIdReservation).stream };
}
