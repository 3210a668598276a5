/**
 * May this unit proceed (to packing, test, shipment)? The interlock a MES asks before letting a unit go on,
 * answered from the read model (pure): only a unit whose history is complete (every step of its release's
 * recipe in this pass, or the fixed sequence's four), whose images and security state were verified,
 * whose firmware is the approved release's on every dimension, that is locked, and that was not scrapped.
 * (A shipped unit meets all of these: shipping comes after the lock.)
 * Every failing condition is reported, the most telling first.
 */
import type { ReleaseDoc, UnitFacts } from './production.ts';
import type { UnitView } from './unit-state.ts';

export type ReadinessCode =
  | 'UNIT_UNKNOWN'
  | 'UNIT_SCRAPPED'
  | 'RELEASE_UNKNOWN'
  | 'NOT_VERIFIED'
  | 'HISTORY_INCOMPLETE'
  | 'DRIFTED'
  | 'NOT_LOCKED';

export interface ReadinessReason {
  readonly code: ReadinessCode;
  readonly message: string;
}

export interface Readiness {
  readonly serial: string;
  readonly ready: boolean;
  /** Empty exactly when ready; otherwise the most telling reason first. */
  readonly reasons: readonly ReadinessReason[];
}

export interface ReadinessFacts {
  readonly unit: UnitView | null;
  readonly facts: UnitFacts | null;
  /** The release of the unit's batch, as approved. */
  readonly release: ReleaseDoc | null;
}

const short = (hash: string) => hash.slice(0, 12);

export function unitReadiness(serial: string, { unit, facts, release }: ReadinessFacts): Readiness {
  const reasons: ReadinessReason[] = [];
  const add = (code: ReadinessCode, message: string) => reasons.push({ code, message });
  if (!unit) {
    add('UNIT_UNKNOWN', `unit ${serial} has no history in the ledger`);
    return { serial, ready: false, reasons };
  }
  if (unit.scrapped) add('UNIT_SCRAPPED', `unit ${serial} was scrapped: ${unit.scrapped.reason}`);
  if (!release) add('RELEASE_UNKNOWN', `unit ${serial} is in no batch with an approved release`);
  // A drift first: a station wrote what the release does not name, which is why its verification then fails.
  for (const d of facts?.deviations ?? []) {
    add('DRIFTED', `${d.dimension.replace('_', ' ')} is ${short(d.value)}…, the approved release says ${short(d.expected)}… (station ${d.station}, ${d.at})`);
  }
  // A recipe unit is held to its release's recipe: every step done in this pass, every image verification and
  // the security read-back passed. A fixed-sequence unit (version 1) to the four steps of that sequence.
  const recipe = release?.recipe && unit.releaseId === release.releaseId ? release.recipe : null;
  let missing: string[];
  if (recipe) {
    for (const [name, image] of Object.entries(unit.images)) {
      const v = image.verification;
      if (v?.result === 'fail') add('NOT_VERIFIED', `image ${name} failed its verification at step ${v.step} (${v.method}): the device reported ${short(v.reported)}…`);
    }
    if (unit.security?.result === 'fail') add('NOT_VERIFIED', `the security state read back at step ${unit.security.step} does not match the release`);
    missing = recipe.steps.map((s) => s.id).filter((id) => !unit.stepsDone.includes(id));
  } else {
    if (unit.application && !unit.application.verified) {
      add('NOT_VERIFIED', `application verification failed: the device reported ${short(unit.application.reportedSha256)}…, the image written was ${short(unit.application.sha256)}…`);
    }
    missing = [
      unit.bootloader ? null : 'bootloader',
      unit.application ? null : 'application verification',
      unit.provisioning ? null : 'provisioning',
      unit.efuse ? null : 'eFuse burn',
    ].filter((s): s is string => s !== null);
  }
  if (missing.length > 0) add('HISTORY_INCOMPLETE', `missing in the current attempt: ${missing.join(', ')}`);
  if (unit.status !== 'locked' && unit.status !== 'shipped' && !unit.scrapped) add('NOT_LOCKED', `unit ${serial} is ${unit.status.replace('_', ' ')}, not locked`);
  return { serial, ready: reasons.length === 0, reasons };
}
