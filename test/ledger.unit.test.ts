/** The ledger pipeline against a real SQLite store, without HTTP. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteEventStore } from '../src/store/sqlite.ts';
import { Ledger, type Principal } from '../src/write/pipeline.ts';
import { LedgerError } from '../src/write/errors.ts';
import { EventSigner } from '../src/event/signer.ts';
import { newSigner } from '../src/crypto/ed25519.ts';
import { scanData } from './helpers/ledger-fixture.ts';
import { simulatedRelease } from '../src/sim/simulated-station.ts';
import { lineSetupEvents, releaseApprovedData } from '../src/sim/line-setup.ts';
import { batchAggregate } from '../src/domain/batch.ts';

const adminP: Principal = { name: 'admin', role: 'admin' };
const stationP: Principal = { name: 'st', role: 'station', stationId: 'ST-01' };

describe('ledger', () => {
  let dir: string;
  let store: SqliteEventStore;
  let ledger: Ledger;
  const adminKey = newSigner();
  const stationKey = newSigner();
  let admin: EventSigner;
  let station: EventSigner;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flashtrail-ledger-'));
    store = new SqliteEventStore(join(dir, 'events.sqlite'));
    ledger = new Ledger({ store, clock: () => new Date(), adminKeys: new Map([[adminKey.keyId, adminKey.publicKey]]) });
    admin = new EventSigner(adminKey, 'admin');
    station = new EventSigner(stationKey, 'ST-01');
    const release = simulatedRelease('R-1', 'SENSOR-S3', '1.0.0');
    await ledger.submit(lineSetupEvents(admin, { stations: [{ stationId: 'ST-01', key: stationKey }], release, batch: { batchId: 'B-1', line: 'L1', plannedQuantity: 10 } }), adminP);
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a writer that appends between the checks and the append causes CONCURRENCY_CONFLICT and nothing is written', async () => {
    // A second ledger process on the same file: it writes the unit's first event after our ledger read the
    // stream but before it appended. Its store is a separate connection to the same SQLite file.
    const other = new SqliteEventStore(join(dir, 'events.sqlite'));
    const otherLedger = new Ledger({ store: other, clock: () => new Date(), adminKeys: new Map() });
    const ours = station.sign('UnitScanned', scanData('X-1'));
    const theirs = new EventSigner(stationKey, 'ST-01').sign('UnitScanned', scanData('X-1'));
    const racing = new Proxy(store, {
      get(target, prop, receiver) {
        if (prop === 'appendGroups') {
          return async (...args: Parameters<SqliteEventStore['appendGroups']>) => {
            await otherLedger.submit([theirs.envelope], stationP);
            return target.appendGroups(...args);
          };
        }
        const value = Reflect.get(target, prop, receiver) as unknown;
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const racingLedger = new Ledger({ store: racing, clock: () => new Date(), adminKeys: new Map() });
    const error = await racingLedger.submit([ours.envelope], stationP).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LedgerError);
    expect((error as LedgerError).code).toBe('CONCURRENCY_CONFLICT');
    const stream = await store.readStream('unit-X-1');
    expect(stream.map((e) => e.id)).toEqual([theirs.event.id]);
    await other.close();
  });

  it('mixes retried and new events in one batch: retries are reported as duplicates, new ones appended', async () => {
    const scan = station.sign('UnitScanned', scanData('X-2'));
    await ledger.submit([scan.envelope], stationP);
    const boot = station.sign('BootloaderWritten', {
      serial: 'X-2', imageSha256: 'a'.repeat(64), version: '1', sizeBytes: 1, signingKeyRef: 'k', signingKeyDigest: 'b'.repeat(64),
    });
    const results = await ledger.submit([scan.envelope, boot.envelope], stationP);
    expect(results.map((r) => [r.duplicate, r.revision])).toEqual([[true, 0n], [false, 1n]]);
  });

  it('refuses an event id already recorded in another stream as EVENT_ID_CONFLICT, and writes nothing', async () => {
    const first = station.sign('UnitScanned', scanData('X-10'));
    await ledger.submit([first.envelope], stationP);
    const head = await store.headPosition();
    // A correctly signed, chained and allowed event of another unit, reusing the id.
    const reuse = station.sign('UnitScanned', scanData('X-11'), { id: first.event.id, prev: null });
    const error = await ledger.submit([reuse.envelope], stationP).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LedgerError);
    expect(error).toMatchObject({ code: 'EVENT_ID_CONFLICT', details: { eventId: first.event.id, stream: 'unit-X-11', recordedIn: 'unit-X-10' } });
    expect(await store.readStream('unit-X-11')).toEqual([]);
    expect(await store.headPosition()).toBe(head);
  });

  it("a decision sees the events of its own submission: a batch opened against a release approved in the same request", async () => {
    const release = simulatedRelease('R-2', 'SENSOR-S3', '2.0.0');
    const approve = admin.sign('ReleaseApproved', releaseApprovedData(release));
    const open = admin.sign('BatchOpened', { batchId: 'B-2', releaseId: 'R-2', line: 'L1', productSku: 'SENSOR-S3', plannedQuantity: 5 });
    const written = await ledger.submit([approve.envelope, open.envelope], adminP);
    expect(written.map((w) => [w.stream, w.revision, w.duplicate])).toEqual([['release-R-2', 0n, false], ['batch-B-2', 0n, false]]);
    expect(await ledger.stateOf(batchAggregate.stream('B-2'))).toMatchObject({ status: 'open', opened: { releaseId: 'R-2' } });
    // …and a release that is only named, never approved, is refused with the rule and the batch's state.
    const orphan = admin.sign('BatchOpened', { batchId: 'B-3', releaseId: 'R-404', line: 'L1', productSku: 'SENSOR-S3', plannedQuantity: 5 });
    await expect(ledger.submit([orphan.envelope], adminP)).rejects.toMatchObject({ code: 'RULE_VIOLATION', details: { rule: 'RELEASE_UNKNOWN', currentState: 'unknown', index: 0 } });
  });

  it('reads the head of a stream alone', async () => {
    const scan = station.sign('UnitScanned', scanData('X-12'));
    const boot = station.sign('BootloaderWritten', { serial: 'X-12', imageSha256: 'a'.repeat(64), version: '1', sizeBytes: 1, signingKeyRef: 'k', signingKeyDigest: 'b'.repeat(64) });
    await ledger.submit([scan.envelope, boot.envelope], stationP);
    const head = await ledger.streamHead('unit-X-12');
    expect(head?.digest).toBe(boot.digest);
    expect(head?.recorded.revision).toBe(1n);
    expect(await ledger.streamHead('unit-NONE')).toBeNull();
  });

  it('refuses a station key registered under another station', async () => {
    const other = new EventSigner(stationKey, 'ST-02');
    await ledger.submit([admin.sign('StationRegistered', { stationId: 'ST-02', line: 'L1', site: 'P' }).envelope], adminP);
    const error = await ledger.submit([other.sign('UnitScanned', scanData('X-3', 'B-1', 'ST-02')).envelope], { name: 's2', role: 'station', stationId: 'ST-02' }).catch((e: unknown) => e);
    expect((error as LedgerError).code).toBe('KEY_UNKNOWN');
  });
});
