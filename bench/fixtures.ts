/**
 * Fills a ledger data directory with a large, realistic event log quickly: station events are signed with
 * node's Ed25519 and appended straight to the store (the HTTP path is measured in bench/append.ts).
 *
 * Resumable: the data set is a pure function of the unit number (event ids, times and data derive from it; the
 * station key is kept in the directory), and each transaction holds whole units, so a fill that was stopped
 * goes on from the last unit the store committed and ends with the same events a single run writes.
 */
import { createHash, createPrivateKey, sign as nodeSign } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileDurable } from '../src/files/durable.ts';
import { configFromEnv, initDataDir, type InitResult, type LedgerConfig } from '../src/server/main.ts';
import { SqliteEventStore } from '../src/store/sqlite.ts';
import { readSecretKeyFile, writeSecretKeyFile } from '../src/files/key-file.ts';
import { newSigner } from '../src/crypto/ed25519.ts';
import { canonicalBytes } from '../src/crypto/jcs.ts';
import { envelopeBytes, pae } from '../src/crypto/dsse.ts';
import { toBase64, toHex } from '../src/crypto/encoding.ts';
import { EVENT_PAYLOAD_TYPE, schemaVersionFor, type EventType } from '../schemas/index.ts';
import { simulatedRelease, type ReleaseFirmware } from '../src/sim/simulated-station.ts';
import { releaseApprovedData } from '../src/sim/line-setup.ts';

export interface FilledLedger {
  readonly config: LedgerConfig;
  readonly init: InitResult;
  readonly events: number;
  readonly units: number;
  readonly drifted: number;
  readonly release: ReleaseFirmware;
  readonly previousImage: string;
  readonly batchId: string;
  /**
   * Appends the flows of further units (six events each, at least `events` events) to `into`, the store of
   * this data directory, e.g. a running ledger's: what a burst of stations catching up looks like. Returns
   * how many events it wrote. `events`, `units` and `drifted` above are as of the fill.
   */
  appendUnits(into: SqliteEventStore, events: number): Promise<number>;
}

/** Events before the first unit (trust, station, release, batch) and events per unit: the fill's fixed shape. */
const HEAD_EVENTS = 5;
const EVENTS_PER_UNIT = 6;
const UNITS_PER_TRANSACTION = 200;
const serialOf = (unit: number) => `SN${String(unit).padStart(8, '0')}`;

/** Progress lines go to `log` (one at the start, then about every 10 s): events written, rate, time left. */
export async function fillLedger(dir: string, target: number, log: (line: string) => void = () => undefined): Promise<FilledLedger> {
  const config = configFromEnv({}, { dataDir: dir, port: 0 });
  const init = initDataDir(config);
  const store = new SqliteEventStore(join(dir, 'events.sqlite'));
  const admin = readSecretKeyFile(init.adminKeyFile);
  // The station's key and the clock's origin are the fill's only random inputs: kept, a resumed fill signs on.
  const stationKeyFile = join(dir, 'bench-station.key');
  if (!existsSync(stationKeyFile)) writeSecretKeyFile(stationKeyFile, newSigner(), 'bench/fixtures.ts station ST-01');
  const station = readSecretKeyFile(stationKeyFile);
  const originFile = join(dir, 'bench-fill.json');
  if (!existsSync(originFile)) writeFileDurable(originFile, JSON.stringify({ originMs: Date.now() - 3 * 86_400_000 }) + '\n', { mode: 0o600 });
  const { originMs } = JSON.parse(readFileSync(originFile, 'utf8')) as { originMs: number };
  const pkcs8 = (secret: Uint8Array) => createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.from(secret)]), format: 'der', type: 'pkcs8' });
  const ledgerKey = readSecretKeyFile(join(dir, 'ledger.key'));
  const keys = {
    station: { keyId: station.keyId, pk: pkcs8(station.secretKey) },
    admin: { keyId: admin.keyId, pk: pkcs8(admin.secretKey) },
    ledger: { keyId: ledgerKey.keyId, pk: pkcs8(ledgerKey.secretKey) },
  };
  const release = simulatedRelease('R-1', 'SENSOR-S3', '2.4.1');
  const previousImage = createHash('sha256').update('application 2.4.0').digest('hex');
  const heads = new Map<string, string | null>();
  /** The n-th event of the data set (0-based), with an id and a time that depend on n alone. */
  const make = (n: number, type: EventType, data: Record<string, unknown>, kind: 'station' | 'admin' | 'ledger', stream: string) => {
    const event = { id: uuidOf(n), type, schemaVersion: schemaVersionFor(type, data), occurredAt: new Date(originMs + 250 * (n + 1)).toISOString(), source: { kind, id: kind === 'station' ? 'ST-01' : kind }, prev: heads.get(stream) ?? null, data };
    const body = canonicalBytes(event);
    const k = keys[kind];
    const envelope = { payloadType: EVENT_PAYLOAD_TYPE, payload: toBase64(body), signatures: [{ keyid: k.keyId, sig: toBase64(nodeSign(null, pae(EVENT_PAYLOAD_TYPE, body), k.pk)) }] };
    const bytes = envelopeBytes(envelope);
    heads.set(stream, createHash('sha256').update(bytes).digest('hex'));
    return { id: event.id, type, data: bytes };
  };
  if ((await store.headPosition()) < 0n) {
    // The ledger records its trusted administrator keys first, as a running ledger does at start.
    await store.appendToStreams([
      { stream: 'ledger-trust', events: [make(0, 'AdminKeysTrusted', { keys: [{ keyId: admin.keyId, publicKey: toHex(admin.publicKey) }] }, 'ledger', 'ledger-trust')] },
      { stream: 'station-ST-01', events: [make(1, 'StationRegistered', { stationId: 'ST-01', line: 'L1', site: 'bench' }, 'admin', 'station-ST-01'), make(2, 'StationKeyRegistered', { stationId: 'ST-01', keyId: station.keyId, publicKey: toHex(station.publicKey), algorithm: 'ed25519' }, 'admin', 'station-ST-01')] },
      { stream: 'release-R-1', events: [make(3, 'ReleaseApproved', releaseApprovedData(release), 'admin', 'release-R-1')] },
      { stream: 'batch-B-1', events: [make(4, 'BatchOpened', { batchId: 'B-1', releaseId: 'R-1', line: 'L1', productSku: 'SENSOR-S3', plannedQuantity: 10_000_000 }, 'admin', 'batch-B-1')] },
    ]);
  }
  const wanted = Math.max(0, Math.ceil((target - HEAD_EVENTS) / EVENTS_PER_UNIT));
  let units = await unitsCommitted(store);
  const resumedAt = units;
  const started = performance.now();
  let reported = started;
  const progress = (final: boolean) => {
    const written = HEAD_EVENTS + units * EVENTS_PER_UNIT;
    const seconds = (performance.now() - started) / 1000;
    const rate = ((units - resumedAt) * EVENTS_PER_UNIT) / Math.max(seconds, 1e-3);
    const left = rate > 0 ? ((wanted - units) * EVENTS_PER_UNIT) / rate : Number.NaN;
    const percent = wanted === 0 ? 100 : (100 * units) / wanted;
    log(`  ${final ? 'wrote' : 'writing'} ${written.toLocaleString('en-US')} of ${(HEAD_EVENTS + wanted * EVENTS_PER_UNIT).toLocaleString('en-US')} events (${percent.toFixed(1)} %), ${Math.round(rate).toLocaleString('en-US')} events/s${final || !Number.isFinite(left) ? '' : `, about ${Math.ceil(left / 60)} min left`}`);
  };
  if (resumedAt > 0) log(`  resuming the data set in ${dir}: ${resumedAt.toLocaleString('en-US')} units already in the store`);
  progress(false);
  /** Writes whole units (six events each, 200 a transaction) into `into` until `last` units exist. */
  const writeUnitsUpTo = async (into: SqliteEventStore, last: number, report: boolean) => {
    while (units < last) {
      const requests = [];
      for (let k = 0; k < UNITS_PER_TRANSACTION && units < last; k++) {
        const unit = ++units;
        const serial = serialOf(unit);
        const stream = `unit-${serial}`;
        const image = unit % 50 === 0 ? previousImage : release.application.sha256;
        let n = HEAD_EVENTS + (unit - 1) * EVENTS_PER_UNIT;
        const events = [
          make(n++, 'UnitScanned', { serial, batchId: 'B-1', station: 'ST-01', operator: 'op', productSku: 'SENSOR-S3', hardwareRevision: 'rev-C' }, 'station', stream),
          make(n++, 'BootloaderWritten', { serial, imageSha256: release.bootloader.sha256, version: 'bl-2.4.1', sizeBytes: 1, signingKeyRef: 'k', signingKeyDigest: release.signingKeyDigest }, 'station', stream),
          make(n++, 'AppVerified', { serial, imageSha256: image, version: '2.4.1', sizeBytes: 1, reportedSha256: image, method: 'device_report', result: 'pass' }, 'station', stream),
          make(n++, 'ProvisioningApplied', { serial, templateId: 't', templateSha256: release.provisioningTemplate.sha256, configSha256: release.signingKeyDigest }, 'station', stream),
          make(n++, 'EfuseBurned', { serial, profile: release.efuseProfile, fuses: [{ name: 'SECURE_BOOT_EN', value: '1' }], keyDigests: [release.signingKeyDigest], secureBoot: true, flashEncryption: true }, 'station', stream),
          make(n++, 'UnitShipped', { serial, customer: 'ACME', orderRef: 'PO-1' }, 'station', stream),
        ];
        heads.delete(stream); // a unit's stream is written once: memory stays flat over millions of units
        requests.push({ stream, events, expected: 'no_stream' as const });
      }
      await into.appendToStreams(requests);
      if (report && performance.now() - reported > 10_000) {
        reported = performance.now();
        progress(false);
      }
    }
  };
  await writeUnitsUpTo(store, wanted, true);
  progress(true);
  await store.close();
  // Every 50th unit carries the earlier image (the affected-units query's answer).
  const filled = { events: HEAD_EVENTS + units * EVENTS_PER_UNIT, units, drifted: Math.floor(units / 50) };
  return {
    config,
    init,
    ...filled,
    release,
    previousImage,
    batchId: 'B-1',
    async appendUnits(into, events) {
      const before = units;
      await writeUnitsUpTo(into, units + Math.ceil(events / EVENTS_PER_UNIT), false);
      return (units - before) * EVENTS_PER_UNIT;
    },
  };
}

/** The units a (possibly interrupted) fill committed: units are written in serial order, whole, so the last one tells. */
async function unitsCommitted(store: SqliteEventStore): Promise<number> {
  const exists = async (unit: number) => (await store.readStream(`unit-${serialOf(unit)}`, { maxCount: 1 })).length > 0;
  if (!(await exists(1))) return 0;
  let low = 1;
  let high = 2;
  while (await exists(high)) {
    low = high;
    high *= 2;
  }
  while (high - low > 1) {
    const middle = Math.floor((low + high) / 2);
    if (await exists(middle)) low = middle;
    else high = middle;
  }
  return low;
}

/** A version 4 UUID from the event's number in the data set: unique across the set, the same on every run. */
function uuidOf(n: number): string {
  const h = createHash('sha256').update(`flashtrail/bench-fill/v1\0${n}`).digest('hex').split('');
  h[12] = '4';
  h[16] = ((parseInt(h[16] as string, 16) & 0x3) | 0x8).toString(16);
  const s = h.join('');
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20, 32)}`;
}
