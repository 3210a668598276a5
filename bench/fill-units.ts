/**
 * The fill's events as a pure function of their number (bench/fixtures.ts): what is signed, chained and
 * stored, the same whether built on the fill's own thread or on its signing threads (bench/fill-worker.ts).
 * One home for the data set's shape, so that the two paths cannot drift apart
 * (test/bench-fill.int.test.ts holds them to the same store).
 */
import { createHash, createPrivateKey, sign as nodeSign, type KeyObject } from 'node:crypto';
import { canonicalBytes } from '../src/crypto/jcs.ts';
import { envelopeBytes, pae } from '../src/crypto/dsse.ts';
import { toBase64, toHex } from '../src/crypto/encoding.ts';
import { EVENT_PAYLOAD_TYPE, schemaVersionFor, type EventType } from '../schemas/index.ts';
import { simulatedRelease } from '../src/sim/simulated-station.ts';
import { releaseApprovedData } from '../src/sim/line-setup.ts';
import type { AppendRequest, EventData } from '../src/store/event-store.ts';

/** Events before the first unit (trust, station, release, batch) and events per unit: the fill's fixed shape. */
export const HEAD_EVENTS = 5;
export const EVENTS_PER_UNIT = 6;
export const serialOf = (unit: number) => `SN${String(unit).padStart(8, '0')}`;
export const fillRelease = () => simulatedRelease('R-1', 'SENSOR-S3', '2.4.1');
export const previousImageOf = () => createHash('sha256').update('application 2.4.0').digest('hex');

export interface FillKey {
  readonly keyId: string;
  readonly publicKey: Uint8Array;
  readonly secretKey: Uint8Array;
}

/** Everything a fill's events depend on besides their number: the keys and the clock's origin, kept in the directory. */
export interface FillSetup {
  readonly originMs: number;
  readonly station: FillKey;
  readonly admin: FillKey;
  readonly ledger: FillKey;
}

type Kind = 'station' | 'admin' | 'ledger';

export function fillEvents(setup: FillSetup) {
  const pkcs8 = (secret: Uint8Array) => createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.from(secret)]), format: 'der', type: 'pkcs8' });
  const keys: Record<Kind, { keyId: string; pk: KeyObject }> = {
    station: { keyId: setup.station.keyId, pk: pkcs8(setup.station.secretKey) },
    admin: { keyId: setup.admin.keyId, pk: pkcs8(setup.admin.secretKey) },
    ledger: { keyId: setup.ledger.keyId, pk: pkcs8(setup.ledger.secretKey) },
  };
  const release = fillRelease();
  const previousImage = previousImageOf();
  const heads = new Map<string, string | null>();
  // A unit's events have one shape per type (only values change from unit to unit), so the schema version
  // their data fits is looked up once per type rather than parsed for each of millions of events.
  const unitVersions = new Map<EventType, number>();
  const versionOf = (type: EventType, data: Record<string, unknown>, stream: string) => {
    if (!stream.startsWith('unit-')) return schemaVersionFor(type, data);
    let version = unitVersions.get(type);
    if (version === undefined) unitVersions.set(type, (version = schemaVersionFor(type, data)));
    return version;
  };
  /** The n-th event of the data set (0-based), with an id and a time that depend on n alone. */
  const make = (n: number, type: EventType, data: Record<string, unknown>, kind: Kind, stream: string): EventData => {
    const event = { id: uuidOf(n), type, schemaVersion: versionOf(type, data, stream), occurredAt: new Date(setup.originMs + 250 * (n + 1)).toISOString(), source: { kind, id: kind === 'station' ? 'ST-01' : kind }, prev: heads.get(stream) ?? null, data };
    const body = canonicalBytes(event);
    const k = keys[kind];
    const envelope = { payloadType: EVENT_PAYLOAD_TYPE, payload: toBase64(body), signatures: [{ keyid: k.keyId, sig: toBase64(nodeSign(null, pae(EVENT_PAYLOAD_TYPE, body), k.pk)) }] };
    const bytes = envelopeBytes(envelope);
    heads.set(stream, createHash('sha256').update(bytes).digest('hex'));
    return { id: event.id, type, data: bytes };
  };
  return {
    /** The ledger's trust, the station, the release and the batch: the five events before the first unit. */
    head(): AppendRequest[] {
      const { admin, station } = setup;
      return [
        { stream: 'ledger-trust', events: [make(0, 'AdminKeysTrusted', { keys: [{ keyId: admin.keyId, publicKey: toHex(admin.publicKey) }] }, 'ledger', 'ledger-trust')] },
        { stream: 'station-ST-01', events: [make(1, 'StationRegistered', { stationId: 'ST-01', line: 'L1', site: 'bench' }, 'admin', 'station-ST-01'), make(2, 'StationKeyRegistered', { stationId: 'ST-01', keyId: station.keyId, publicKey: toHex(station.publicKey), algorithm: 'ed25519' }, 'admin', 'station-ST-01')] },
        { stream: 'release-R-1', events: [make(3, 'ReleaseApproved', releaseApprovedData(release), 'admin', 'release-R-1')] },
        { stream: 'batch-B-1', events: [make(4, 'BatchOpened', { batchId: 'B-1', releaseId: 'R-1', line: 'L1', productSku: 'SENSOR-S3', plannedQuantity: 10_000_000 }, 'admin', 'batch-B-1')] },
      ];
    },
    /** Unit number `unit` (1-based): its six events, scan to ship; every 50th unit carries the earlier image. */
    unit(unit: number): EventData[] {
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
      return events;
    },
  };
}

/** The six event types of a unit, in order: a signing thread sends ids and bytes only. */
export const UNIT_EVENT_TYPES: readonly EventType[] = ['UnitScanned', 'BootloaderWritten', 'AppVerified', 'ProvisioningApplied', 'EfuseBurned', 'UnitShipped'];

/** A version 4 UUID from the event's number in the data set: unique across the set, the same on every run. */
function uuidOf(n: number): string {
  const h = createHash('sha256').update(`flashtrail/bench-fill/v1\0${n}`).digest('hex').split('');
  h[12] = '4';
  h[16] = ((parseInt(h[16] as string, 16) & 0x3) | 0x8).toString(16);
  const s = h.join('');
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20, 32)}`;
}
