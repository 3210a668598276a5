/** The firmware a unit's signed events attest it carries: one answer for export subjects and verifier reports. */
import type { UnitEvent } from '../../schemas/index.ts';

/** The firmware images a unit event says the unit carries: for export subjects and verifier reports. */
export function firmwareOf(event: UnitEvent): { name: string; sha256: string; version?: string }[] {
  switch (event.type) {
    case 'BootloaderWritten':
      return [{ name: 'bootloader', sha256: event.data.imageSha256, version: event.data.version }];
    case 'AppVerified':
      return event.data.result === 'pass' ? [{ name: 'application', sha256: event.data.imageSha256, version: event.data.version }] : [];
    case 'ImagesVerified':
      // A readback or tool comparison proves the whole image; a boot-log prefix proves which ELF runs.
      return event.data.result === 'pass' && event.data.method !== 'boot_log_elf_sha256' ? event.data.images.map((i) => ({ name: i.name, sha256: i.expected })) : [];
    case 'UnitLocked':
      return event.data.images.map((i) => ({ name: i.name, sha256: i.sha256 }));
    case 'FirmwareUpdated':
      // A field update: the device reported running these images of the new release.
      return event.data.images.map((i) => ({ name: i.name, sha256: i.sha256, version: event.data.reportedVersion ?? event.data.toReleaseId }));
    default:
      return [];
  }
}
