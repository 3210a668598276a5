/** Current state of every unit: where it is in the sequence, what firmware it carries, who touched it. */
import type { LedgerEvent } from '../schemas/index.ts';
import { isUnitEvent } from '../schemas/index.ts';
import type { DocumentProjection, EventMeta } from './projection.ts';
import { evolveUnit, initialUnitState, type UnitState, type UnitStatus } from '../src/domain/unit.ts';

/** The name a recipe image has in the fixed-sequence fields `bootloader` and `application`. */
const LEGACY_SLOT: Readonly<Record<string, 'bootloader' | 'application'>> = { bootloader: 'bootloader', app: 'application', application: 'application' };

/** A document under construction: this reducer's own copy, whose members it sets. */
type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export interface ImageRecord extends StepRecord {
  /** SHA-256 of the image last written under this name. */
  readonly sha256: string;
  readonly offset: number;
  /** The last verification since that write: how, and whether it passed. */
  readonly verification: { method: string; result: 'pass' | 'fail'; reported: string; comparedChars: number; step: string; at: string } | null;
}

export interface SecurityRecord extends StepRecord {
  readonly step: string;
  readonly result: 'pass' | 'fail';
  readonly fields: readonly { name: string; value: string | number | boolean }[];
}

export interface StepRecord {
  readonly station: string;
  readonly at: string;
}

export interface UnitView {
  readonly serial: string;
  readonly status: UnitStatus;
  readonly batchId: string | null;
  /** The release whose recipe the unit follows (null for a version 1 release). */
  readonly releaseId: string | null;
  /** The station that scanned it in this pass, and the fixture it sat in. */
  readonly station: string | null;
  readonly fixture: string | null;
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
  /** A recipe unit: every image by name, the steps done in this pass, and the security state last read back. */
  readonly images: Readonly<Record<string, ImageRecord>>;
  readonly stepsDone: readonly string[];
  readonly stepStarted: string | null;
  readonly security: SecurityRecord | null;
  /** Tool outputs (their SHA-256, kept at the station as evidence/<digest>) recorded with the unit's steps. */
  readonly toolOutputs: number;
  readonly scrapped: (StepRecord & { reason: string }) | null;
  readonly shipped: (StepRecord & { customer: string; orderRef: string }) | null;
  readonly firstEventAt: string;
  readonly lastEventAt: string;
  readonly eventCount: number;
  /** Head of the unit stream: the next event's `prev` must equal `digest`. */
  readonly head: { revision: string; position: string; digest: string };
  /** The unit decider's own state, folded alongside (so that the view folds exactly as the ledger decides). */
  readonly decider?: UnitState;
}

/** The fixed-sequence fields, filled from a recipe's conventionally named images. */
function legacySlots(images: Readonly<Record<string, ImageRecord>>): Partial<Pick<UnitView, 'bootloader' | 'application'>> {
  const out: { -readonly [K in 'bootloader' | 'application']?: UnitView[K] } = {};
  for (const [name, image] of Object.entries(images)) {
    const slot = LEGACY_SLOT[name];
    const record = { station: image.station, at: image.at };
    if (slot === 'bootloader') out.bootloader = { ...record, sha256: image.sha256, version: '', signingKeyDigest: '' };
    if (slot === 'application') {
      const v = image.verification;
      out.application = { ...record, sha256: image.sha256, version: '', reportedSha256: v?.reported ?? '', method: v?.method ?? '', verified: v?.result === 'pass' };
    }
  }
  return out;
}

/** The document's images with some replaced, and the fixed-sequence fields that follow from them. */
function setImages(view: Mutable<UnitView>, images: Record<string, ImageRecord>): void {
  view.images = images;
  const slots = legacySlots(images);
  if (slots.bootloader !== undefined) view.bootloader = slots.bootloader;
  if (slots.application !== undefined) view.application = slots.application;
}

function empty(serial: string, at: string): UnitView {
  return {
    serial,
    status: 'new',
    batchId: null,
    releaseId: null,
    station: null,
    fixture: null,
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
    images: {},
    stepsDone: [],
    stepStarted: null,
    security: null,
    toolOutputs: 0,
    scrapped: null,
    shipped: null,
    firstEventAt: at,
    lastEventAt: at,
    eventCount: 0,
    head: { revision: '-1', position: '-1', digest: '' },
  };
}

/** A MAC or chip id as the index keeps it: hex digits only, lower case (F4-12-FA… and f4:12:fa… are one MAC). */
export function hardwareIdKey(id: string): string {
  return id.toLowerCase().replace(/[^0-9a-z]/g, '');
}

export const unitStateProjection: DocumentProjection<UnitView> = {
  name: 'unit-state',
  // 5: MAC and chip id indexes, and the firmware of field updates (both were 4 on their branches).
  version: 5,
  /** CRA queries find units by the firmware they carry; batch views list a batch's units; people look a unit up by its MAC or chip id. */
  indexes: (u) => {
    const firmware = new Set<string>();
    if (u.bootloader) firmware.add(u.bootloader.sha256);
    if (u.application) firmware.add(u.application.sha256);
    for (const image of Object.values(u.images)) firmware.add(image.sha256);
    return [
      ...[...firmware].map((sha) => ['firmware', sha] as const),
      ...(u.batchId ? ([['batch', u.batchId]] as const) : []),
      ...(u.mac ? ([['mac', hardwareIdKey(u.mac)]] as const) : []),
      ...(u.chipId ? ([['chip', hardwareIdKey(u.chipId)]] as const) : []),
    ];
  },
  keyOf: (event) => (isUnitEvent(event) ? event.data.serial : null),
  evolve(current: UnitView | null, event: LedgerEvent, meta: EventMeta, _lookup, owned = false): UnitView {
    if (!isUnitEvent(event)) throw new Error(`unit-state cannot apply ${event.type}`);
    const base = current ?? empty(event.data.serial, event.occurredAt);
    const unit = evolveUnit(base.decider ?? { ...initialUnitState, status: base.status, serial: base.serial, batchId: base.batchId, attempt: base.attempt, failures: base.failures }, event);
    // A step record's first members, written out in each literal (spreading a shared pair cost more than the rest of it).
    const by = event.source.id;
    const at = event.occurredAt;
    const tools = 'tools' in event.data ? event.data.tools.length : 0;
    // The document's members are set in place: on this reducer's own working copy (owned, or new), else on a
    // copy (`current` is shared: the runner's cache, the document on file). A member set that the document
    // already has keeps its place, one it lacks (the decider, on a unit's first event) goes last: the key order,
    // and so the stored JSON, is what spreading a new object per change gave.
    const view: Mutable<UnitView> = owned || current === null ? (base as Mutable<UnitView>) : { ...base };
    view.decider = unit;
    view.status = unit.status;
    view.batchId = unit.batchId;
    view.releaseId = unit.releaseId;
    view.station = unit.station;
    view.chipId = unit.chipId;
    view.mac = unit.mac;
    view.stepsDone = unit.progress.done;
    view.stepStarted = unit.progress.started;
    view.toolOutputs = base.toolOutputs + tools;
    view.attempt = unit.attempt;
    view.failures = unit.failures;
    view.lastStation = event.source.id;
    view.lastEventAt = event.occurredAt;
    view.eventCount = base.eventCount + 1;
    view.head = { revision: meta.revision.toString(), position: meta.position.toString(), digest: meta.digest };
    switch (event.type) {
      case 'UnitScanned': {
        const d = event.data;
        view.productSku = d.productSku;
        view.hardwareRevision = d.hardwareRevision;
        view.operator = d.operator;
        view.fixture = 'fixture' in d ? (d.fixture ?? null) : null;
        break;
      }
      case 'ImagesWritten': {
        const images = { ...view.images };
        for (const i of event.data.images) images[i.name] = { station: by, at, sha256: i.sha256, offset: i.offset, verification: null };
        setImages(view, images);
        break;
      }
      case 'ImagesVerified': {
        const images = { ...view.images };
        for (const c of event.data.images) {
          const image = images[c.name];
          const verification = { method: event.data.method, result: c.result, reported: c.reported, comparedChars: c.comparedChars, step: event.data.step, at: event.occurredAt };
          // An image delivered inside a container (an SB2.1 file) is first seen when it is read back.
          images[c.name] = image ? { ...image, verification } : { station: by, at, sha256: c.result === 'pass' ? c.expected : c.reported, offset: -1, verification };
        }
        setImages(view, images);
        if (event.data.result === 'fail') {
          const bad = event.data.images.find((c) => c.result === 'fail');
          view.lastFailure = { step: event.data.step, errorCode: 'IMAGE_MISMATCH', message: `${bad?.name ?? '?'}: reported ${bad?.reported ?? '?'}, release ${bad?.expected.slice(0, bad.comparedChars) ?? '?'}`, attempt: unit.attempt, station: by, at };
        }
        break;
      }
      case 'UnitLocked': {
        const images = { ...view.images };
        for (const i of event.data.images) images[i.name] = { station: by, at, sha256: i.sha256, offset: i.offset, verification: null };
        view.images = images;
        view.efuse = { station: by, at, profile: event.data.step, secureBoot: view.efuse?.secureBoot ?? false, flashEncryption: view.efuse?.flashEncryption ?? false, keyDigests: view.efuse?.keyDigests ?? [] };
        break;
      }
      case 'SecurityStateRead': {
        const fields = event.data.fields;
        view.security = { station: by, at, step: event.data.step, result: event.data.result, fields };
        if (event.data.result === 'fail') {
          const unmet = event.data.checks.filter((c) => !c.met).map((c) => `${c.field}=${JSON.stringify(c.actual)} (expected ${JSON.stringify(c.equals)})`);
          view.lastFailure = { step: event.data.step, errorCode: 'SECURITY_STATE_MISMATCH', message: unmet.join(', ').slice(0, 2000), attempt: unit.attempt, station: by, at };
        }
        break;
      }
      case 'IdentityRead':
      case 'StepStarted':
        break;
      case 'BootloaderWritten':
        view.bootloader = { station: by, at, sha256: event.data.imageSha256, version: event.data.version, signingKeyDigest: event.data.signingKeyDigest };
        view.application = null;
        view.provisioning = null;
        break;
      case 'AppVerified': {
        const d = event.data;
        const verified = d.result === 'pass';
        view.application = { station: by, at, sha256: d.imageSha256, version: d.version, reportedSha256: d.reportedSha256, method: d.method, verified };
        if (!verified) {
          view.provisioning = null;
          view.lastFailure = { step: 'app_verify', errorCode: 'APP_HASH_MISMATCH', message: `device reported ${d.reportedSha256}`, attempt: unit.attempt, station: by, at };
        }
        break;
      }
      case 'ProvisioningApplied':
        view.provisioning = { station: by, at, templateId: event.data.templateId, templateSha256: event.data.templateSha256, configSha256: event.data.configSha256 };
        break;
      case 'EfuseBurned':
        if (event.schemaVersion === 1) {
          view.efuse = { station: by, at, profile: event.data.profile, secureBoot: event.data.secureBoot, flashEncryption: event.data.flashEncryption, keyDigests: [...event.data.keyDigests] };
        } else {
          // What was burned, as the recipe step named it; the read-back (SecurityStateRead) is what shows it took.
          const fuses = new Map(event.data.fuses.map((f) => [f.name, f.value]));
          const prev = view.efuse;
          view.efuse = {
            station: by,
            at,
            profile: event.data.step,
            secureBoot: (prev?.secureBoot ?? false) || fuses.has('SECURE_BOOT_EN'),
            flashEncryption: (prev?.flashEncryption ?? false) || fuses.has('SPI_BOOT_CRYPT_CNT') || fuses.has('FLASH_CRYPT_CNT'),
            keyDigests: [...(prev?.keyDigests ?? []), ...event.data.keys.flatMap((k) => (k.digest ? [k.digest] : []))],
          };
        }
        break;
      case 'StepFailed':
        view.lastFailure = { step: event.data.step, errorCode: event.data.errorCode, message: event.data.message, attempt: event.data.attempt, station: by, at };
        break;
      case 'UnitReworked':
        break;
      case 'UnitScrapped':
        view.scrapped = { station: by, at, reason: event.data.reason };
        break;
      case 'UnitShipped':
        view.shipped = { station: by, at, customer: event.data.customer, orderRef: event.data.orderRef };
        break;
      case 'FirmwareUpdated': {
        // In the field: the images the device reported running after the update are what it carries now.
        const images = { ...view.images };
        for (const i of event.data.images) {
          images[i.name] = { station: by, at, sha256: i.sha256, offset: images[i.name]?.offset ?? -1, verification: { method: `field_update_${event.data.method}`, result: 'pass', reported: i.sha256, comparedChars: 64, step: 'field-update', at: event.occurredAt } };
        }
        setImages(view, images);
        break;
      }
    }
    return view;
  },
};
