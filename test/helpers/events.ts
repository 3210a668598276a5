/** Unsigned event builders for decider and projection tests (the deciders never look at signatures). */
import { randomUUID } from 'node:crypto';
import type { EventOf, EventType } from '../../schemas/index.ts';
import { schemaVersionFor, UNIT_EVENT_TYPES } from '../../schemas/index.ts';

export const T0 = new Date('2026-03-02T08:00:00.000Z');
export const hash = (c: string) => c.repeat(64).slice(0, 64);

let tick = 0;
export function ev<T extends EventType>(type: T, data: EventOf<T>['data'], options: { source?: string; at?: Date } = {}): EventOf<T> {
  const unit = (UNIT_EVENT_TYPES as string[]).includes(type);
  return {
    id: randomUUID(),
    type,
    schemaVersion: schemaVersionFor(type, data),
    occurredAt: (options.at ?? new Date(T0.getTime() + ++tick * 1000)).toISOString(),
    source: { kind: unit ? 'station' : 'admin', id: options.source ?? (unit ? 'ST-01' : 'admin') },
    prev: null,
    data,
  } as unknown as EventOf<T>;
}

const serial = 'SN1';
export const unit = {
  scanned: (batchId = 'B1', station = 'ST-01') =>
    ev('UnitScanned', { serial, batchId, station, operator: 'op', productSku: 'SKU', hardwareRevision: 'rev-A' }, { source: station }),
  bootloader: () => ev('BootloaderWritten', { serial, imageSha256: hash('b'), version: '1', sizeBytes: 10, signingKeyRef: 'k', signingKeyDigest: hash('d') }),
  appVerified: (reported = hash('a')) =>
    ev('AppVerified', { serial, imageSha256: hash('a'), version: '1', sizeBytes: 10, reportedSha256: reported, method: 'device_report', result: reported === hash('a') ? 'pass' : 'fail' }),
  provisioned: () => ev('ProvisioningApplied', { serial, templateId: 'tpl', templateSha256: hash('t'), configSha256: hash('c') }),
  efuse: () => ev('EfuseBurned', { serial, profile: 'sb', fuses: [{ name: 'SECURE_BOOT_EN', value: '1' }], keyDigests: [hash('d')], secureBoot: true, flashEncryption: true }),
  failed: (step: 'app_verify' | 'efuse' = 'app_verify') => ev('StepFailed', { serial, step, errorCode: 'TIMEOUT', message: 'no boot log', attempt: 1 }),
  reworked: () => ev('UnitReworked', { serial, reason: 'reseat' }),
  scrapped: () => ev('UnitScrapped', { serial, reason: 'cracked' }),
  shipped: () => ev('UnitShipped', { serial, customer: 'ACME', orderRef: 'PO-1' }),
};
