/**
 * Fills a ledger data directory with a large, realistic event log quickly: station events are signed with
 * node's Ed25519 and appended straight to the store (the HTTP path is measured in bench/append.ts).
 */
import { createHash, createPrivateKey, sign as nodeSign } from 'node:crypto';
import { join } from 'node:path';
import { configFromEnv, initDataDir, type InitResult, type LedgerConfig } from '../src/server/main.ts';
import { SqliteEventStore } from '../src/store/sqlite.ts';
import { readSecretKeyFile } from '../src/files/key-file.ts';
import { newSigner } from '../src/crypto/ed25519.ts';
import { canonicalBytes } from '../src/crypto/jcs.ts';
import { envelopeBytes, pae } from '../src/crypto/dsse.ts';
import { toBase64, toHex } from '../src/crypto/encoding.ts';
import { EVENT_PAYLOAD_TYPE, schemaVersionFor, type EventType } from '../schemas/index.ts';
import { seededRandom, seededUuid } from '../src/sim/random.ts';
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

export async function fillLedger(dir: string, target: number, log: (line: string) => void = () => undefined): Promise<FilledLedger> {
  const config = configFromEnv({}, { dataDir: dir, port: 0 });
  const init = initDataDir(config);
  const store = new SqliteEventStore(join(dir, 'events.sqlite'));
  const admin = readSecretKeyFile(init.adminKeyFile);
  const station = newSigner();
  const pkcs8 = (secret: Uint8Array) => createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.from(secret)]), format: 'der', type: 'pkcs8' });
  const ledgerKey = readSecretKeyFile(join(dir, 'ledger.key'));
  const keys = {
    station: { keyId: station.keyId, pk: pkcs8(station.secretKey) },
    admin: { keyId: admin.keyId, pk: pkcs8(admin.secretKey) },
    ledger: { keyId: ledgerKey.keyId, pk: pkcs8(ledgerKey.secretKey) },
  };
  const random = seededRandom(42);
  const release = simulatedRelease('R-1', 'SENSOR-S3', '2.4.1');
  const previousImage = createHash('sha256').update('application 2.4.0').digest('hex');
  let time = Date.now() - 3 * 86_400_000;
  const heads = new Map<string, string | null>();
  const make = (type: EventType, data: Record<string, unknown>, kind: 'station' | 'admin' | 'ledger', stream: string) => {
    time += 250;
    const event = { id: seededUuid(random), type, schemaVersion: schemaVersionFor(type, data), occurredAt: new Date(time).toISOString(), source: { kind, id: kind === 'station' ? 'ST-01' : kind }, prev: heads.get(stream) ?? null, data };
    const body = canonicalBytes(event);
    const k = keys[kind];
    const envelope = { payloadType: EVENT_PAYLOAD_TYPE, payload: toBase64(body), signatures: [{ keyid: k.keyId, sig: toBase64(nodeSign(null, pae(EVENT_PAYLOAD_TYPE, body), k.pk)) }] };
    const bytes = envelopeBytes(envelope);
    heads.set(stream, createHash('sha256').update(bytes).digest('hex'));
    return { id: event.id, type, data: bytes };
  };
  // The ledger records its trusted administrator keys first, as a running ledger does at start.
  await store.appendToStreams([
    { stream: 'ledger-trust', events: [make('AdminKeysTrusted', { keys: [{ keyId: admin.keyId, publicKey: toHex(admin.publicKey) }] }, 'ledger', 'ledger-trust')] },
    { stream: 'station-ST-01', events: [make('StationRegistered', { stationId: 'ST-01', line: 'L1', site: 'bench' }, 'admin', 'station-ST-01'), make('StationKeyRegistered', { stationId: 'ST-01', keyId: station.keyId, publicKey: toHex(station.publicKey), algorithm: 'ed25519' }, 'admin', 'station-ST-01')] },
    { stream: 'release-R-1', events: [make('ReleaseApproved', releaseApprovedData(release), 'admin', 'release-R-1')] },
    { stream: 'batch-B-1', events: [make('BatchOpened', { batchId: 'B-1', releaseId: 'R-1', line: 'L1', productSku: 'SENSOR-S3', plannedQuantity: 10_000_000 }, 'admin', 'batch-B-1')] },
  ]);
  log(`  writing ${target.toLocaleString('en-US')} events…`);
  let written = 5;
  let units = 0;
  let drifted = 0;
  /** Six events a unit, 200 units a transaction, until `events` more are written (a unit's flow is never cut). */
  const writeUnits = async (into: SqliteEventStore, events: number) => {
    const until = written + events;
    while (written < until) {
      const requests = [];
      for (let k = 0; k < 200 && written < until; k++) {
        const serial = `SN${String(++units).padStart(8, '0')}`;
        const stream = `unit-${serial}`;
        const image = units % 50 === 0 ? previousImage : release.application.sha256;
        if (image === previousImage) drifted++;
        const flow = [
          make('UnitScanned', { serial, batchId: 'B-1', station: 'ST-01', operator: 'op', productSku: 'SENSOR-S3', hardwareRevision: 'rev-C' }, 'station', stream),
          make('BootloaderWritten', { serial, imageSha256: release.bootloader.sha256, version: 'bl-2.4.1', sizeBytes: 1, signingKeyRef: 'k', signingKeyDigest: release.signingKeyDigest }, 'station', stream),
          make('AppVerified', { serial, imageSha256: image, version: '2.4.1', sizeBytes: 1, reportedSha256: image, method: 'device_report', result: 'pass' }, 'station', stream),
          make('ProvisioningApplied', { serial, templateId: 't', templateSha256: release.provisioningTemplate.sha256, configSha256: release.signingKeyDigest }, 'station', stream),
          make('EfuseBurned', { serial, profile: release.efuseProfile, fuses: [{ name: 'SECURE_BOOT_EN', value: '1' }], keyDigests: [release.signingKeyDigest], secureBoot: true, flashEncryption: true }, 'station', stream),
          make('UnitShipped', { serial, customer: 'ACME', orderRef: 'PO-1' }, 'station', stream),
        ];
        written += flow.length;
        requests.push({ stream, events: flow, expected: 'no_stream' as const });
      }
      await into.appendToStreams(requests);
    }
  };
  await writeUnits(store, target - written);
  await store.close();
  return {
    config,
    init,
    events: written,
    units,
    drifted,
    release,
    previousImage,
    batchId: 'B-1',
    async appendUnits(into, events) {
      const before = written;
      await writeUnits(into, events);
      return written - before;
    },
  };
}
