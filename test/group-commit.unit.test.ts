/**
 * Group commit in the write pipeline, against a real SQLite store: submissions made in the same turn of the
 * event loop are decided together and written in one appendGroups() call, each with its own outcome; the
 * cache of stream heads never outlives a refused or failed write.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteEventStore } from '../src/store/sqlite.ts';
import type { EventStore } from '../src/store/event-store.ts';
import { StreamCache } from '../src/write/stream-views.ts';
import { Ledger, type AppendedEvent, type Principal } from '../src/write/pipeline.ts';
import type { LedgerError } from '../src/write/errors.ts';
import { EventSigner } from '../src/event/signer.ts';
import { newSigner } from '../src/crypto/ed25519.ts';
import { bootloaderData, scanData } from './helpers/ledger-fixture.ts';
import { simulatedRelease } from '../src/sim/simulated-station.ts';
import { lineSetupEvents } from '../src/sim/line-setup.ts';
import { SignatureVerifierPool, type EnvelopeSignatureVerifier } from '../src/native/signature-pool.ts';
import { fromBase64, toBase64 } from '../src/crypto/encoding.ts';

const adminP: Principal = { name: 'admin', role: 'admin' };
const stationP: Principal = { name: 'st', role: 'station', stationId: 'ST-01' };
const release = simulatedRelease('R-1', 'SENSOR-S3', '1.0.0');

/** The real store, counting the group commits made on it and failing the next one when asked to. */
function observed(store: SqliteEventStore) {
  const seen = { groupCommits: [] as number[], failNext: false, reads: [] as string[] };
  const wrapped = new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'readStream') {
        return (stream: string, options?: Parameters<EventStore['readStream']>[1]) => {
          seen.reads.push(stream);
          return target.readStream(stream, options);
        };
      }
      if (prop === 'readStreams') {
        return (streams: readonly string[]) => {
          seen.reads.push(...streams.map((stream) => `${stream} (together)`));
          return target.readStreams(streams);
        };
      }
      if (prop === 'appendGroups') {
        return (groups: Parameters<EventStore['appendGroups']>[0]) => {
          seen.groupCommits.push(groups.length);
          if (seen.failNext) {
            seen.failNext = false;
            return Promise.reject(new Error('disk I/O error'));
          }
          return target.appendGroups(groups);
        };
      }
      const value = Reflect.get(target, prop, receiver) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { store: wrapped, seen };
}

const outcome = (p: Promise<AppendedEvent[]>) => p.then((events) => ({ events }), (error: unknown) => ({ error: error as LedgerError }));

describe.each([true, false])('group commit (singleWriter: %s)', (singleWriter) => {
  let dir: string;
  let raw: SqliteEventStore;
  let seen: ReturnType<typeof observed>['seen'];
  let ledger: Ledger;
  const adminKey = newSigner();
  const stationKey = newSigner();
  let admin: EventSigner;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flashtrail-group-'));
    raw = new SqliteEventStore(join(dir, 'events.sqlite'));
    const o = observed(raw);
    seen = o.seen;
    ledger = new Ledger({ store: o.store, clock: () => new Date(), adminKeys: new Map([[adminKey.keyId, adminKey.publicKey]]), singleWriter });
    admin = new EventSigner(adminKey, 'admin');
    await ledger.submit(lineSetupEvents(admin, { stations: [{ stationId: 'ST-01', key: stationKey }], release, batch: { batchId: 'B-1', line: 'L1', plannedQuantity: 100 } }), adminP);
    seen.groupCommits.length = 0;
  });
  afterEach(async () => {
    await raw.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes concurrent submissions in one transaction; a refused one fails alone, and the next decides on the ones before it', async () => {
    const station = new EventSigner(stationKey, 'ST-01');
    const scan = station.sign('UnitScanned', scanData('G-1'));
    const boot = station.sign('BootloaderWritten', bootloaderData('G-1', release)); // chained on scan, sent as its own request
    const forged = new EventSigner(newSigner(), 'ST-01').sign('UnitScanned', scanData('G-2'));
    const other = station.sign('UnitScanned', scanData('G-3'));
    const results = await Promise.all([scan, boot, forged, other].map((s) => outcome(ledger.submit([s.envelope], stationP))));

    expect(seen.groupCommits).toEqual([3]);
    expect(results[2]).toMatchObject({ error: { code: 'KEY_UNKNOWN' } });
    expect(results.filter((r) => 'events' in r).map((r) => 'events' in r && [r.events[0]?.stream, r.events[0]?.revision, r.events[0]?.duplicate])).toEqual([
      ['unit-G-1', 0n, false],
      ['unit-G-1', 1n, false],
      ['unit-G-3', 0n, false],
    ]);
    expect((await raw.readStream('unit-G-1')).map((e) => e.id)).toEqual([scan.event.id, boot.event.id]);
    expect(await raw.readStream('unit-G-2')).toEqual([]);
    // Positions answered are the ones stored.
    const stored = await raw.readStream('unit-G-3');
    expect('events' in results[3]! && results[3].events[0]?.position).toBe(stored[0]?.position);
  });

  it('a rule violation rolls back only its own submission: the one after it does not see its events', async () => {
    const station = new EventSigner(stationKey, 'ST-01');
    const scan = station.sign('UnitScanned', scanData('G-4'));
    // Scan then a second scan of the same unit: the second is refused and rolled back; a bootloader chained on the first stands.
    const again = new EventSigner(stationKey, 'ST-01').sign('UnitScanned', scanData('G-4'), { prev: scan.digest });
    const boot = station.sign('BootloaderWritten', bootloaderData('G-4', release));
    const results = await Promise.all([outcome(ledger.submit([scan.envelope], stationP)), outcome(ledger.submit([again.envelope], stationP)), outcome(ledger.submit([boot.envelope], stationP))]);
    expect(results[1]).toMatchObject({ error: { code: 'RULE_VIOLATION' } });
    expect(results[2]).toMatchObject({ events: [{ revision: 1n }] });
    expect(seen.groupCommits).toEqual([2]);
  });

  it('a retry racing the request it repeats is answered as a duplicate with the same position', async () => {
    const scan = new EventSigner(stationKey, 'ST-01').sign('UnitScanned', scanData('G-5'));
    const [first, retry] = await Promise.all([ledger.submit([scan.envelope], stationP), ledger.submit([scan.envelope], stationP)]);
    expect(first[0]).toMatchObject({ duplicate: false });
    expect(retry[0]).toMatchObject({ duplicate: true, position: first[0]?.position, revision: 0n });
    expect(await raw.readStream('unit-G-5')).toHaveLength(1);
  });

  it('a submission decided on top of one the store refused is decided again on what the store holds', async () => {
    const station = new EventSigner(stationKey, 'ST-01');
    const recorded = station.sign('UnitScanned', scanData('G-6'));
    await ledger.submit([recorded.envelope], stationP);
    // Passes every check of its own stream, but its id is taken in another stream: only the store knows.
    const reuse = station.sign('UnitScanned', scanData('G-7'), { id: recorded.event.id });
    const onTop = station.sign('BootloaderWritten', bootloaderData('G-7', release));
    const independent = station.sign('UnitScanned', scanData('G-8'));
    const results = await Promise.all([reuse, onTop, independent].map((s) => outcome(ledger.submit([s.envelope], stationP))));
    expect(results[0]).toMatchObject({ error: { code: 'EVENT_ID_CONFLICT' } });
    // Decided again alone: the unit it extends was never scanned.
    expect(results[1]).toMatchObject({ error: { code: 'CHAIN_MISMATCH' } });
    expect(results[2]).toMatchObject({ events: [{ stream: 'unit-G-8', duplicate: false }] });
    // The cache kept nothing of the refused write: the unit starts afresh.
    const fresh = new EventSigner(stationKey, 'ST-01').sign('UnitScanned', scanData('G-7'));
    await expect(ledger.submit([fresh.envelope], stationP)).resolves.toMatchObject([{ revision: 0n }]);
  });

  it('a key revoked earlier in the group refuses the station events after it, though their signatures were checked ahead', async () => {
    const station = new EventSigner(stationKey, 'ST-01');
    await ledger.submit([station.sign('UnitScanned', scanData('G-9')).envelope], stationP); // the station stream is now warm
    const revoke = admin.sign('StationKeyRevoked', { stationId: 'ST-01', keyId: stationKey.keyId, reason: 'lost' });
    const late = station.sign('BootloaderWritten', bootloaderData('G-9', release));
    const results = await Promise.all([outcome(ledger.submit([revoke.envelope], adminP)), outcome(ledger.submit([late.envelope], stationP))]);
    expect(results[0]).toMatchObject({ events: [{ stream: 'station-ST-01' }] });
    expect(results[1]).toMatchObject({ error: { code: 'KEY_REVOKED' } });
    expect(seen.groupCommits).toEqual([1, 1]);
    // And in the next group, from the cache.
    await expect(ledger.submit([late.envelope], stationP)).rejects.toMatchObject({ code: 'KEY_REVOKED' });
  });

  it('a failed write rejects every submission of its group and leaves nothing cached; the next write starts from the store', async () => {
    const station = new EventSigner(stationKey, 'ST-01');
    const a = station.sign('UnitScanned', scanData('G-10'));
    const b = station.sign('UnitScanned', scanData('G-11'));
    seen.failNext = true;
    const results = await Promise.all([a, b].map((s) => outcome(ledger.submit([s.envelope], stationP))));
    expect(results.map((r) => 'error' in r && r.error.message)).toEqual(['disk I/O error', 'disk I/O error']);
    // The station's outbox sends the same events again: they are new to the ledger, not duplicates.
    const retried = await Promise.all([a, b].map((s) => ledger.submit([s.envelope], stationP)));
    expect(retried.map((r) => r[0]?.duplicate)).toEqual([false, false]);
    const next = station.sign('BootloaderWritten', bootloaderData('G-10', release));
    await expect(ledger.submit([next.envelope], stationP)).resolves.toMatchObject([{ revision: 1n }]);
  });

  it(singleWriter ? 'reads a hot stream from the store once, then from the cache' : 'reads every stream from the store in every group (another writer may have changed it)', async () => {
    const station = new EventSigner(stationKey, 'ST-01');
    seen.reads.length = 0;
    for (let i = 0; i < 3; i++) await ledger.submit([station.sign('UnitScanned', scanData(`G-H${i}`)).envelope], stationP);
    const stationReads = seen.reads.filter((s) => s === 'station-ST-01').length;
    const batchReads = seen.reads.filter((s) => s === 'batch-B-1').length;
    // The setup submission already read (and cached) them.
    expect([stationReads, batchReads]).toEqual(singleWriter ? [0, 0] : [3, 3]);
  });

  it('reads the new streams of a batch together, once, and decides each event on them as if read one by one', async () => {
    const station = new EventSigner(stationKey, 'ST-01');
    const scan = station.sign('UnitScanned', scanData('G-P0'));
    await ledger.submit([scan.envelope], stationP);
    seen.reads.length = 0;
    // A unit already recorded (its next step) among new ones, and one new unit twice (its scan, then its next step).
    const fresh = Array.from({ length: 5 }, (_, i) => station.sign('UnitScanned', scanData(`G-P${i + 1}`)));
    const batch = [station.sign('BootloaderWritten', bootloaderData('G-P0', release)), ...fresh, station.sign('BootloaderWritten', bootloaderData('G-P1', release))];
    const appended = await ledger.submit(batch.map((s) => s.envelope), stationP);
    expect(appended.map((a) => [a.stream, a.revision])).toEqual([['unit-G-P0', 1n], ...fresh.map((_, i) => [`unit-G-P${i + 1}`, 0n]), ['unit-G-P1', 1n]]);
    const unitReads = seen.reads.filter((r) => r.startsWith('unit-'));
    const streams = ['unit-G-P0', ...fresh.map((_, i) => `unit-G-P${i + 1}`)];
    // With the cache the recorded unit's head is known already; without it every stream of the batch is read, together.
    expect(unitReads.sort()).toEqual((singleWriter ? streams.slice(1) : streams).map((stream) => `${stream} (together)`).sort());
    // A second batch chained on the first decides on what the first wrote.
    const next = await ledger.submit([station.sign('AppVerified', { serial: 'G-P0', imageSha256: release.application.sha256, version: release.application.version, sizeBytes: release.application.sizeBytes, reportedSha256: release.application.sha256, method: 'device_report', result: 'pass' }).envelope, station.sign('BootloaderWritten', bootloaderData('G-P2', release)).envelope], stationP);
    expect(next.map((a) => [a.stream, a.revision])).toEqual([['unit-G-P0', 2n], ['unit-G-P2', 1n]]);
  });

  it('answers a submission only after its transaction committed', async () => {
    const station = new EventSigner(stationKey, 'ST-01');
    const events = Array.from({ length: 20 }, (_, i) => station.sign('UnitScanned', scanData(`G-D${i}`)));
    const answers = events.map(async (s) => {
      const [appended] = await ledger.submit([s.envelope], stationP);
      // A second connection sees the event the moment its submission is answered.
      const reader = new SqliteEventStore(join(dir, 'events.sqlite'));
      const stored = await reader.readStream(s.stream);
      await reader.close();
      return stored[0]?.position === appended?.position;
    });
    expect(await Promise.all(answers)).toEqual(events.map(() => true));
    expect(seen.groupCommits.length).toBeLessThan(events.length);
  });
});

describe('stream cache', () => {
  it('evicts the least recently used stream first', () => {
    const cache = new StreamCache(2);
    const head = (n: number) => ({ aggregate: { name: 'x', streamPrefix: 'x-', initialState: n, fold: (s: number) => s }, revision: 0n, headDigest: null, headOccurredAt: null, state: n, known: new Map() });
    cache.set('a', head(1));
    cache.set('b', head(2));
    cache.get('a'); // a is now the most recently used
    cache.set('c', head(3));
    expect([cache.peek('a')?.state, cache.peek('b'), cache.peek('c')?.state, cache.size]).toEqual([1, undefined, 3, 2]);
  });
});

describe('group commit bounds', () => {
  it('splits a burst into groups of at most maxGroupEvents events', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flashtrail-group-'));
    const raw = new SqliteEventStore(join(dir, 'events.sqlite'));
    try {
      const { store, seen } = observed(raw);
      const adminKey = newSigner();
      const stationKey = newSigner();
      const ledger = new Ledger({ store, clock: () => new Date(), adminKeys: new Map([[adminKey.keyId, adminKey.publicKey]]), singleWriter: true, maxGroupEvents: 4 });
      await ledger.submit(lineSetupEvents(new EventSigner(adminKey, 'admin'), { stations: [{ stationId: 'ST-01', key: stationKey }], release, batch: { batchId: 'B-1', line: 'L1', plannedQuantity: 100 } }), adminP);
      seen.groupCommits.length = 0;
      const station = new EventSigner(stationKey, 'ST-01');
      await Promise.all(Array.from({ length: 10 }, (_, i) => ledger.submit([station.sign('UnitScanned', scanData(`GB-${i}`)).envelope], stationP)));
      expect(seen.groupCommits).toEqual([4, 4, 2]);
    } finally {
      await raw.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('signatures checked before the group', () => {
  it('an idle ledger verifies a small submission itself; concurrent submissions and large batches go to the workers, with the same verdicts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flashtrail-group-'));
    const store = new SqliteEventStore(join(dir, 'events.sqlite'));
    const pool = new SignatureVerifierPool(1);
    const toWorkers: string[] = [];
    const counted: EnvelopeSignatureVerifier = {
      verify: (envelope, publicKey) => {
        toWorkers.push(envelope.signatures[0]?.sig ?? '');
        return pool.verify(envelope, publicKey);
      },
      close: () => pool.close(),
    };
    try {
      const adminKey = newSigner();
      const stationKey = newSigner();
      const ledger = new Ledger({ store, clock: () => new Date(), adminKeys: new Map([[adminKey.keyId, adminKey.publicKey]]), singleWriter: true, signatures: counted });
      await ledger.submit(lineSetupEvents(new EventSigner(adminKey, 'admin'), { stations: [{ stationId: 'ST-01', key: stationKey }], release, batch: { batchId: 'B-1', line: 'L1', plannedQuantity: 100 } }), adminP);
      toWorkers.length = 0;
      const station = new EventSigner(stationKey, 'ST-01');
      const tampered = (envelope: ReturnType<EventSigner['sign']>['envelope']) => {
        const sig = fromBase64(envelope.signatures[0]?.sig ?? '');
        sig[5] = (sig[5] as number) ^ 1;
        return { ...envelope, signatures: [{ keyid: envelope.signatures[0]?.keyid ?? '', sig: toBase64(sig) }] };
      };

      // One client, one event at a time: verified on the ledger's thread, genuine or forged.
      for (let i = 0; i < 3; i++) await ledger.submit([station.sign('UnitScanned', scanData(`SV-${i}`)).envelope], stationP);
      await expect(ledger.submit([tampered(station.sign('UnitScanned', scanData('SV-F')).envelope)], stationP)).rejects.toMatchObject({ code: 'SIGNATURE_INVALID' });
      expect(toWorkers).toHaveLength(0);

      // Concurrent: the first finds the ledger idle, the others find it busy and use the workers, a forgery among them.
      const burst = [0, 1, 2].map((i) => station.sign('UnitScanned', scanData(`SC-${i}`)).envelope);
      const forged = tampered(station.sign('UnitScanned', scanData('SC-F')).envelope);
      const results = await Promise.all([...burst, forged].map((e) => outcome(ledger.submit([e], stationP))));
      expect(toWorkers).toEqual([burst[1], burst[2], forged].map((e) => e?.signatures[0]?.sig));
      expect(results.map((r) => ('error' in r ? r.error.code : 'ok'))).toEqual(['ok', 'ok', 'ok', 'SIGNATURE_INVALID']);

      // A batch larger than a few events goes to the workers even on an idle ledger (this verifier cannot send at once).
      toWorkers.length = 0;
      await ledger.submit(Array.from({ length: 10 }, (_, i) => station.sign('UnitScanned', scanData(`SB-${i}`)).envelope), stationP);
      expect(toWorkers).toHaveLength(10);
    } finally {
      await pool.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an idle ledger shares a large batch with the workers: the first events go to them, the last are verified here, a forgery in either share is refused by its index', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flashtrail-group-'));
    const store = new SqliteEventStore(join(dir, 'events.sqlite'));
    const pool = new SignatureVerifierPool(1);
    const toWorkers: string[] = [];
    const counted: EnvelopeSignatureVerifier = {
      threads: pool.threads,
      verify: (envelope, publicKey) => {
        toWorkers.push(envelope.signatures[0]?.sig ?? '');
        return pool.verify(envelope, publicKey);
      },
      verifyNow: (items) => {
        toWorkers.push(...items.map((item) => item.envelope.signatures[0]?.sig ?? ''));
        return pool.verifyNow(items);
      },
      close: () => pool.close(),
    };
    try {
      const adminKey = newSigner();
      const stationKey = newSigner();
      const ledger = new Ledger({ store, clock: () => new Date(), adminKeys: new Map([[adminKey.keyId, adminKey.publicKey]]), singleWriter: true, signatures: counted });
      await ledger.submit(lineSetupEvents(new EventSigner(adminKey, 'admin'), { stations: [{ stationId: 'ST-01', key: stationKey }], release, batch: { batchId: 'B-1', line: 'L1', plannedQuantity: 1000 } }), adminP);
      const station = new EventSigner(stationKey, 'ST-01');
      const batch = (prefix: string) => Array.from({ length: 40 }, (_, i) => station.sign('UnitScanned', scanData(`${prefix}-${i}`)).envelope);
      const forge = (envelopes: ReturnType<typeof batch>, index: number) => {
        const envelope = envelopes[index] as (typeof envelopes)[number];
        const sig = fromBase64(envelope.signatures[0]?.sig ?? '');
        sig[7] = (sig[7] as number) ^ 1;
        envelopes[index] = { ...envelope, signatures: [{ keyid: envelope.signatures[0]?.keyid ?? '', sig: toBase64(sig) }] };
        return envelopes;
      };

      toWorkers.length = 0;
      const genuine = batch('SH');
      const appended = await ledger.submit(genuine, stationP);
      expect(appended.map((a) => a.stream)).toEqual(genuine.map((_, i) => `unit-SH-${i}`));
      // One worker beside this thread: the workers verify the first 25 (this thread also decodes all 40), this thread the last 15.
      expect(toWorkers).toEqual(genuine.slice(0, 25).map((e) => e.signatures[0]?.sig));

      for (const index of [3, 39]) {
        toWorkers.length = 0;
        await expect(ledger.submit(forge(batch(`SF${index}`), index), stationP)).rejects.toMatchObject({ code: 'SIGNATURE_INVALID', details: { index } });
        expect(toWorkers).toHaveLength(25);
        expect(await store.readStream(`unit-SF${index}-0`)).toEqual([]);
      }
    } finally {
      await pool.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
