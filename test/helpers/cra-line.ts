/**
 * The CRA scenario of issue 21, on a real test ledger: stations (a flashing station and the fleet's update
 * service), three releases of the ES-300 (2.3.0 with a CycloneDX 1.6 SBOM, 2.4.0 with an esp-idf-sbom SPDX
 * 2.2 tag-value SBOM, both carrying mbedTLS; 2.4.1 the fix), support periods, units shipped to three
 * customers and field updates. The SBOMs are attached here unless the caller attaches them itself (the
 * README walk-through does it with `flashtrail sbom attach`).
 */
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import type { TestLedger } from './ledger-fixture.ts';
import { EventSigner } from '../../src/event/signer.ts';
import { LedgerClient } from '../../src/client/ledger-client.ts';
import { toBase64, toHex } from '../../src/crypto/encoding.ts';
import { ingestSbom } from '../../src/cra/sbom.ts';
import { sbomAttachment } from '../../src/cra/index-entries.ts';
import { unitStream, releaseStream } from '../../src/event/streams.ts';
import type { EventOfVersion } from '../../schemas/index.ts';

export const fixture = (name: string) => new Uint8Array(readFileSync(new URL(`../fixtures/cra/${name}`, import.meta.url)));
export const CDX = fixture('sensor-fw-2.3.0.cdx.json');
export const SPDX = fixture('sensor-fw-2.4.0.spdx');
export const sha = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');
// CVE-2024-23775: Mbed TLS 2.x before 2.28.7 and 3.x before 3.5.2.
export const VULNERABLE = 'vers:generic/>=2.0.0|<2.28.7|>=3.0.0|<3.5.2';
export const MBEDTLS = 'pkg:github/Mbed-TLS/mbedtls';

const release = (releaseId: string, version: string, sbom?: Uint8Array): EventOfVersion<'ReleaseApproved', 1>['data'] => ({
  releaseId,
  productSku: 'ES-300',
  version,
  bootloaderSha256: sha(`bootloader ${version}`),
  applicationSha256: sha(`application ${version}`),
  provisioningTemplateSha256: sha(`template ${version}`),
  signingKeyDigest: sha('secure boot key ES-300'),
  efuseProfile: 'secure-boot-v2-flash-enc',
  ...(sbom ? { sbomSha256: sha(sbom) } : {}),
});
export const R230 = release('ES300-2.3.0', '2.3.0', CDX);
export const R240 = release('ES300-2.4.0', '2.4.0', SPDX);
export const R241 = release('ES300-2.4.1', '2.4.1');

/** Which units ship where (serial → release, customer); SN-X1 stays on the line. */
export const UNITS: [serial: string, r: typeof R230, customer: string | null][] = [
  ['SN-A1', R230, 'ACME Robotics'],
  ['SN-A2', R230, 'ACME Robotics'],
  ['SN-B1', R230, 'Borealis Energy'],
  ['SN-C1', R230, 'Cirrus Medical'],
  ['SN-A3', R240, 'ACME Robotics'],
  ['SN-B2', R240, 'Borealis Energy'],
  ['SN-C2', R240, 'Cirrus Medical'],
  ['SN-C3', R240, 'Cirrus Medical'],
  ['SN-X1', R240, null],
];
/** Field updates by the fleet's update service: serial, from, to. */
export const UPDATES: [string, typeof R230, typeof R230][] = [
  ['SN-A2', R230, R241],
  ['SN-C2', R240, R241],
  ['SN-B1', R230, R240],
];

export async function setUpCraLine(t: TestLedger, options: { attachSboms: boolean }): Promise<void> {
  const admin = t.adminClient;
  const a = t.admin;
  const flash = t.stationKeys['ST-01'];
  const fleet = t.stationKeys['ST-02'];
  await admin.appendAdmin([
    a.sign('StationRegistered', { stationId: 'ST-01', line: 'L1', site: 'Plant 1' }).envelope,
    a.sign('StationKeyRegistered', { stationId: 'ST-01', keyId: flash.keyId, publicKey: toHex(flash.publicKey), algorithm: 'ed25519' }).envelope,
    // The fleet's update service, with a key of its own, registered like a station with role fleet.
    a.sign('StationRegistered', { stationId: 'ST-02', line: 'fleet', site: 'OTA service', role: 'fleet' }).envelope,
    a.sign('StationKeyRegistered', { stationId: 'ST-02', keyId: fleet.keyId, publicKey: toHex(fleet.publicKey), algorithm: 'ed25519' }).envelope,
    ...[R230, R240, R241].map((r) => a.sign('ReleaseApproved', r).envelope),
    a.sign('BatchOpened', { batchId: 'B-230', releaseId: R230.releaseId, line: 'L1', productSku: 'ES-300', plannedQuantity: 10 }).envelope,
    a.sign('BatchOpened', { batchId: 'B-240', releaseId: R240.releaseId, line: 'L1', productSku: 'ES-300', plannedQuantity: 10 }).envelope,
    a.sign('SupportPeriodSet', { releaseId: R230.releaseId, supportEnd: '2027-03' }).envelope,
    a.sign('SupportPeriodSet', { releaseId: R240.releaseId, supportEnd: '2031-12' }).envelope,
    a.sign('SupportPeriodSet', { releaseId: R241.releaseId, supportEnd: '2031-12' }).envelope,
  ]);
  // Each SBOM: uploaded (the ledger validates and keeps it), then attached by a signed event.
  for (const [r, bytes] of options.attachSboms ? ([[R230, CDX], [R240, SPDX]] as const) : []) {
    await admin.request('POST', '/v1/cra/sboms', { sbom: toBase64(bytes) });
    await admin.appendAdmin([a.sign('SbomAttached', sbomAttachment(r.releaseId, ingestSbom(bytes), bytes.length), { prev: (await admin.get<{ digest: string }>(`/v1/streams/${releaseStream(r.releaseId)}/head`)).digest }).envelope]);
  }
  const station = new EventSigner(flash, 'ST-01');
  const stationClient = new LedgerClient(t.url, t.tokens.station1);
  for (const [serial, r, customer] of UNITS) {
    const s = (type: Parameters<EventSigner['sign']>[0], data: object) => station.sign(type, data as never).envelope;
    await stationClient.append([
      s('UnitScanned', { serial, batchId: r === R230 ? 'B-230' : 'B-240', station: 'ST-01', operator: 'op-ana', productSku: 'ES-300', hardwareRevision: 'rev-C' }),
      s('BootloaderWritten', { serial, imageSha256: r.bootloaderSha256, version: `bl-${r.version}`, sizeBytes: 28_672, signingKeyRef: 'es300-sb', signingKeyDigest: r.signingKeyDigest }),
      s('AppVerified', { serial, imageSha256: r.applicationSha256, version: r.version, sizeBytes: 1_245_184, reportedSha256: r.applicationSha256, method: 'device_report', result: 'pass' }),
      s('ProvisioningApplied', { serial, templateId: 'prov-es300', templateSha256: r.provisioningTemplateSha256, configSha256: sha(`config ${serial}`) }),
      s('EfuseBurned', { serial, profile: r.efuseProfile, fuses: [{ name: 'SECURE_BOOT_EN', value: '1' }], keyDigests: [r.signingKeyDigest], secureBoot: true, flashEncryption: true }),
      ...(customer ? [s('UnitShipped', { serial, customer, orderRef: `PO-${customer.slice(0, 3).toUpperCase()}-1` })] : []),
    ]);
  }
  const fleetSigner = new EventSigner(fleet, 'ST-02');
  const fleetClient = new LedgerClient(t.url, t.tokens.station2);
  for (const [serial, from, to] of UPDATES) {
    const head = await fleetClient.get<{ digest: string }>(`/v1/streams/${unitStream(serial)}/head`);
    fleetSigner.setHead(unitStream(serial), head.digest);
    await fleetClient.append([fleetSigner.sign('FirmwareUpdated', { serial, fromReleaseId: from.releaseId, toReleaseId: to.releaseId, images: [{ name: 'application', sha256: to.applicationSha256 }], method: 'ota', campaign: 'OTA-2026-12' }).envelope]);
  }
}
