/**
 * The event store contract: every adapter must pass this suite unchanged. It pins the EventStoreDB
 * semantics the rest of flashtrail relies on.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DuplicateEventIdError, WrongExpectedVersionError, type AppendResult, type EventData, type EventStore, type RecordedEvent } from '../src/store/event-store.ts';

export interface StoreFixture {
  readonly store: EventStore;
  cleanup(): Promise<void>;
}

const event = (type = 'Tested', body = `{"n":${Math.random()}}`): EventData => ({ id: randomUUID(), type, data: new TextEncoder().encode(body) });

export function describeEventStoreContract(adapter: string, open: () => Promise<StoreFixture>): void {
  describe(`event store contract: ${adapter}`, () => {
    let fixture: StoreFixture;
    let store: EventStore;
    // Unique stream names keep the suite valid against a shared, non-empty server; the unit- prefix is one
    // of the ledger's, which a store may filter $all to (KurrentDB does).
    const s = (name: string) => `unit-${name}-${runId}`;
    const runId = randomUUID().slice(0, 8);

    beforeEach(async () => {
      fixture = await open();
      store = fixture.store;
    });
    afterEach(async () => fixture.cleanup());

    it('appends to a new stream from revision 0 and reads it back byte for byte', async () => {
      const bytes = new Uint8Array([0, 255, 1, 128, 10, 13]);
      const events = [event(), { id: randomUUID(), type: 'Binary', data: bytes }];
      const result = await store.appendToStream(s('a'), events, { expected: 'no_stream' });
      expect(result.nextExpectedRevision).toBe(1n);
      expect(result.positions).toHaveLength(2);
      expect(result.positions[1]! > result.positions[0]!).toBe(true);
      expect(result.position).toBe(result.positions[1]);
      const read = await store.readStream(s('a'));
      expect(read.map((e) => e.id)).toEqual(events.map((e) => e.id));
      expect(read.map((e) => e.revision)).toEqual([0n, 1n]);
      expect(read[1]!.data).toEqual(bytes);
      expect(read[1]!.type).toBe('Binary');
      expect(read[0]!.stream).toBe(s('a'));
      expect(Number.isNaN(Date.parse(read[0]!.recordedAt))).toBe(false);
    });

    it('reading a stream that does not exist gives no events', async () => {
      expect(await store.readStream(s('missing'))).toEqual([]);
    });

    it('enforces expected revision, no_stream and stream_exists', async () => {
      await expect(store.appendToStream(s('b'), [event()], { expected: 'stream_exists' })).rejects.toBeInstanceOf(WrongExpectedVersionError);
      await store.appendToStream(s('b'), [event()], { expected: 'no_stream' });
      const dup = store.appendToStream(s('b'), [event()], { expected: 'no_stream' });
      await expect(dup).rejects.toBeInstanceOf(WrongExpectedVersionError);
      await expect(dup).rejects.toMatchObject({ stream: s('b'), actual: 0n });
      await expect(store.appendToStream(s('b'), [event()], { expected: 5n })).rejects.toBeInstanceOf(WrongExpectedVersionError);
      const ok = await store.appendToStream(s('b'), [event()], { expected: 0n });
      expect(ok.nextExpectedRevision).toBe(1n);
      await store.appendToStream(s('b'), [event()], { expected: 'stream_exists' });
      const any = await store.appendToStream(s('b'), [event()], { expected: 'any' });
      expect(any.nextExpectedRevision).toBe(3n);
    });

    it('reads a stream from a revision, at most maxCount events', async () => {
      await store.appendToStream(s('c'), [event(), event(), event(), event()]);
      const part = await store.readStream(s('c'), { fromRevision: 1n, maxCount: 2 });
      expect(part.map((e) => e.revision)).toEqual([1n, 2n]);
      expect((await store.readStream(s('c'), { direction: 'forwards', fromRevision: 3n })).map((e) => e.revision)).toEqual([3n]);
      expect(await store.readStream(s('c'), { fromRevision: 4n })).toEqual([]);
    });

    it('reads backwards: the head alone with maxCount 1, or down from a revision', async () => {
      const events = [event(), event(), event(), event()];
      await store.appendToStream(s('head'), events, { expected: 'no_stream' });
      const [head, ...rest] = await store.readStream(s('head'), { direction: 'backwards', maxCount: 1 });
      expect(rest).toEqual([]);
      expect(head).toMatchObject({ id: events[3]!.id, revision: 3n, stream: s('head') });
      expect(head!.data).toEqual(events[3]!.data);
      const all = await store.readStream(s('head'), { direction: 'backwards' });
      expect(all.map((e) => e.revision)).toEqual([3n, 2n, 1n, 0n]);
      expect(all.map((e) => e.position)).toEqual((await store.readStream(s('head'))).map((e) => e.position).reverse());
      const down = await store.readStream(s('head'), { direction: 'backwards', fromRevision: 2n, maxCount: 2 });
      expect(down.map((e) => e.id)).toEqual([events[2]!.id, events[1]!.id]);
      expect(await store.readStream(s('head-missing'), { direction: 'backwards', maxCount: 1 })).toEqual([]);
      // The head follows appends.
      const next = event();
      await store.appendToStream(s('head'), [next], { expected: 3n });
      expect((await store.readStream(s('head'), { direction: 'backwards', maxCount: 1 })).map((e) => e.id)).toEqual([next.id]);
    });

    it('readAll returns every stream in commit order, strictly after a position', async () => {
      const start = await store.headPosition();
      const a = await store.appendToStream(s('d1'), [event()]);
      const b = await store.appendToStream(s('d2'), [event(), event()]);
      const c = await store.appendToStream(s('d1'), [event()]);
      const all = await store.readAll({ after: start, maxCount: 100 });
      const mine = all.filter((e) => e.stream === s('d1') || e.stream === s('d2'));
      expect(mine.map((e) => e.position)).toEqual([...a.positions, ...b.positions, ...c.positions]);
      const positions = all.map((e) => e.position);
      expect([...positions].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0))).toEqual(positions);
      const tail = await store.readAll({ after: b.position, maxCount: 100 });
      expect(tail[0]!.position).toBe(c.position);
      expect(await store.headPosition()).toBe(c.position);
      expect(await store.readAll({ after: start, maxCount: 2 })).toHaveLength(2);
    });

    it('readAllForReplay, where a store has it, gives readAll\'s stream, revision, position and bytes', async (context) => {
      if (!store.readAllForReplay) return context.skip('this store has no readAllForReplay (readers use readAll)');
      const start = await store.headPosition();
      await store.appendToStream(s('r1'), [event(), event()]);
      await store.appendToStream(s('r2'), [event()]);
      const all = await store.readAll({ after: start, maxCount: 100 });
      const replayed = await store.readAllForReplay({ after: start, maxCount: 100 });
      expect(replayed.map((e) => ({ stream: e.stream, revision: e.revision, position: e.position, data: [...e.data] }))).toEqual(all.map((e) => ({ stream: e.stream, revision: e.revision, position: e.position, data: [...e.data] })));
      expect(await store.readAllForReplay({ after: start, maxCount: 2 })).toHaveLength(2);
      expect(await store.readAllForReplay({ after: all[all.length - 1]!.position })).toEqual([]);
    });

    it('readStreams, where a store has it, reads several streams at once: each in revision order, a missing stream absent, names taken literally', async (context) => {
      if (!store.readStreams) return context.skip('this store has no readStreams (callers read stream by stream)');
      const quoted = s(`it's "quoted" \\ %`);
      await store.appendToStream(s('m1'), [event(), event()]);
      await store.appendToStream(s('m2'), [event()]);
      await store.appendToStream(s('m1'), [event()], { expected: 1n });
      await store.appendToStream(quoted, [event()]);
      const found = await store.readStreams([s('m2'), s('m1'), s('none'), quoted, s('m%')]);
      expect([...found.keys()].sort()).toEqual([quoted, s('m1'), s('m2')].sort());
      expect(found.get(s('m1'))).toEqual(await store.readStream(s('m1')));
      expect(found.get(s('m1'))?.map((e) => e.revision)).toEqual([0n, 1n, 2n]);
      expect(found.get(s('m2'))).toEqual(await store.readStream(s('m2')));
      expect(found.get(quoted)).toEqual(await store.readStream(quoted));
      expect(await store.readStreams([])).toEqual(new Map());
    });

    it('is idempotent on event ids: an exact retry is a no-op returning the original positions', async () => {
      const events = [event(), event()];
      const first = await store.appendToStream(s('e'), events, { expected: 'no_stream' });
      const retry = await store.appendToStream(s('e'), events, { expected: 'no_stream' });
      expect(retry.positions).toEqual(first.positions);
      expect(await store.readStream(s('e'))).toHaveLength(2);
    });

    it('an exact retry is answered with the original positions whatever revision it expects', async () => {
      const events = [event(), event()];
      const first = await store.appendToStream(s('ra'), events, { expected: 'no_stream' });
      await store.appendToStream(s('ra'), [event()]);
      for (const expected of ['any', 'stream_exists', 2n, 0n] as const) {
        const retry = await store.appendToStream(s('ra'), events, { expected });
        expect([expected, retry.positions]).toEqual([expected, first.positions]);
      }
      // One group of a group commit, alone: answered the same way.
      const [alone] = await store.appendGroups([[{ stream: s('ra'), events, expected: 'any' }]]);
      expect(alone).toEqual({ status: 'fulfilled', value: [expect.objectContaining({ positions: first.positions })] });
      expect(await store.readStream(s('ra'))).toHaveLength(3);
      // A lone group refused: its outcome says why, and nothing of it is written.
      const [refused] = await store.appendGroups([[{ stream: s('ra2'), events: [event()], expected: 'no_stream' }, { stream: s('ra'), events: [event()], expected: 0n }]]);
      expect(refused?.status === 'rejected' && refused.reason).toBeInstanceOf(WrongExpectedVersionError);
      expect(await store.readStream(s('ra2'))).toEqual([]);
    });

    it('refuses an event id reused for different content or a partial replay', async () => {
      const original = event('T', '{"v":1}');
      await store.appendToStream(s('f'), [original]);
      const altered = store.appendToStream(s('f'), [{ ...original, data: new TextEncoder().encode('{"v":2}') }]);
      await expect(altered).rejects.toBeInstanceOf(DuplicateEventIdError);
      await expect(altered).rejects.toMatchObject({ eventId: original.id, stream: s('f'), attemptedStream: s('f') });
      await expect(store.appendToStream(s('f'), [original, event()])).rejects.toBeInstanceOf(DuplicateEventIdError);
      expect(await store.readStream(s('f'))).toHaveLength(1);
    });

    it('refuses an event id already recorded in another stream, even with identical content', async () => {
      const original = event('T', '{"v":1}');
      const first = await store.appendToStream(s('dup1'), [original], { expected: 'no_stream' });
      const elsewhere = store.appendToStream(s('dup2'), [original], { expected: 'no_stream' });
      await expect(elsewhere).rejects.toBeInstanceOf(DuplicateEventIdError);
      await expect(elsewhere).rejects.toMatchObject({ eventId: original.id, stream: s('dup1'), attemptedStream: s('dup2') });
      // Refused as part of an atomic batch too: nothing of the batch is written.
      const batch = store.appendToStreams([
        { stream: s('dup3'), events: [event()], expected: 'no_stream' },
        { stream: s('dup2'), events: [event(), { ...original }], expected: 'any' },
      ]);
      await expect(batch).rejects.toBeInstanceOf(DuplicateEventIdError);
      // The reused id is named, not the new event before it in the same request.
      await expect(batch).rejects.toMatchObject({ eventId: original.id, stream: s('dup1'), attemptedStream: s('dup2') });
      expect(await store.readStream(s('dup2'))).toEqual([]);
      expect(await store.readStream(s('dup3'))).toEqual([]);
      expect(await store.headPosition()).toBe(first.position);
      expect((await store.readStream(s('dup1'))).map((e) => e.id)).toEqual([original.id]);
    });

    it('refuses one id twice within an atomic batch of two streams', async () => {
      const shared = event();
      await expect(
        store.appendToStreams([
          { stream: s('twice1'), events: [shared], expected: 'no_stream' },
          { stream: s('twice2'), events: [{ ...shared }], expected: 'no_stream' },
        ]),
      ).rejects.toBeInstanceOf(DuplicateEventIdError);
      expect(await store.readStream(s('twice1'))).toEqual([]);
      expect(await store.readStream(s('twice2'))).toEqual([]);
    });

    it('an exact retry of an atomic multi-stream append writes nothing and answers the original positions', async () => {
      const requests = [
        { stream: s('mr1'), events: [event(), event()], expected: 'no_stream' as const },
        { stream: s('mr2'), events: [event()], expected: 'no_stream' as const },
      ];
      const first = await store.appendToStreams(requests);
      const head = await store.headPosition();
      const retry = await store.appendToStreams(requests);
      expect(retry.map((r) => r.positions)).toEqual(first.map((r) => r.positions));
      expect(retry.map((r) => r.nextExpectedRevision)).toEqual([1n, 0n]);
      expect(await store.headPosition()).toBe(head);
    });

    it('refuses an empty append and a request that repeats an id, as programming errors', async () => {
      await expect(store.appendToStream(s('g'), [])).rejects.toBeInstanceOf(TypeError);
      const e = event();
      await expect(store.appendToStream(s('g'), [e, e])).rejects.toBeInstanceOf(TypeError);
      expect(await store.readStream(s('g'))).toEqual([]);
    });

    it('appends to several streams atomically: one bad expectation writes nothing', async () => {
      await store.appendToStream(s('h1'), [event()]);
      const before = await store.headPosition();
      await expect(
        store.appendToStreams([
          { stream: s('h2'), events: [event()], expected: 'no_stream' },
          { stream: s('h1'), events: [event()], expected: 'no_stream' },
        ]),
      ).rejects.toBeInstanceOf(WrongExpectedVersionError);
      expect(await store.readStream(s('h2'))).toEqual([]);
      expect(await store.headPosition()).toBe(before);
      const ok = await store.appendToStreams([
        { stream: s('h2'), events: [event()], expected: 'no_stream' },
        { stream: s('h1'), events: [event()], expected: 0n },
      ]);
      expect(ok.map((r) => r.nextExpectedRevision)).toEqual([0n, 1n]);
    });

    it('a condition (a request with no events) holds the append to another stream\'s revision: met, it writes; unmet, nothing', async () => {
      await store.appendToStream(s('cond-keys'), [event()]);
      const written = await store.appendToStreams([
        { stream: s('cond-rec'), events: [event()], expected: 'no_stream' },
        { stream: s('cond-keys'), events: [], expected: 0n },
      ]);
      expect(written[0]!.nextExpectedRevision).toBe(0n);
      expect(written[1]).toEqual({ stream: s('cond-keys'), nextExpectedRevision: 0n, position: -1n, positions: [] });
      // Another writer moves the condition's stream on: the next record, conditioned on revision 0, is refused whole.
      await store.appendToStream(s('cond-keys'), [event()], { expected: 0n });
      const before = await store.headPosition();
      const refused = await store
        .appendToStreams([
          { stream: s('cond-rec'), events: [event()], expected: 0n },
          { stream: s('cond-keys'), events: [], expected: 0n },
        ])
        .then(() => null, (error: unknown) => error);
      expect(refused).toBeInstanceOf(WrongExpectedVersionError);
      expect((refused as WrongExpectedVersionError).stream).toBe(s('cond-keys'));
      expect((refused as WrongExpectedVersionError).actual).toBe(1n);
      expect(await store.headPosition()).toBe(before);
      expect(await store.readStream(s('cond-rec'))).toHaveLength(1);
      // On a stream that does not exist, and inside a group commit: refused on its own.
      const outcomes = await store.appendGroups([
        [{ stream: s('cond-rec2'), events: [event()], expected: 'no_stream' }, { stream: s('cond-none'), events: [], expected: 'no_stream' }],
        [{ stream: s('cond-rec3'), events: [event()], expected: 'no_stream' }, { stream: s('cond-keys'), events: [], expected: 'no_stream' }],
      ]);
      expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected']);
      expect(await store.readStream(s('cond-rec3'))).toEqual([]);
    });

    it('an exact retry of a conditioned append is answered as before, even after the condition\'s stream moved on', async () => {
      await store.appendToStream(s('cr-keys'), [event()]);
      const requests = [
        { stream: s('cr-rec'), events: [event()], expected: 'no_stream' as const },
        { stream: s('cr-keys'), events: [], expected: 0n },
      ];
      const first = await store.appendToStreams(requests);
      await store.appendToStream(s('cr-keys'), [event()], { expected: 0n });
      const retry = await store.appendToStreams(requests);
      expect(retry[0]!.positions).toEqual(first[0]!.positions);
      expect(await store.readStream(s('cr-rec'))).toHaveLength(1);
    });

    it('refuses conditions alone, and a condition without a concrete expectation, as programming errors', async () => {
      await expect(store.appendToStreams([{ stream: s('ca'), events: [], expected: 'no_stream' }])).rejects.toBeInstanceOf(TypeError);
      await expect(store.appendToStreams([{ stream: s('cb'), events: [event()], expected: 'no_stream' }, { stream: s('cc'), events: [], expected: 'any' }])).rejects.toBeInstanceOf(TypeError);
      await expect(store.appendToStreams([{ stream: s('cb'), events: [event()], expected: 'no_stream' }, { stream: s('cc'), events: [] }])).rejects.toBeInstanceOf(TypeError);
      expect(await store.readStream(s('cb'))).toEqual([]);
    });

    it('group commit: independent groups in one write, each atomic and refused on its own, applied in order', async () => {
      await store.appendToStream(s('gc1'), [event()]);
      const reused = event();
      const held = await store.appendToStream(s('gc0'), [reused]);
      const before = await store.headPosition();
      const outcomes = await store.appendGroups([
        [{ stream: s('gc1'), events: [event()], expected: 0n }],
        [{ stream: s('gc1'), events: [event()], expected: 0n }], // the first group moved the head to 1
        [{ stream: s('gc2'), events: [event()], expected: 'no_stream' }, { stream: s('gc3'), events: [reused] }],
        [{ stream: s('gc1'), events: [event(), event()], expected: 1n }, { stream: s('gc4'), events: [event()], expected: 'no_stream' }],
        [{ stream: s('gc5'), events: [] }],
        [{ stream: s('gc0'), events: [reused] }], // an exact retry inside a group answers the original position
      ]);
      expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'fulfilled', 'rejected', 'fulfilled']);
      expect((outcomes[1] as PromiseRejectedResult).reason).toBeInstanceOf(WrongExpectedVersionError);
      expect((outcomes[2] as PromiseRejectedResult).reason).toBeInstanceOf(DuplicateEventIdError);
      expect((outcomes[4] as PromiseRejectedResult).reason).toBeInstanceOf(TypeError);
      expect((outcomes[5] as PromiseFulfilledResult<AppendResult[]>).value[0]!.positions).toEqual(held.positions);
      expect((await store.readStream(s('gc1'))).map((e) => e.revision)).toEqual([0n, 1n, 2n, 3n]);
      expect(await store.readStream(s('gc2'))).toEqual([]);
      expect(await store.readStream(s('gc3'))).toEqual([]);
      // Positions follow the order of the accepted groups and of their requests.
      const first = (outcomes[0] as PromiseFulfilledResult<AppendResult[]>).value;
      const fourth = (outcomes[3] as PromiseFulfilledResult<AppendResult[]>).value;
      const positions = [...first.flatMap((r) => r.positions), ...fourth.flatMap((r) => r.positions)];
      expect(positions.every((p, i) => p > before && (i === 0 || p > (positions[i - 1] as bigint)))).toBe(true);
      expect(await store.headPosition()).toBe(positions[positions.length - 1]);
    });

    it('subscribes to $all: catches up, then delivers live appends in order, until closed', async () => {
      const start = await store.headPosition();
      await store.appendToStream(s('i'), [event(), event()]);
      const subscription = store.subscribeToAll({ after: start });
      const seen: RecordedEvent[] = [];
      const done = (async () => {
        for await (const e of subscription) {
          if (e.stream === s('i')) seen.push(e);
          if (seen.length === 4) break;
        }
      })();
      await new Promise((r) => setTimeout(r, 50));
      await store.appendToStream(s('i'), [event()]);
      await store.appendToStream(s('i'), [event()]);
      await done;
      await subscription.close();
      expect(seen.map((e) => e.revision)).toEqual([0n, 1n, 2n, 3n]);
    });

    it('a closed subscription ends its iteration', async () => {
      const subscription = store.subscribeToAll({ after: await store.headPosition() });
      const iteration = (async () => {
        let n = 0;
        for await (const _ of subscription) n++;
        return n;
      })();
      await new Promise((r) => setTimeout(r, 20));
      await subscription.close();
      expect(await iteration).toBe(0);
    });
  });
}
