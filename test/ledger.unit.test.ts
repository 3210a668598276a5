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
import { lineSetupEvents } from '../src/sim/line-setup.ts';

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
        if (prop === 'appendToStreams') {
          return async (...args: Parameters<SqliteEventStore['appendToStreams']>) => {
            await otherLedger.submit([theirs.envelope], stationP);
            return target.appendToStreams(...args);
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

  it('refuses a station key registered under another station', async () => {
    const other = new EventSigner(stationKey, 'ST-02');
    await ledger.submit([admin.sign('StationRegistered', { stationId: 'ST-02', line: 'L1', site: 'P' }).envelope], adminP);
    const error = await ledger.submit([other.sign('UnitScanned', scanData('X-3', 'B-1', 'ST-02')).envelope], { name: 's2', role: 'station', stationId: 'ST-02' }).catch((e: unknown) => e);
    expect((error as LedgerError).code).toBe('KEY_UNKNOWN');
  });
});
