/** The administrator events that set up a line: stations with their keys, an approved release, an open batch. */
import type { EventSigner } from '../event/signer.ts';
import type { DsseEnvelope } from '../crypto/dsse.ts';
import { toHex } from '../crypto/encoding.ts';
import type { Signer } from '../crypto/ed25519.ts';
import type { ReleaseFirmware } from './simulated-station.ts';

export interface LineSetup {
  readonly stations: readonly { stationId: string; key: Signer; line?: string; site?: string }[];
  readonly release?: ReleaseFirmware;
  readonly batch?: { batchId: string; line: string; plannedQuantity: number };
  /** When the line was set up (default now): stations, releases and batches precede the units they make. */
  readonly at?: Date;
}

export function releaseApprovedData(release: ReleaseFirmware) {
  return {
    releaseId: release.releaseId,
    productSku: release.productSku,
    version: release.version,
    bootloaderSha256: release.bootloader.sha256,
    applicationSha256: release.application.sha256,
    provisioningTemplateSha256: release.provisioningTemplate.sha256,
    signingKeyDigest: release.signingKeyDigest,
    efuseProfile: release.efuseProfile,
  };
}

export function lineSetupEvents(admin: EventSigner, setup: LineSetup): DsseEnvelope[] {
  const events: DsseEnvelope[] = [];
  const at = setup.at ? { occurredAt: setup.at } : {};
  for (const s of setup.stations) {
    events.push(admin.sign('StationRegistered', { stationId: s.stationId, line: s.line ?? 'L1', site: s.site ?? 'Plant 1' }, at).envelope);
    events.push(admin.sign('StationKeyRegistered', { stationId: s.stationId, keyId: s.key.keyId, publicKey: toHex(s.key.publicKey), algorithm: 'ed25519' }, at).envelope);
  }
  if (setup.release) {
    events.push(admin.sign('ReleaseApproved', releaseApprovedData(setup.release), at).envelope);
    if (setup.batch) {
      events.push(admin.sign('BatchOpened', { ...setup.batch, releaseId: setup.release.releaseId, productSku: setup.release.productSku }, at).envelope);
    }
  }
  return events;
}
