/**
 * The event store on KurrentDB / EventStoreDB (official client @kurrent/kurrentdb-client), behind the same
 * port as the embedded store and held to the same contract suite (test/kurrentdb-event-store.int.test.ts,
 * run when EVENTSTORE_CONNECTION_STRING is set; no server was available where this was written, so it has
 * not run yet). Events are stored as binary events so that their bytes, which are hashed into chains and
 * the Merkle log, come back exactly as written. Needs KurrentDB 25.1 or later (multi-stream append).
 */
import { randomUUID } from 'node:crypto';
import {
  BACKWARDS,
  END,
  FORWARDS,
  START,
  KurrentDBClient,
  StreamNotFoundError,
  WrongExpectedVersionError as KurrentWrongExpectedVersion,
  binaryEvent,
  streamNameFilter,
  type AllStreamResolvedEvent,
  type AppendStreamState,
} from '@kurrent/kurrentdb-client';
import {
  DuplicateEventIdError,
  WrongExpectedVersionError,
  checkAppendShape,
  checkConditions,
  conditionResult,
  isCondition,
  type AppendRequest,
  type AppendResult,
  type EventData,
  type EventStore,
  type ExpectedRevision,
  type ReadAllOptions,
  type ReadStreamOptions,
  type RecordedEvent,
  type Subscription,
} from './event-store.ts';
import {
  EVENT_ID_RESERVED_TYPE,
  classifyReservations,
  decodeReservation,
  encodeReservation,
  eventIdStream,
  fromPortPosition,
  fromWrongExpectedVersion,
  isEventIdStream,
  LEDGER_STREAM_PREFIXES,
  toPortPosition,
  toRecordedEvent,
  type EventIdReservation,
  type KurrentRecorded,
} from './kurrentdb-mapping.ts';
import { bytesEqual } from '../crypto/encoding.ts';

const filter = () => streamNameFilter({ prefixes: [...LEDGER_STREAM_PREFIXES] });

export class KurrentDBEventStore implements EventStore {
  private readonly client: KurrentDBClient;

  constructor(connectionString: string) {
    this.client = KurrentDBClient.connectionString(connectionString);
  }

  appendToStream(stream: string, events: readonly EventData[], options: { expected?: ExpectedRevision } = {}): Promise<AppendResult> {
    return this.appendToStreams([{ stream, events, expected: options.expected ?? 'any' }]).then((r) => r[0] as AppendResult);
  }

  /**
   * Every event is written together with the reservation of its id (see kurrentdb-mapping.ts), in one
   * atomic multi-stream append (KurrentDB 25.1 or later). Before writing, the reservations of the request's
   * ids tell a fresh append from an exact retry (answered with the original positions, nothing written)
   * and from an id reused elsewhere (DuplicateEventIdError), as the embedded store does.
   */
  async appendToStreams(requests: readonly AppendRequest[]): Promise<AppendResult[]> {
    const streamOfId = new Map<string, string>();
    checkAppendShape(requests);
    for (const r of requests) {
      for (const e of r.events) {
        const other = streamOfId.get(e.id);
        if (other !== undefined) throw new DuplicateEventIdError(e.id, other, r.stream);
        streamOfId.set(e.id, r.stream);
      }
    }
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.appendOnce(requests);
      } catch (error) {
        // A reservation or an 'any'/'stream_exists' head taken by a concurrent writer: classify again.
        if (error instanceof RetryableConflict && attempt < 5) continue;
        if (error instanceof RetryableConflict) throw error.cause;
        throw error;
      }
    }
  }

  /** KurrentDB has no transaction to share: each group is its own atomic multi-stream append, in order. */
  async appendGroups(groups: readonly (readonly AppendRequest[])[]): Promise<PromiseSettledResult<AppendResult[]>[]> {
    const outcomes: PromiseSettledResult<AppendResult[]>[] = [];
    for (const requests of groups) {
      try {
        outcomes.push({ status: 'fulfilled', value: await this.appendToStreams(requests) });
      } catch (error) {
        outcomes.push({ status: 'rejected', reason: error });
      }
    }
    return outcomes;
  }

  private async appendOnce(requests: readonly AppendRequest[]): Promise<AppendResult[]> {
    const results: (AppendResult | null)[] = [];
    const writes: { index: number; request: AppendRequest; firstRevision: bigint; expected: bigint | 'no_stream' }[] = [];
    const conditionHeads: (bigint | null)[] = [];
    for (const [index, r] of requests.entries()) {
      if (isCondition(r)) {
        const [head] = await this.readStream(r.stream, { direction: 'backwards', maxCount: 1 });
        conditionHeads[index] = head ? head.revision : null;
        results.push(conditionResult(r.stream, conditionHeads[index]));
        continue;
      }
      const found = await Promise.all(r.events.map((e) => this.reservationOf(e.id)));
      const verdict = classifyReservations(r.stream, r.events.map((e) => e.id), found);
      if (verdict.kind === 'duplicate') throw new DuplicateEventIdError(verdict.eventId, verdict.heldBy, r.stream);
      if (verdict.kind === 'replay') {
        results.push(await this.replayed(r, verdict.firstRevision));
        continue;
      }
      const expected = await this.concreteExpectation(r);
      writes.push({ index, request: r, expected, firstRevision: expected === 'no_stream' ? 0n : expected + 1n });
      results.push(null);
    }
    if (writes.length > 0) {
      // A condition is checked by reading its head just before the append: KurrentDB's multi-stream append takes
      // no request without events, so on this store (not a shared-log store, docs/shared-log.md) a write landing
      // on the condition's stream between the read and the append is not caught.
      checkConditions(requests, conditionHeads);
      try {
        await this.client.multiStreamAppend([
          ...writes.map((w) => ({ streamName: w.request.stream, events: w.request.events.map(toEventData), expectedState: w.expected as AppendStreamState })),
          ...writes.flatMap((w) =>
            w.request.events.map((e, j) => ({
              streamName: eventIdStream(e.id),
              events: [binaryEvent({ id: randomUUID(), type: EVENT_ID_RESERVED_TYPE, data: encodeReservation({ stream: w.request.stream, revision: w.firstRevision + BigInt(j) }) })],
              expectedState: 'no_stream' as AppendStreamState,
            })),
          ),
        ]);
      } catch (error) {
        if (!(error instanceof KurrentWrongExpectedVersion)) throw error;
        const conflict = fromWrongExpectedVersion(error);
        const write = writes.find((w) => w.request.stream === conflict.stream);
        const callerExpected = write?.request.expected ?? 'any';
        if (isEventIdStream(conflict.stream) || callerExpected === 'any' || callerExpected === 'stream_exists') throw new RetryableConflict(conflict);
        throw new WrongExpectedVersionError(conflict.stream, callerExpected, conflict.actual);
      }
      for (const w of writes) {
        const stored = await this.readStream(w.request.stream, { fromRevision: w.firstRevision, maxCount: w.request.events.length });
        if (stored.length !== w.request.events.length || stored.some((s, j) => s.id !== (w.request.events[j] as EventData).id)) {
          throw new Error(`KurrentDB: stream ${w.request.stream} does not hold the events just appended at revision ${w.firstRevision}`);
        }
        results[w.index] = toResult(w.request.stream, stored);
      }
    }
    return results.map((r) => r as AppendResult);
  }

  /** The stored events an exact retry refers to, or DuplicateEventIdError when they differ from it. */
  private async replayed(r: AppendRequest, firstRevision: bigint): Promise<AppendResult> {
    const stored = await this.readStream(r.stream, { fromRevision: firstRevision, maxCount: r.events.length });
    r.events.forEach((e, j) => {
      const s = stored[j];
      if (!s || s.id !== e.id || s.type !== e.type || !bytesEqual(s.data, e.data)) throw new DuplicateEventIdError(e.id, r.stream, r.stream);
    });
    const [head] = await this.readStream(r.stream, { direction: 'backwards', maxCount: 1 });
    return { ...toResult(r.stream, stored), nextExpectedRevision: (head as RecordedEvent).revision };
  }

  /** 'any' and 'stream_exists' become the head read now, so that the reservations name exact revisions. */
  private async concreteExpectation(r: AppendRequest): Promise<bigint | 'no_stream'> {
    const expected = r.expected ?? 'any';
    if (expected === 'no_stream' || typeof expected === 'bigint') return expected;
    const [head] = await this.readStream(r.stream, { direction: 'backwards', maxCount: 1 });
    if (!head && expected === 'stream_exists') throw new WrongExpectedVersionError(r.stream, expected, 'no_stream');
    return head ? head.revision : 'no_stream';
  }

  private async reservationOf(eventId: string): Promise<EventIdReservation | null> {
    const [reserved] = await this.readStream(eventIdStream(eventId), { maxCount: 1 });
    return reserved ? decodeReservation(reserved.data) : null;
  }

  async readStream(stream: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    const backwards = options.direction === 'backwards';
    const out: RecordedEvent[] = [];
    try {
      const events = this.client.readStream(stream, {
        direction: backwards ? BACKWARDS : FORWARDS,
        fromRevision: options.fromRevision ?? (backwards ? END : START),
        maxCount: options.maxCount ?? Number.MAX_SAFE_INTEGER,
      });
      for await (const resolved of events) {
        if (resolved.event) out.push(toRecordedEvent(resolved.event as unknown as KurrentRecorded));
      }
    } catch (error) {
      if (error instanceof StreamNotFoundError) return [];
      throw error;
    }
    return out;
  }

  async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    const after = options.after ?? -1n;
    const maxCount = options.maxCount ?? 1000;
    const out: RecordedEvent[] = [];
    for await (const resolved of this.client.readAll({ fromPosition: fromPortPosition(after), maxCount: maxCount + 1, filter: filter() })) {
      const e = toAll(resolved);
      if (e && e.position > after) out.push(e);
      if (out.length >= maxCount) break;
    }
    return out;
  }

  subscribeToAll(options: { after?: bigint } = {}): Subscription {
    const after = options.after ?? -1n;
    const subscription = this.client.subscribeToAll({ fromPosition: fromPortPosition(after), filter: filter() });
    async function* iterate(): AsyncGenerator<RecordedEvent> {
      for await (const resolved of subscription) {
        const e = toAll(resolved);
        if (e && e.position > after) yield e;
      }
    }
    const iterator = iterate();
    return {
      [Symbol.asyncIterator]: () => iterator,
      close: async () => {
        await subscription.unsubscribe();
        await iterator.return(undefined);
      },
    };
  }

  async headPosition(): Promise<bigint> {
    for await (const resolved of this.client.readAll({ direction: BACKWARDS, fromPosition: END, maxCount: 1, filter: filter() })) {
      const e = toAll(resolved);
      if (e) return e.position;
    }
    return -1n;
  }

  async close(): Promise<void> {
    await this.client.dispose();
  }
}

const toEventData = (e: EventData) => binaryEvent({ id: e.id, type: e.type, data: e.data });

function toResult(stream: string, stored: readonly RecordedEvent[]): AppendResult {
  const last = stored[stored.length - 1] as RecordedEvent;
  return { stream, nextExpectedRevision: last.revision, position: last.position, positions: stored.map((s) => s.position) };
}

/** Someone else wrote between our reads and our append; the whole request is classified again. */
class RetryableConflict extends Error {
  constructor(override readonly cause: WrongExpectedVersionError) {
    super(cause.message);
  }
}

function toAll(resolved: AllStreamResolvedEvent): RecordedEvent | null {
  const event = resolved.event as unknown as KurrentRecorded | undefined;
  if (!event) return null;
  return toRecordedEvent(event, toPortPosition(event.position));
}
