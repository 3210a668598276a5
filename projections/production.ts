/**
 * Production facts per unit, for drift, scrap and yield: what was actually written and verified, against
 * what the unit's batch's release expects, and every failure, rework and scrap on the way.
 *
 * One projection keeps its own catalogue of releases, batches and stations (keys `release:…`, `batch:…`,
 * `station:…`) next to the unit documents (`unit:…`), so that a unit's reducer can read the release it is
 * judged against through `lookup`, in log order, on every rebuild alike.
 */
import type { EventOf, LedgerEvent, UnitEvent } from '../schemas/index.ts';
import { isUnitEvent } from '../schemas/index.ts';
import type { DocumentProjection, EventMeta, Lookup } from './projection.ts';
import { utf8 } from '../src/crypto/encoding.ts';
import { sha256Hex } from '../src/crypto/sha256.ts';
import type { UnitState } from '../src/domain/unit.ts';
import { unitStateProjection, type UnitView } from './unit-state.ts';
import { recipeComplete } from '../src/domain/recipe.ts';
import type { Recipe } from '../schemas/index.ts';

export const DRIFT_DIMENSIONS = ['bootloader', 'signing_key', 'application', 'provisioning_template', 'efuse_profile'] as const;
export type DriftDimension = (typeof DRIFT_DIMENSIONS)[number];

export interface ReleaseDoc {
  readonly kind: 'release';
  readonly releaseId: string;
  readonly version: string;
  /** What a unit of the release must carry, per dimension; a recipe release names only the dimensions it has. */
  readonly expected: Partial<Record<DriftDimension, string>>;
  readonly recipe?: Recipe;
}

/** The drift dimension of a recipe image, by its conventional name. */
const IMAGE_DIMENSION: Readonly<Record<string, DriftDimension>> = { bootloader: 'bootloader', app: 'application', application: 'application' };

export interface BatchDoc {
  readonly kind: 'batch';
  readonly batchId: string;
  readonly releaseId: string;
  readonly line: string;
  readonly productSku: string;
  readonly plannedQuantity: number;
  readonly status: 'open' | 'closed';
}

export interface StationDoc {
  readonly kind: 'station';
  readonly stationId: string;
  readonly line: string;
}

export interface StepValue {
  readonly value: string;
  readonly station: string;
  readonly operator: string | null;
  readonly at: string;
  readonly eventId: string;
}

export interface Deviation extends StepValue {
  readonly dimension: DriftDimension;
  readonly expected: string;
}

export interface UnitFailure {
  readonly step: string;
  readonly errorCode: string;
  readonly attempt: number;
  readonly station: string;
  readonly at: string;
}

export interface UnitFacts {
  readonly kind: 'unit';
  readonly serial: string;
  readonly batchId: string | null;
  readonly releaseId: string | null;
  readonly line: string | null;
  /** The station that scanned the unit first: where its production started. */
  readonly station: string | null;
  readonly operator: string | null;
  readonly startedAt: string;
  /** UTC day of the first scan, YYYY-MM-DD. */
  readonly day: string;
  /** `completed`: every step of a recipe without a lock step is done. */
  readonly status: 'in_progress' | 'locked' | 'completed' | 'shipped' | 'scrapped';
  readonly attempt: number;
  readonly reworks: number;
  readonly firstPass: boolean;
  readonly failures: readonly UnitFailure[];
  readonly scrapReason: string | null;
  readonly customer: string | null;
  readonly actual: Partial<Record<DriftDimension, StepValue>>;
  readonly deviations: readonly Deviation[];
  /** sha256 over the actual values of the release's dimensions, once all are known; groups identically configured units. */
  readonly fingerprint: string | null;
}

export type ProductionDoc = ReleaseDoc | BatchDoc | StationDoc | UnitFacts;

function keyOf(event: LedgerEvent): string | null {
  switch (event.type) {
    case 'ReleaseApproved':
      return `release:${event.data.releaseId}`;
    case 'BatchOpened':
    case 'BatchClosed':
      return `batch:${event.data.batchId}`;
    case 'StationRegistered':
      return `station:${event.data.stationId}`;
    case 'StationKeyRegistered':
    case 'StationKeyRevoked':
    case 'AdminKeysTrusted':
    case 'CheckpointIssued':
    case 'SbomAttached':
    case 'SupportPeriodSet':
    case 'VulnerabilityAssessed':
    case 'VulnerabilityAwareness':
    case 'CraReportSubmitted':
    case 'FirmwareUpdated':
    case 'ScittStatementRegistered':
    case 'LedgerKeyAnnounced':
    case 'LedgerKeyRotated':
    case 'NotificationListProduced':
      return null;
    default:
      return `unit:${event.data.serial}`;
  }
}

function newUnit(serial: string, at: string): UnitFacts {
  return {
    kind: 'unit',
    serial,
    batchId: null,
    releaseId: null,
    line: null,
    station: null,
    operator: null,
    startedAt: at,
    day: at.slice(0, 10),
    status: 'in_progress',
    attempt: 1,
    reworks: 0,
    firstPass: true,
    failures: [],
    scrapReason: null,
    customer: null,
    actual: {},
    deviations: [],
    fingerprint: null,
  };
}

/** Deviations of the actual values from the release, and the configuration fingerprint. */
export function judge(unit: UnitFacts, release: ReleaseDoc | null): Pick<UnitFacts, 'deviations' | 'fingerprint'> {
  // One pass over the dimensions (it runs on every event of every unit): the deviations, and the fingerprint's
  // input, the actual values of the release's dimensions (all of them without a release) joined by newlines.
  const deviations: Deviation[] = [];
  let configuration: string | null = '';
  let first = true;
  for (const dimension of DRIFT_DIMENSIONS) {
    const expected = release ? release.expected[dimension] : undefined;
    if (release && expected === undefined) continue;
    const actual = unit.actual[dimension];
    if (actual && expected !== undefined && actual.value !== expected) deviations.push({ ...actual, dimension, expected });
    if (configuration === null) continue;
    const value = actual?.value;
    if (value === undefined) configuration = null;
    else {
      configuration = first ? value : `${configuration}\n${value}`;
      first = false;
    }
  }
  return { deviations, fingerprint: configuration === null ? null : fingerprintOf(configuration) };
}

/**
 * A plant's units share a handful of configurations, and judge() runs on every event of every unit: remembering
 * the hash of the configurations seen last saves a portable SHA-256 of the same few strings on every event.
 * The result is the same hash; the bound keeps a fleet of one-off configurations from growing it.
 */
const FINGERPRINTS_KEPT = 1024;
const fingerprints = new Map<string, string>();
function fingerprintOf(configuration: string): string {
  let hash = fingerprints.get(configuration);
  if (hash === undefined) {
    hash = sha256Hex(utf8(configuration));
    if (fingerprints.size >= FINGERPRINTS_KEPT) fingerprints.clear();
    fingerprints.set(configuration, hash);
  }
  return hash;
}

/** A document under construction: this reducer's own copy, whose members it sets. */
type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** The unit decider's state after `event`, from the unit-state projection (which has applied it): the unit is folded once, there. */
function deciderOf(event: UnitEvent, lookup: Lookup): UnitState {
  const decider = lookup<UnitView>(event.data.serial, unitStateProjection.name)?.decider;
  if (!decider) throw new Error(`production: no unit-state document for ${event.data.serial} (the runner must run unit-state before production)`);
  return decider;
}

// The reducer's helpers take what they use: closures over each event, built per event, cost a rebuild more.
function stepValue(value: string, event: UnitEvent, operator: string | null): StepValue {
  return { value, station: event.source.id, operator, at: event.occurredAt, eventId: event.id };
}

function recordFailure(u: Mutable<UnitFacts>, step: string, errorCode: string, event: UnitEvent): void {
  u.firstPass = false;
  u.failures = [...u.failures, { step, errorCode, attempt: u.attempt, station: event.source.id, at: event.occurredAt }];
}

/** Actual values of the images' drift dimensions (bootloader, application), from a write or a read-back. */
function setImageValues(u: Mutable<UnitFacts>, values: readonly { name: string; sha256: string }[], event: UnitEvent): void {
  const actual = { ...u.actual };
  for (const v of values) {
    const dimension = IMAGE_DIMENSION[v.name];
    if (dimension) actual[dimension] = stepValue(v.sha256, event, u.operator);
  }
  u.actual = actual;
}

function evolveUnit(current: UnitFacts | null, event: UnitEvent, lookup: Lookup, owned: boolean): UnitFacts {
  // Its own working copy (owned) is changed in place; otherwise one copy, its members then set in place
  // (`current` is shared: the runner's cache, the document on file). Members keep their place: the same key
  // order, and stored JSON, as spreading a new object per change.
  const u: Mutable<UnitFacts> = current ? (owned ? (current as Mutable<UnitFacts>) : { ...current }) : newUnit(event.data.serial, event.occurredAt);
  const decider = deciderOf(event, lookup);
  switch (event.type) {
    case 'UnitScanned': {
      const batch = lookup<BatchDoc>(`batch:${event.data.batchId}`);
      u.batchId = event.data.batchId;
      u.releaseId = batch?.releaseId ?? null;
      u.line = batch?.line ?? lookup<StationDoc>(`station:${event.source.id}`)?.line ?? null;
      u.station = u.station ?? event.source.id;
      u.operator = event.data.operator;
      break;
    }
    case 'BootloaderWritten':
      u.actual = { ...u.actual, bootloader: stepValue(event.data.imageSha256, event, u.operator), signing_key: stepValue(event.data.signingKeyDigest, event, u.operator) };
      break;
    case 'AppVerified': {
      const actual = { ...u.actual, application: stepValue(event.data.imageSha256, event, u.operator) };
      if (event.data.result !== 'pass') recordFailure(u, 'app_verify', 'APP_HASH_MISMATCH', event);
      u.actual = actual;
      break;
    }
    case 'ImagesWritten':
      setImageValues(u, event.data.images, event);
      break;
    case 'ImagesVerified': {
      if (event.data.result !== 'pass') recordFailure(u, event.data.step, event.data.method === 'boot_log_elf_sha256' ? 'ELF_HASH_MISMATCH' : 'IMAGE_MISMATCH', event);
      // Drift is about what stations write; an image no step wrote directly (delivered inside an SB2.1
      // container) is known by what its read-back reports.
      const unwritten = event.data.images.filter((c) => decider.progress.written[c.name] === undefined);
      if (event.data.method !== 'boot_log_elf_sha256') setImageValues(u, unwritten.map((c) => ({ name: c.name, sha256: c.reported })), event);
      break;
    }
    case 'SecurityStateRead':
      if (event.data.result !== 'pass') recordFailure(u, event.data.step, 'SECURITY_STATE_MISMATCH', event);
      break;
    case 'IdentityRead':
    case 'StepStarted':
      break;
    case 'ProvisioningApplied':
      u.actual = { ...u.actual, provisioning_template: stepValue(event.data.templateSha256, event, u.operator) };
      break;
    case 'EfuseBurned':
      if (event.schemaVersion === 1) {
        u.status = 'locked';
        u.actual = { ...u.actual, efuse_profile: stepValue(event.data.profile, event, u.operator) };
      } else {
        const digest = event.data.keys.find((k) => k.purpose.startsWith('SECURE_BOOT_DIGEST') && k.digest)?.digest;
        if (digest) u.actual = { ...u.actual, signing_key: stepValue(digest, event, u.operator) };
      }
      break;
    case 'UnitLocked':
      u.status = 'locked';
      break;
    case 'StepFailed':
      recordFailure(u, event.data.step, event.data.errorCode, event);
      break;
    case 'UnitReworked':
      u.status = 'in_progress';
      u.attempt = u.attempt + 1;
      u.reworks = u.reworks + 1;
      u.firstPass = false;
      break;
    case 'UnitScrapped':
      u.status = 'scrapped';
      u.scrapReason = event.data.reason;
      u.firstPass = false;
      break;
    case 'UnitShipped':
      u.status = 'shipped';
      u.customer = event.data.customer;
      break;
    case 'FirmwareUpdated':
      // After the line (keyOf gives it no document): production facts are about what stations made.
      break;
  }
  const release = u.releaseId ? lookup<ReleaseDoc>(`release:${u.releaseId}`) : null;
  if (u.status === 'in_progress' && release?.recipe && decider.model === 'recipe' && recipeComplete(release.recipe, decider.progress)) u.status = 'completed';
  const judged = judge(u, release);
  u.deviations = judged.deviations;
  u.fingerprint = judged.fingerprint;
  return u;
}

/** What a recipe release expects per drift dimension: its conventionally named images, the secure-boot key, the template. */
function recipeExpectations(d: Extract<EventOf<'ReleaseApproved'>['data'], { recipe: Recipe }>): Partial<Record<DriftDimension, string>> {
  const expected: Partial<Record<DriftDimension, string>> = {};
  for (const image of d.images) {
    const dimension = IMAGE_DIMENSION[image.name];
    if (dimension) expected[dimension] = image.sha256;
  }
  for (const s of d.recipe.steps) {
    if (s.kind === 'burn') for (const k of s.keys) if (k.purpose.startsWith('SECURE_BOOT_DIGEST') && k.digest) expected.signing_key ??= k.digest;
    if (s.kind === 'provision') expected.provisioning_template ??= s.templateSha256;
  }
  return expected;
}

export const productionProjection: DocumentProjection<ProductionDoc> = {
  name: 'production',
  // 4: no decider in the unit documents; its state comes from unit-state's (the unit is folded once).
  version: 4,
  reads: [unitStateProjection.name],
  keyOf,
  evolve(current, event: LedgerEvent, _meta: EventMeta, lookup: Lookup, owned = false): ProductionDoc {
    switch (event.type) {
      case 'ReleaseApproved': {
        const d = event.data;
        if ('recipe' in d) return { kind: 'release', releaseId: d.releaseId, version: d.version, expected: recipeExpectations(d), recipe: d.recipe };
        return {
          kind: 'release',
          releaseId: d.releaseId,
          version: d.version,
          expected: {
            bootloader: d.bootloaderSha256,
            signing_key: d.signingKeyDigest,
            application: d.applicationSha256,
            provisioning_template: d.provisioningTemplateSha256,
            efuse_profile: d.efuseProfile,
          },
        };
      }
      case 'BatchOpened':
        return { kind: 'batch', ...event.data, status: 'open' };
      case 'BatchClosed':
        return { ...(current as BatchDoc), status: 'closed' };
      case 'StationRegistered':
        return { kind: 'station', stationId: event.data.stationId, line: event.data.line };
      default:
        if (!isUnitEvent(event)) throw new Error(`production cannot apply ${event.type}`);
        return evolveUnit(current as UnitFacts | null, event, lookup, owned);
    }
  },
  indexes(doc) {
    if (doc.kind !== 'unit') return [['kind', doc.kind]];
    const rows: [string, string][] = [['kind', 'unit'], ['day', doc.day]];
    if (doc.batchId) rows.push(['batch', doc.batchId]);
    if (doc.line) rows.push(['line', doc.line]);
    if (doc.station) rows.push(['station', doc.station]);
    if (doc.customer) rows.push(['customer', doc.customer]);
    if (doc.deviations.length > 0) {
      if (doc.batchId) rows.push(['drifted-batch', doc.batchId]);
      for (const d of doc.deviations) rows.push(['drift-at', d.at]);
    }
    return rows;
  },
};
