/** Current state of every unit: where it is in the sequence, what firmware it carries, who touched it. */
import type { LedgerEvent } from '../schemas/index.ts';
import { isUnitEvent } from '../schemas/index.ts';
import type { DocumentProjection, EventMeta } from './projection.ts';
import { evolveUnit, type UnitStatus } from '../src/domain/unit.ts';

export interface StepRecord {
  readonly station: string;
  readonly at: string;
}

export interface UnitView {
  readonly serial: string;
  readonly status: UnitStatus;
  readonly batchId: string | null;
  readonly productSku: string | null;
  readonly hardwareRevision: string | null;
  readonly chipId: string | null;
  readonly mac: string | null;
  readonly operator: string | null;
  readonly lastStation: string | null;
  readonly attempt: number;
  readonly failures: number;
  readonly lastFailure: { step: string; errorCode: string; message: string; attempt: number; station: string; at: string } | null;
  readonly bootloader: (StepRecord & { sha256: string; version: string; signingKeyDigest: string }) | null;
  readonly application: (StepRecord & { sha256: string; version: string; reportedSha256: string; method: string; verified: boolean }) | null;
  readonly provisioning: (StepRecord & { templateId: string; templateSha256: string; configSha256: string }) | null;
  readonly efuse: (StepRecord & { profile: string; secureBoot: boolean; flashEncryption: boolean; keyDigests: string[] }) | null;
  readonly scrapped: (StepRecord & { reason: string }) | null;
  readonly shipped: (StepRecord & { customer: string; orderRef: string }) | null;
  readonly firstEventAt: string;
  readonly lastEventAt: string;
  readonly eventCount: number;
  /** Head of the unit stream: the next event's `prev` must equal `digest`. */
  readonly head: { revision: string; position: string; digest: string };
}

function empty(serial: string, at: string): UnitView {
  return {
    serial,
    status: 'new',
    batchId: null,
    productSku: null,
    hardwareRevision: null,
    chipId: null,
    mac: null,
    operator: null,
    lastStation: null,
    attempt: 1,
    failures: 0,
    lastFailure: null,
    bootloader: null,
    application: null,
    provisioning: null,
    efuse: null,
    scrapped: null,
    shipped: null,
    firstEventAt: at,
    lastEventAt: at,
    eventCount: 0,
    head: { revision: '-1', position: '-1', digest: '' },
  };
}

export const unitStateProjection: DocumentProjection<UnitView> = {
  name: 'unit-state',
  version: 2,
  /** CRA queries find units by the firmware they carry; batch views list a batch's units. */
  indexes: (u) => [
    ...(u.bootloader ? ([['firmware', u.bootloader.sha256]] as const) : []),
    ...(u.application ? ([['firmware', u.application.sha256]] as const) : []),
    ...(u.batchId ? ([['batch', u.batchId]] as const) : []),
  ],
  keyOf: (event) => (isUnitEvent(event) ? event.data.serial : null),
  evolve(current: UnitView | null, event: LedgerEvent, meta: EventMeta): UnitView {
    if (!isUnitEvent(event)) throw new Error(`unit-state cannot apply ${event.type}`);
    const base = current ?? empty(event.data.serial, event.occurredAt);
    const unit = evolveUnit({ status: base.status, serial: base.serial, batchId: base.batchId, attempt: base.attempt, failures: base.failures }, event);
    const step = { station: event.source.id, at: event.occurredAt };
    let view: UnitView = {
      ...base,
      status: unit.status,
      batchId: unit.batchId,
      attempt: unit.attempt,
      failures: unit.failures,
      lastStation: event.source.id,
      lastEventAt: event.occurredAt,
      eventCount: base.eventCount + 1,
      head: { revision: meta.revision.toString(), position: meta.position.toString(), digest: meta.digest },
    };
    switch (event.type) {
      case 'UnitScanned': {
        const d = event.data;
        view = { ...view, productSku: d.productSku, hardwareRevision: d.hardwareRevision, chipId: d.chipId ?? view.chipId, mac: d.mac ?? view.mac, operator: d.operator };
        break;
      }
      case 'BootloaderWritten':
        view = {
          ...view,
          bootloader: { ...step, sha256: event.data.imageSha256, version: event.data.version, signingKeyDigest: event.data.signingKeyDigest },
          application: null,
          provisioning: null,
        };
        break;
      case 'AppVerified': {
        const d = event.data;
        const verified = d.result === 'pass';
        view = {
          ...view,
          application: { ...step, sha256: d.imageSha256, version: d.version, reportedSha256: d.reportedSha256, method: d.method, verified },
          provisioning: verified ? view.provisioning : null,
        };
        if (!verified) {
          view = { ...view, lastFailure: { step: 'app_verify', errorCode: 'APP_HASH_MISMATCH', message: `device reported ${d.reportedSha256}`, attempt: unit.attempt, ...step } };
        }
        break;
      }
      case 'ProvisioningApplied':
        view = { ...view, provisioning: { ...step, templateId: event.data.templateId, templateSha256: event.data.templateSha256, configSha256: event.data.configSha256 } };
        break;
      case 'EfuseBurned':
        view = { ...view, efuse: { ...step, profile: event.data.profile, secureBoot: event.data.secureBoot, flashEncryption: event.data.flashEncryption, keyDigests: [...event.data.keyDigests] } };
        break;
      case 'StepFailed':
        view = { ...view, lastFailure: { step: event.data.step, errorCode: event.data.errorCode, message: event.data.message, attempt: event.data.attempt, ...step } };
        break;
      case 'UnitReworked':
        break;
      case 'UnitScrapped':
        view = { ...view, scrapped: { ...step, reason: event.data.reason } };
        break;
      case 'UnitShipped':
        view = { ...view, shipped: { ...step, customer: event.data.customer, orderRef: event.data.orderRef } };
        break;
    }
    return view;
  },
};
