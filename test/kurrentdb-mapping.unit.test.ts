import { describe, expect, it } from 'vitest';
import {
  classifyReservations,
  decodeReservation,
  encodeReservation,
  eventIdStream,
  fromPortPosition,
  fromWrongExpectedVersion,
  isEventIdStream,
  isLedgerStream,
  toPortPosition,
  toRecordedEvent,
  toStreamState,
} from '../src/store/kurrentdb-mapping.ts';
import { WrongExpectedVersionError } from '../src/store/event-store.ts';

describe('KurrentDB mapping', () => {
  it('expected revisions map onto stream states unchanged, any by default', () => {
    expect(toStreamState(undefined)).toBe('any');
    for (const s of ['any', 'no_stream', 'stream_exists', 7n] as const) expect(toStreamState(s)).toBe(s);
  });

  it('wrong expected version errors become the port error, with the actual revision or no_stream', () => {
    const e = fromWrongExpectedVersion({ streamName: 'unit-A', expectedState: 3n, actualState: 5n });
    expect(e).toBeInstanceOf(WrongExpectedVersionError);
    expect(e).toMatchObject({ stream: 'unit-A', expected: 3n, actual: 5n });
    expect(fromWrongExpectedVersion({ streamName: 'unit-B', expectedState: 'stream_exists', actualState: 'no_stream' })).toMatchObject({ expected: 'stream_exists', actual: 'no_stream' });
  });

  it('$all positions: prepare position out, an inclusive (commit, prepare) start back in', () => {
    expect(toPortPosition({ commit: 120n, prepare: 100n })).toBe(100n);
    expect(() => toPortPosition(undefined)).toThrow();
    expect(fromPortPosition(undefined)).toBe('start');
    expect(fromPortPosition(-1n)).toBe('start');
    expect(fromPortPosition(100n)).toEqual({ commit: 100n, prepare: 100n });
  });

  it('recorded binary events keep their bytes; JSON events are refused', () => {
    const created = new Date('2026-01-01T00:00:00.000Z');
    const data = new Uint8Array([123, 125]);
    const e = toRecordedEvent({ id: 'id-1', type: 'UnitScanned', streamId: 'unit-A', revision: 2n, created, data, position: { commit: 9n, prepare: 9n } });
    expect(e).toEqual({ id: 'id-1', type: 'UnitScanned', stream: 'unit-A', revision: 2n, position: 9n, data, recordedAt: '2026-01-01T00:00:00.000Z' });
    expect(() => toRecordedEvent({ id: 'x', type: 'T', streamId: 's', revision: 0n, created, data: { a: 1 }, position: { commit: 1n, prepare: 1n } })).toThrow(/not a binary event/);
  });

  it('the $all filter keeps flashtrail streams only', () => {
    expect(['unit-A', 'station-ST-01', 'release-R', 'batch-B', 'ledger-trust'].every(isLedgerStream)).toBe(true);
    expect(['$stats-127.0.0.1:2113', 'orders-1', '$et-UnitScanned'].some(isLedgerStream)).toBe(false);
  });

  it('event id reservations live outside the ledger streams and round-trip their stream and revision', () => {
    const stream = eventIdStream('6f1c7a52-0d4e-4b8e-9a41-3b7f5d0c2e11');
    expect(isEventIdStream(stream)).toBe(true);
    expect(isLedgerStream(stream)).toBe(false);
    expect(decodeReservation(encodeReservation({ stream: 'unit-A', revision: 2n ** 40n }))).toEqual({ stream: 'unit-A', revision: 2n ** 40n });
    expect(() => decodeReservation(new TextEncoder().encode('{"stream":"unit-A","revision":-1}'))).toThrow(/not an event id reservation/);
  });

  it('reservations tell a fresh append from an exact replay and from an id reused elsewhere', () => {
    const at = (stream: string, revision: bigint) => ({ stream, revision });
    expect(classifyReservations('unit-A', ['a', 'b'], [null, null])).toEqual({ kind: 'fresh' });
    expect(classifyReservations('unit-A', ['a', 'b'], [at('unit-A', 4n), at('unit-A', 5n)])).toEqual({ kind: 'replay', firstRevision: 4n });
    // Another stream holds one id: named, even when it is not the first.
    expect(classifyReservations('unit-A', ['a', 'b'], [null, at('unit-B', 0n)])).toEqual({ kind: 'duplicate', eventId: 'b', heldBy: 'unit-B' });
    // A partial replay, or ids of this stream out of order, reuse ids too.
    expect(classifyReservations('unit-A', ['a', 'b'], [at('unit-A', 4n), null])).toEqual({ kind: 'duplicate', eventId: 'a', heldBy: 'unit-A' });
    expect(classifyReservations('unit-A', ['a', 'b'], [at('unit-A', 5n), at('unit-A', 4n)])).toEqual({ kind: 'duplicate', eventId: 'a', heldBy: 'unit-A' });
  });
});
