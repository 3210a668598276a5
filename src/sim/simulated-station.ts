/**
 * A simulated flashing station that speaks to a real ledger over HTTP, signing every step with its own key.
 * Used by the quick-start demo, the end-to-end tests and the benchmark.
 */
import { createHash } from 'node:crypto';
import type { EventSigner, SignedEvent } from '../event/signer.ts';
import type { LedgerClient } from '../client/ledger-client.ts';

export interface ReleaseFirmware {
  readonly releaseId: string;
  readonly productSku: string;
  readonly version: string;
  readonly bootloader: { sha256: string; sizeBytes: number; version: string };
  readonly application: { sha256: string; sizeBytes: number; version: string };
  readonly provisioningTemplate: { id: string; sha256: string };
  readonly signingKeyDigest: string;
  readonly efuseProfile: string;
}

const sha = (text: string) => createHash('sha256').update(text).digest('hex');

/** Stand-in images: their hashes are what matters to the ledger. */
export function simulatedRelease(releaseId: string, productSku: string, version: string): ReleaseFirmware {
  return {
    releaseId,
    productSku,
    version,
    bootloader: { sha256: sha(`bootloader ${version}`), sizeBytes: 28_672, version: `bl-${version}` },
    application: { sha256: sha(`application ${version}`), sizeBytes: 1_245_184, version },
    provisioningTemplate: { id: `prov-${productSku}`, sha256: sha(`template ${productSku} ${version}`) },
    signingKeyDigest: sha(`secure boot signing key ${productSku}`),
    efuseProfile: 'secure-boot-v2-flash-enc',
  };
}

export type UnitScenario = 'pass' | 'app-mismatch-then-rework' | 'scrap-after-mismatch' | 'pass-unshipped';

export interface StationIdentity {
  readonly stationId: string;
  readonly operator: string;
  readonly batchId: string;
  readonly hardwareRevision: string;
}

export class SimulatedStation {
  constructor(
    private readonly client: LedgerClient,
    private readonly signer: EventSigner,
    private readonly identity: StationIdentity,
    private readonly release: ReleaseFirmware,
  ) {}

  private async send(signed: SignedEvent): Promise<void> {
    await this.client.append([signed.envelope]);
  }

  private step<T extends Parameters<EventSigner['sign']>[0]>(type: T, data: Parameters<EventSigner['sign']>[1] & object) {
    return this.send(this.signer.sign(type, data as never));
  }

  /** Flashes one unit through the whole sequence; returns a one-line account of what happened. */
  async flash(serial: string, scenario: UnitScenario): Promise<string> {
    const r = this.release;
    const log: string[] = [];
    const mac = macFor(serial);
    await this.step('UnitScanned', {
      serial,
      batchId: this.identity.batchId,
      station: this.identity.stationId,
      operator: this.identity.operator,
      productSku: r.productSku,
      hardwareRevision: this.identity.hardwareRevision,
      chipId: `esp32s3-${sha(serial).slice(0, 12)}`,
      mac,
    });
    log.push('scanned');
    const writeAndVerify = async (reported: string) => {
      await this.step('BootloaderWritten', {
        serial,
        imageSha256: r.bootloader.sha256,
        version: r.bootloader.version,
        sizeBytes: r.bootloader.sizeBytes,
        signingKeyRef: `${r.productSku}-sb-key`,
        signingKeyDigest: r.signingKeyDigest,
      });
      const pass = reported === r.application.sha256;
      await this.step('AppVerified', {
        serial,
        imageSha256: r.application.sha256,
        version: r.application.version,
        sizeBytes: r.application.sizeBytes,
        reportedSha256: reported,
        method: 'device_report',
        result: pass ? 'pass' : 'fail',
      });
      log.push(`bootloader → ${pass ? 'app verified' : `app verification FAILED (device reported ${reported.slice(0, 8)}…)`}`);
      return pass;
    };

    if (scenario === 'app-mismatch-then-rework' || scenario === 'scrap-after-mismatch') {
      await writeAndVerify(sha(`corrupted image ${serial}`));
      if (scenario === 'scrap-after-mismatch') {
        await this.step('UnitScrapped', { serial, reason: 'flash read-back mismatch on retry; suspected bad flash chip', failedStep: 'app_verify' });
        log.push('scrapped');
        return `${serial}  ${log.join(' → ')}`;
      }
      await this.step('UnitReworked', { serial, reason: 'reseated flash programming clip' });
      log.push('reworked');
    }
    await writeAndVerify(r.application.sha256);
    await this.step('ProvisioningApplied', {
      serial,
      templateId: r.provisioningTemplate.id,
      templateSha256: r.provisioningTemplate.sha256,
      configSha256: sha(`config ${serial} ${mac}`),
    });
    await this.step('EfuseBurned', {
      serial,
      profile: r.efuseProfile,
      fuses: [
        { name: 'SECURE_BOOT_EN', value: '1' },
        { name: 'SPI_BOOT_CRYPT_CNT', value: '7' },
        { name: 'DIS_USB_JTAG', value: '1' },
      ],
      keyDigests: [r.signingKeyDigest],
      secureBoot: true,
      flashEncryption: true,
    });
    log.push('provisioned → eFuses burned');
    if (scenario !== 'pass-unshipped') {
      await this.step('UnitShipped', { serial, customer: 'ACME Robotics', orderRef: 'PO-4711' });
      log.push('shipped');
    }
    return `${serial}  ${log.join(' → ')}`;
  }
}

function macFor(serial: string): string {
  const h = sha(`mac ${serial}`);
  return ['24', '0a', 'c4', h.slice(0, 2), h.slice(2, 4), h.slice(4, 6)].join(':');
}
