import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { SqliteEventStore } from '../src/store/sqlite.ts';
import { describeEventStoreContract } from './store-contract.ts';

const tempFile = () => {
  const dir = mkdtempSync(join(tmpdir(), 'flashtrail-store-'));
  return { file: join(dir, 'events.sqlite'), remove: () => rmSync(dir, { recursive: true, force: true }) };
};

describeEventStoreContract('embedded SQLite', async () => {
  const { file, remove } = tempFile();
  const store = new SqliteEventStore(file, { pollIntervalMs: 20 });
  return { store, cleanup: async () => { await store.close(); remove(); } };
});

// The server's configuration: group commits on the writer thread, everything else on the caller's connection.
describeEventStoreContract('embedded SQLite, group commits on a writer thread', async () => {
  const { file, remove } = tempFile();
  const store = new SqliteEventStore(file, { pollIntervalMs: 20, writerThread: true });
  return { store, cleanup: async () => { await store.close(); remove(); } };
});

describe('embedded SQLite store', () => {
  it('keeps events across close and reopen, and continues positions after the last one', async () => {
    const { file, remove } = tempFile();
    const first = new SqliteEventStore(file);
    const a = await first.appendToStream('s', [{ id: randomUUID(), type: 'T', data: new Uint8Array([1]) }]);
    await first.close();
    const second = new SqliteEventStore(file);
    expect((await second.readStream('s')).map((e) => e.position)).toEqual([a.position]);
    const b = await second.appendToStream('s', [{ id: randomUUID(), type: 'T', data: new Uint8Array([2]) }], { expected: 0n });
    expect(b.position > a.position).toBe(true);
    await second.close();
    remove();
  });

  it('reads at most maxCount events for every limit, more limits than it keeps prepared included; a negative one is none', async () => {
    const { file, remove } = tempFile();
    const store = new SqliteEventStore(file);
    await store.appendToStream('s', Array.from({ length: 30 }, (_, i) => ({ id: randomUUID(), type: 'T', data: new Uint8Array([i]) })));
    // Each limit is its own prepared statement (the limit in the SQL), 16 kept: 25 limits, twice, evict and re-prepare.
    for (let round = 0; round < 2; round++) {
      for (let n = 0; n < 25; n++) {
        expect(await store.readAll({ maxCount: n })).toHaveLength(n);
        expect(await store.readAllForReplay({ maxCount: n })).toHaveLength(n);
        expect((await store.readStream('s', { fromRevision: 3n, maxCount: n })).map((e) => e.revision)).toEqual(Array.from({ length: n }, (_, i) => BigInt(i + 3)));
        expect((await store.readStream('s', { direction: 'backwards', maxCount: n })).map((e) => e.revision)).toEqual(Array.from({ length: n }, (_, i) => BigInt(29 - i)));
      }
    }
    expect(await store.readAll({ maxCount: -1 })).toHaveLength(30);
    expect(await store.readStream('s', { maxCount: -5 })).toHaveLength(30);
    expect(await store.readStream('s')).toHaveLength(30);
    // The limit is written into the SQL: nothing but a whole number is.
    expect(() => store.readAll({ maxCount: 1.5 })).toThrow(TypeError);
    expect(() => store.readAll({ maxCount: Number.NaN })).toThrow(TypeError);
    await store.close();
    remove();
  });

  it('writes the caller-connection appends made while a group commit is in flight on the writer thread, none refused as locked', async () => {
    // The checkpointer appends its records with appendToStream while the pipeline's group commits run on the
    // writer: a write on the caller's connection landing inside the writer's transaction made that one fail
    // with "database is locked" (a stale read snapshot cannot become a write), refusing a whole group (seen at
    // 64 stations: 26 requests answered 500 right after a checkpoint).
    const { file, remove } = tempFile();
    const store = new SqliteEventStore(file, { writerThread: true });
    const ev = (i: number) => ({ id: randomUUID(), type: 'T', data: new Uint8Array([i % 256]) });
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < 200; i++) {
      writes.push(store.appendGroups([[{ stream: `g-${i}-a`, events: [ev(i)], expected: 'no_stream' }], [{ stream: `g-${i}-b`, events: [ev(i)], expected: 'no_stream' }]]).then((outcomes) => outcomes.map((o) => (o.status === 'rejected' ? (o.reason as Error).message : 'ok'))));
      // Spread over the writer's transaction: some land before it begins, some while it runs.
      if (i % 3 === 1) await new Promise((r) => setImmediate(r));
      if (i % 3 === 2) await new Promise((r) => setTimeout(r, 1));
      writes.push(store.appendToStream(`c-${i}`, [ev(i)], { expected: 'no_stream' }).then(() => ['ok'], (error: unknown) => [(error as Error).message]));
    }
    const outcomes = (await Promise.all(writes)).flat();
    expect(outcomes.filter((o) => o !== 'ok')).toEqual([]);
    expect(await store.readAll({ maxCount: 1000 })).toHaveLength(600);
    await store.close();
    remove();
  });

  it('runs in WAL mode with synchronous=FULL', async () => {
    const { file, remove } = tempFile();
    const store = new SqliteEventStore(file);
    // journal_mode is stored in the file; synchronous belongs to the store's own connection.
    const db = new Database(file, { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
    expect(store.durability()).toEqual({ journalMode: 'wal', synchronous: 2 });
    await store.close();
    remove();
  });

  it('refuses UPDATE and DELETE of recorded events at the database level', async () => {
    const { file, remove } = tempFile();
    const store = new SqliteEventStore(file);
    await store.appendToStream('s', [{ id: randomUUID(), type: 'T', data: new Uint8Array([1]) }]);
    await store.close();
    const db = new Database(file);
    expect(() => db.prepare("UPDATE events SET type = 'X'").run()).toThrow(/append-only/);
    expect(() => db.prepare('DELETE FROM events').run()).toThrow(/append-only/);
    db.close();
    remove();
  });

  it('a second process-level handle sees appends through the poll fallback of a subscription', async () => {
    const { file, remove } = tempFile();
    const reader = new SqliteEventStore(file, { pollIntervalMs: 20 });
    const writer = new SqliteEventStore(file);
    const subscription = reader.subscribeToAll();
    const got = (async () => {
      for await (const e of subscription) return e.id;
      return null;
    })();
    const id = randomUUID();
    await writer.appendToStream('s', [{ id, type: 'T', data: new Uint8Array([1]) }]);
    expect(await got).toBe(id);
    await subscription.close();
    await writer.close();
    await reader.close();
    remove();
  });
  it('tells onAppended listeners once per committed transaction, on the writer thread too, never for a refusal or after close', async () => {
    const { file, remove } = tempFile();
    const store = new SqliteEventStore(file, { writerThread: true });
    const heard: bigint[] = [];
    // What a listener reads when it is told: the append is committed by then.
    const unsubscribe = store.onAppended(() => void store.headPosition().then((p) => heard.push(p)));
    const event = (n: number) => ({ id: randomUUID(), type: 'T', data: new Uint8Array([n]) });
    await store.appendToStream('a', [event(1), event(2)]);
    // Two groups: written on the writer thread, one transaction, one call.
    await store.appendGroups([[{ stream: 'b', events: [event(3)] }], [{ stream: 'c', events: [event(4)] }]]);
    await new Promise((r) => setImmediate(r));
    expect(heard).toEqual([2n, 4n]);
    // Refused (wrong expected revision): nothing committed, nobody told.
    await expect(store.appendToStream('a', [event(5)], { expected: 7n })).rejects.toThrow();
    const refused = await store.appendGroups([[{ stream: 'a', events: [event(6)], expected: 9n }]]);
    expect(refused[0]?.status).toBe('rejected');
    unsubscribe();
    await store.appendToStream('d', [event(7)]);
    const second: number[] = [];
    store.onAppended(() => second.push(1));
    await store.close();
    await new Promise((r) => setImmediate(r));
    expect(heard).toEqual([2n, 4n]);
    expect(second).toEqual([]);
    remove();
  });
});
