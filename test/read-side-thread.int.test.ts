/**
 * The read side on its own thread (src/read/read-side-worker.ts): a real ledger on SQLite, real appends over
 * HTTP on loopback, the read model written by the worker and read by the serving thread.
 *
 *   - read-your-writes: a unit read right after its 201, with no wait, shows the event (every query route
 *     awaits catchUp(), a round trip to the worker answered once what was committed before it is projected);
 *   - a worker that dies: what waited on it is refused, never answered from a stale read model, and the next
 *     read starts a new worker that resumes from the read model's checkpoints;
 *   - FLASHTRAIL_READ_SIDE_THREAD=off keeps the runner on the serving thread, to the same documents.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { scanData, startTestLedger, type TestLedger } from './helpers/ledger-fixture.ts';
import { EventSigner } from '../src/event/signer.ts';
import { ReadSideThread } from '../src/read/read-side-worker.ts';
import { ProjectionRunner } from '../src/read/projection-runner.ts';
import { configFromEnv } from '../src/server/main.ts';
import { storeUnderTest } from './helpers/store-under-test.ts';
import { SqliteEventStore } from '../src/store/sqlite.ts';
import { newSigner } from '../src/crypto/ed25519.ts';
import { envelopeBytes } from '../src/crypto/dsse.ts';

const onSqlite = storeUnderTest().kind === 'sqlite';
if (!onSqlite) console.warn('read-side-thread.int: skipped, the read side runs on its own thread only on a SQLite store (FLASHTRAIL_TEST_STORE names another)');

let t: TestLedger;
beforeAll(async () => {
  if (onSqlite) t = await startTestLedger();
});
afterAll(async () => t?.stop());

const post = (token: string, body: unknown) =>
  fetch(`${t.url}/v1/events`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
const unit = (serial: string) => fetch(`${t.url}/v1/units/${serial}`, { headers: { authorization: `Bearer ${t.tokens.auditor}` } });

/** The worker thread of the ledger's read side: what a crash of that thread (out of memory, a native fault) takes away. */
const workerOf = (thread: ReadSideThread) => (thread as unknown as { thread: { worker: Worker } }).thread.worker;

/**
 * A read side opened on a store of its own in a fresh directory, closed and removed after `body`: `scan` commits a
 * unit's first event to the store, `watch` records the kind of every message the serving thread posts to a worker.
 */
async function onOwnStore(prefix: string, body: (t: { store: SqliteEventStore; thread: ReadSideThread; scan: (serial: string) => Promise<void>; watch: (worker: Worker) => void; sent: string[] }) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const store = new SqliteEventStore(join(dir, 'events.sqlite'));
  const thread = await ReadSideThread.open(store, { eventsFile: store.file, readModelFile: join(dir, 'readmodel.sqlite') });
  const sent: string[] = [];
  const watch = (worker: Worker) => {
    const post = worker.postMessage.bind(worker);
    worker.postMessage = (message: { kind: string }) => {
      sent.push(message.kind);
      post(message);
    };
  };
  const station = new EventSigner(newSigner(), 'ST-01');
  const scan = async (serial: string) => {
    const signed = station.sign('UnitScanned', scanData(serial));
    await store.appendToStream(signed.stream, [{ id: signed.event.id, type: signed.event.type, data: envelopeBytes(signed.envelope) }]);
  };
  try {
    await body({ store, thread, scan, watch, sent });
  } finally {
    await thread.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

describe.skipIf(!onSqlite)('the read side on its own thread', () => {
  it('runs there on SQLite', () => {
    expect(t.running.projections).toBeInstanceOf(ReadSideThread);
  });

  it('shows every unit right after its 201, for 32 concurrent stations, with no wait in between', async () => {
    const station = new EventSigner(t.stationKeys['ST-01'], 'ST-01');
    const serials = Array.from({ length: 32 }, (_, i) => `RYW-${i}`);
    const answers = await Promise.all(
      serials.map(async (serial) => {
        const appended = await post(t.tokens.station1, station.sign('UnitScanned', scanData(serial)).envelope);
        const read = await unit(serial);
        return { appended: appended.status, read: read.status, serial: ((await read.json()) as { serial?: string }).serial };
      }),
    );
    expect(answers).toEqual(serials.map((serial) => ({ appended: 201, read: 200, serial })));
  });

  it('refuses what waited on a worker that died, and the next read starts a new one that resumes', async () => {
    const thread = t.running.projections as ReadSideThread;
    const station = new EventSigner(t.stationKeys['ST-01'], 'ST-01');
    // Committed, so the next catch-up must ask the worker (with nothing new it is answered without one).
    expect((await post(t.tokens.station1, station.sign('UnitScanned', scanData('BEFORE-CRASH')).envelope)).status).toBe(201);
    const before = workerOf(thread);
    const exited = new Promise((resolve) => before.once('exit', resolve));
    // Stopped with a catch-up sent to it (the thread stops before it reads its next message): that one is
    // refused, not answered from what is on file.
    void before.terminate();
    const waiting = thread.catchUp();
    await exited;
    await expect(waiting).rejects.toThrow(/read side's thread stopped/);
    // Appended while no worker runs: the next read must still see it.
    expect((await post(t.tokens.station1, station.sign('UnitScanned', scanData('AFTER-CRASH')).envelope)).status).toBe(201);
    const read = await unit('AFTER-CRASH');
    expect(read.status).toBe(200);
    expect(workerOf(thread)).not.toBe(before);
    expect((await thread.status()).map((s) => s.lag)).toEqual([0n, 0n, 0n]);
    // And the live pass runs on the new worker: a later append is projected with no read asking for it.
    expect((await post(t.tokens.station1, station.sign('UnitScanned', scanData('LIVE-AFTER-CRASH')).envelope)).status).toBe(201);
    const deadline = Date.now() + 10_000;
    while (thread.get('unit-state', 'LIVE-AFTER-CRASH') === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(thread.get<{ serial: string }>('unit-state', 'LIVE-AFTER-CRASH')?.serial).toBe('LIVE-AFTER-CRASH');
  });

  it('FLASHTRAIL_READ_SIDE_THREAD=off keeps the runner on the serving thread', () => {
    const dir = mkdtempSync(join(tmpdir(), 'flashtrail-rst-'));
    try {
      expect(configFromEnv({ FLASHTRAIL_READ_SIDE_THREAD: 'off' }, { dataDir: dir }).readSideThread).toBe(false);
      expect(configFromEnv({}, { dataDir: dir }).readSideThread).toBe(true);
      expect(() => configFromEnv({ FLASHTRAIL_READ_SIDE_THREAD: 'maybe' }, { dataDir: dir })).toThrow(/FLASHTRAIL_READ_SIDE_THREAD must be on or off, not/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!onSqlite)('the commit signal', () => {
  it('sends the worker one message for the commits made before its pass reads, and one again for a commit after it', async () => {
    await onOwnStore('flashtrail-rst-signal-', async ({ store, thread, scan, watch, sent }) => {
      watch(workerOf(thread));
      const projected = async (serial: string) => {
        const deadline = Date.now() + 20_000;
        while (thread.get('unit-state', serial) === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        return thread.get<{ serial: string }>('unit-state', serial)?.serial;
      };
      // A long settle: the five commits are made well before the pass that reads them starts.
      thread.start(() => undefined, 1000, (listener) => store.onAppended(listener));
      for (let i = 0; i < 5; i++) await scan(`SIG-${i}`);
      expect(sent.filter((k) => k === 'committed')).toHaveLength(1);
      // Projected by the live pass alone: nothing here asked the worker to catch up.
      for (let i = 0; i < 5; i++) expect(await projected(`SIG-${i}`)).toBe(`SIG-${i}`);
      // The pass read, so the signal is down: the next commit tells the worker again, and is projected.
      await scan('SIG-AFTER');
      expect(sent.filter((k) => k === 'committed')).toHaveLength(2);
      expect(await projected('SIG-AFTER')).toBe('SIG-AFTER');
      expect(sent).not.toContain('catchUp');
    });
  });
});

describe.skipIf(!onSqlite)('the catch-up shortcut', () => {
  it('asks the worker only when the store committed something since its last answer, and again after a worker went away', async () => {
    await onOwnStore('flashtrail-rst-shortcut-', async ({ thread, scan, watch, sent }) => {
      watch(workerOf(thread));
      const asked = () => sent.filter((k) => k === 'catchUp').length;
      // The first catch-up always asks: the read model may be behind what an earlier process committed.
      await scan('SC-1');
      await thread.catchUp();
      expect(asked()).toBe(1);
      expect(thread.get<{ serial: string }>('unit-state', 'SC-1')?.serial).toBe('SC-1');
      // Nothing committed since: answered here, twice.
      await thread.catchUp();
      await thread.catchUp();
      expect(asked()).toBe(1);
      // A commit: the next catch-up asks, and what it answers shows the commit (read-your-writes, no wait).
      await scan('SC-2');
      await thread.catchUp();
      expect(asked()).toBe(2);
      expect(thread.get<{ serial: string }>('unit-state', 'SC-2')?.serial).toBe('SC-2');
      // A worker that went away answered for nothing its replacement holds: the next catch-up asks the new one.
      const first = workerOf(thread);
      await first.terminate();
      await new Promise((r) => setTimeout(r, 50));
      await scan('SC-3');
      await thread.catchUp();
      expect(workerOf(thread)).not.toBe(first);
      expect(thread.get<{ serial: string }>('unit-state', 'SC-3')?.serial).toBe('SC-3');
      watch(workerOf(thread));
      const before = asked();
      await thread.catchUp();
      expect(asked()).toBe(before);
    });
  });
});

describe.skipIf(!onSqlite)('with FLASHTRAIL_READ_SIDE_THREAD=off', () => {
  it('serves the same read model from a runner on the serving thread', async () => {
    const off = await startTestLedger({ readSideThread: false });
    try {
      expect(off.running.projections).toBeInstanceOf(ProjectionRunner);
      const station = new EventSigner(off.stationKeys['ST-01'], 'ST-01');
      const appended = await fetch(`${off.url}/v1/events`, { method: 'POST', headers: { authorization: `Bearer ${off.tokens.station1}`, 'content-type': 'application/json' }, body: JSON.stringify(station.sign('UnitScanned', scanData('OFF-1')).envelope) });
      expect(appended.status).toBe(201);
      const read = await fetch(`${off.url}/v1/units/OFF-1`, { headers: { authorization: `Bearer ${off.tokens.auditor}` } });
      expect(read.status).toBe(200);
    } finally {
      await off.stop();
    }
  });
});
