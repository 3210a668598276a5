/**
 * The event store on KurrentDB / EventStoreDB (official client @kurrent/kurrentdb-client), behind the same
 * port as the embedded store and held to the same contract suite (test/kurrentdb-event-store.test.ts, run
 * when EVENTSTORE_CONNECTION_STRING is set). Events are stored as binary events so that their bytes, which
 * are hashed into chains and the Merkle log, come back exactly as written.
 */
import {
  BACKWARDS,
  END,
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
import { fromPortPosition, fromWrongExpectedVersion, LEDGER_STREAM_PREFIXES, toPortPosition, toRecordedEvent, toStreamState, type KurrentRecorded } from './kurrentdb-mapping.ts';
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

  async appendToStreams(requests: readonly AppendRequest[]): Promise<AppendResult[]> {
    for (const r of requests) {
      if (r.events.length === 0) throw new TypeError('an append needs at least one event');
      if (new Set(r.events.map((e) => e.id)).size !== r.events.length) throw new TypeError('an append repeats an event id');
    }
    const toEventData = (e: EventData) => binaryEvent({ id: e.id, type: e.type, data: e.data });
    const revisions: bigint[] = [];
    try {
      if (requests.length === 1) {
        const r = requests[0] as AppendRequest;
        const result = await this.client.appendToStream(r.stream, r.events.map(toEventData), { streamState: toStreamState(r.expected) as AppendStreamState });
        revisions.push(result.nextExpectedRevision);
      } else {
        // Atomic across streams: KurrentDB 25.1 and later.
        const result = await this.client.multiStreamAppend(
          requests.map((r) => ({ streamName: r.stream, events: r.events.map(toEventData), expectedState: toStreamState(r.expected) as AppendStreamState })),
        );
        for (const r of requests) revisions.push(result.responses.find((x) => x.streamName === r.stream)?.revision ?? -1n);
      }
    } catch (error) {
      if (error instanceof KurrentWrongExpectedVersion) throw fromWrongExpectedVersion(error);
      throw error;
    }
    // KurrentDB answers an exact replay as a success without writing: read what the stream holds at those
    // revisions, to report the original positions and to refuse an id reused for different content.
    return Promise.all(
      requests.map(async (r, i) => {
        const last = revisions[i] as bigint;
        const first = last - BigInt(r.events.length) + 1n;
        const stored = await this.readStream(r.stream, { fromRevision: first < 0n ? 0n : first, maxCount: r.events.length });
        r.events.forEach((e, j) => {
          const s = stored[j];
          if (!s || s.id !== e.id || s.type !== e.type || !bytesEqual(s.data, e.data)) throw new DuplicateEventIdError(e.id, r.stream);
        });
        return { stream: r.stream, nextExpectedRevision: last, position: (stored[stored.length - 1] as RecordedEvent).position, positions: stored.map((s) => s.position) };
      }),
    );
  }

  async readStream(stream: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    const out: RecordedEvent[] = [];
    try {
      for await (const resolved of this.client.readStream(stream, { fromRevision: options.fromRevision ?? 0n, maxCount: options.maxCount ?? Number.MAX_SAFE_INTEGER })) {
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

function toAll(resolved: AllStreamResolvedEvent): RecordedEvent | null {
  const event = resolved.event as unknown as KurrentRecorded | undefined;
  if (!event) return null;
  return toRecordedEvent(event, toPortPosition(event.position));
}
