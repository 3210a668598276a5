/**
 * Production facts per unit, for drift, scrap and yield: what was actually written and verified, against
 * what the unit's batch's release expects, and every failure, rework and scrap on the way.
 *
 * One projection keeps its own catalogue of releases, batches and stations (keys `release:…`, `batch:…`,
 * `station:…`) next to the unit documents (`unit:…`), so that a unit's reducer can read the release it is
 * judged against through `lookup`, in log order, on every rebuild alike.
 */
import type { LedgerEvent, UnitEvent } from '../schemas/index.ts';
import { isUnitEvent } from '../schemas/index.ts';
import type { DocumentProjection, EventMeta, Lookup } from './projection.ts';
import { utf8 } from '../src/crypto/encoding.ts';
import { sha256Hex } from '../src/crypto/sha256.ts';

export const DRIFT_DIMENSIONS = ['bootloader', 'signing_key', 'application', 'provisioning_template', 'efuse_profile'] as const;
export type DriftDimension = (typeof DRIFT_DIMENSIONS)[number];

export interface ReleaseDoc {
  readonly kind: 'release';
  readonly releaseId: string;
  readonly version: string;
  readonly expected: Record<DriftDimension, string>;
}

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
  readonly status: 'in_progress' | 'locked' | 'shipped' | 'scrapped';
  readonly attempt: number;
  readonly reworks: number;
  readonly firstPass: boolean;
  readonly failures: readonly UnitFailure[];
  readonly scrapReason: string | null;
  readonly customer: string | null;
  readonly actual: Partial<Record<DriftDimension, StepValue>>;
  readonly deviations: readonly Deviation[];
  /** sha256 over the five actual values, once all are known; groups identically configured units. */
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
  const deviations: Deviation[] = [];
  if (release) {
    for (const dimension of DRIFT_DIMENSIONS) {
      const actual = unit.actual[dimension];
      if (actual && actual.value !== release.expected[dimension]) deviations.push({ ...actual, dimension, expected: release.expected[dimension] });
    }
  }
  const values = DRIFT_DIMENSIONS.map((d) => unit.actual[d]?.value);
  const fingerprint = values.every((v) => v !== undefined) ? sha256Hex(utf8(values.join('\n'))) : null;
  return { deviations, fingerprint };
}

function evolveUnit(current: UnitFacts | null, event: UnitEvent, lookup: Lookup): UnitFacts {
  const u = current ?? newUnit(event.data.serial, event.occurredAt);
  const step = (value: string): StepValue => ({ value, station: event.source.id, operator: u.operator, at: event.occurredAt, eventId: event.id });
  const fail = (stepName: string, errorCode: string): UnitFacts => ({
    ...u,
    firstPass: false,
    failures: [...u.failures, { step: stepName, errorCode, attempt: u.attempt, station: event.source.id, at: event.occurredAt }],
  });
  let next: UnitFacts;
  switch (event.type) {
    case 'UnitScanned': {
      const batch = lookup<BatchDoc>(`batch:${event.data.batchId}`);
      next = {
        ...u,
        batchId: event.data.batchId,
        releaseId: batch?.releaseId ?? null,
        line: batch?.line ?? lookup<StationDoc>(`station:${event.source.id}`)?.line ?? null,
        station: u.station ?? event.source.id,
        operator: event.data.operator,
      };
      break;
    }
    case 'BootloaderWritten':
      next = { ...u, actual: { ...u.actual, bootloader: step(event.data.imageSha256), signing_key: step(event.data.signingKeyDigest) } };
      break;
    case 'AppVerified':
      next = { ...(event.data.result === 'pass' ? u : fail('app_verify', 'APP_HASH_MISMATCH')), actual: { ...u.actual, application: step(event.data.imageSha256) } };
      break;
    case 'ProvisioningApplied':
      next = { ...u, actual: { ...u.actual, provisioning_template: step(event.data.templateSha256) } };
      break;
    case 'EfuseBurned':
      next = { ...u, status: 'locked', actual: { ...u.actual, efuse_profile: step(event.data.profile) } };
      break;
    case 'StepFailed':
      next = fail(event.data.step, event.data.errorCode);
      break;
    case 'UnitReworked':
      next = { ...u, attempt: u.attempt + 1, reworks: u.reworks + 1, firstPass: false };
      break;
    case 'UnitScrapped':
      next = { ...u, status: 'scrapped', scrapReason: event.data.reason, firstPass: false };
      break;
    case 'UnitShipped':
      next = { ...u, status: 'shipped', customer: event.data.customer };
      break;
  }
  const release = next.releaseId ? lookup<ReleaseDoc>(`release:${next.releaseId}`) : null;
  return { ...next, ...judge(next, release) };
}

export const productionProjection: DocumentProjection<ProductionDoc> = {
  name: 'production',
  version: 2,
  keyOf,
  evolve(current, event: LedgerEvent, _meta: EventMeta, lookup: Lookup): ProductionDoc {
    switch (event.type) {
      case 'ReleaseApproved': {
        const d = event.data;
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
        return evolveUnit(current as UnitFacts | null, event, lookup);
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
