/**
 * The line simulator: simulated stations take a batch through a real ledger over HTTP, each unit walking
 * its release's recipe (src/sim/recipe-unit.ts, the walk the station agent uses), with configurable
 * failure rates per recipe step, retries, rework then scrap, defective units, and injected drift (one
 * station writing the previous application image for a while, which its read-back then catches).
 * Reproducible from its seed: each unit draws from its own generator. It keeps the ground truth of what it
 * injected, so the ledger's scrap and drift views can be checked against it.
 */
import type { EventSigner } from '../event/signer.ts';
import type { LedgerClient } from '../client/ledger-client.ts';
import type { DsseEnvelope } from '../crypto/dsse.ts';
import type { UnitEvent, UnitEventType } from '../../schemas/index.ts';
import type { RecipeRelease } from '../domain/recipe.ts';
import { RecipeUnit, simulatedElf, simulatedRecipeRelease, type TryOutcome } from './recipe-unit.ts';
import { seededRandom, seededUuid } from './random.ts';

/** The steps of the simulated recipe (the shipped ESP32-S3 one): what --fail names. */
export const SIM_STEPS = simulatedRecipeRelease('steps', 'SIM', '0.0.0').recipe.steps.map((s) => s.id);
export type SimStep = string;

const ERROR_CODES: Record<string, readonly string[]> = {
  identity: ['SERIAL_TIMEOUT'],
  burn: ['EFUSE_BURN_ERROR'],
  write: ['FLASH_WRITE_ERROR', 'SERIAL_TIMEOUT'],
  provision: ['PROVISIONING_TIMEOUT', 'NVS_WRITE_ERROR'],
  security_state: ['SERIAL_TIMEOUT'],
  lock: ['EFUSE_BURN_ERROR'],
};

export interface SimulationPlan {
  readonly seed: number;
  readonly units: number;
  readonly batchId: string;
  readonly serialPrefix: string;
  /** Probability that one try of a step fails: a tool failure, or for a verification a garbled read. */
  readonly failureRates: Partial<Record<SimStep, number>>;
  /** Failed tries of one step allowed within a pass before the unit goes to rework. */
  readonly maxRetriesPerStep: number;
  /** Reworks allowed before a unit is scrapped (at most what the recipe's limits allow). */
  readonly maxReworks: number;
  /** Share of units with a hardware defect (a bad flash chip): every read-back of theirs fails. */
  readonly defectRate: number;
  /** One station writes the previous application image for units it starts in this window. */
  readonly drift: { readonly station: string; readonly fromMinute: number; readonly minutes: number } | null;
  readonly cycleSeconds: number;
  readonly start: Date;
  readonly operator: string;
}

export interface SimStation {
  readonly stationId: string;
  readonly signer: EventSigner;
  readonly client: LedgerClient;
}

export interface GroundTruth {
  readonly started: number;
  readonly scrapped: string[];
  readonly reworked: string[];
  readonly firstPass: string[];
  readonly completed: string[];
  /** step → errorCode → count */
  readonly failures: Record<string, Record<string, number>>;
  readonly drifted: string[];
  /** serial → the application image last written, for units that got that far. */
  readonly applicationImage: Record<string, string>;
}

interface UnitPlan {
  readonly serial: string;
  readonly station: SimStation;
  readonly startsAt: Date;
  readonly drifted: boolean;
  readonly index: number;
}

interface UnitResult {
  readonly envelopes: DsseEnvelope[];
  readonly outcome: 'shipped' | 'scrapped';
  readonly reworks: number;
  readonly failures: { step: string; errorCode: string }[];
  readonly appWritten: string | null;
}

export async function simulateBatch(
  plan: SimulationPlan,
  stations: readonly SimStation[],
  release: RecipeRelease,
  previous: { sha256: string; version: string },
  onProgress?: (done: number, total: number) => void,
): Promise<GroundTruth> {
  const truth = { scrapped: [] as string[], reworked: [] as string[], firstPass: [] as string[], completed: [] as string[], drifted: [] as string[], failures: {} as Record<string, Record<string, number>>, applicationImage: {} as Record<string, string> };
  const count = (step: string, code: string) => {
    const byCode = (truth.failures[step] ??= {});
    byCode[code] = (byCode[code] ?? 0) + 1;
  };
  const units: UnitPlan[] = Array.from({ length: plan.units }, (_, i) => {
    const station = stations[i % stations.length] as SimStation;
    const startsAt = new Date(plan.start.getTime() + Math.floor(i / stations.length) * plan.cycleSeconds * 1000);
    const minute = (startsAt.getTime() - plan.start.getTime()) / 60_000;
    const drifted = plan.drift !== null && plan.drift.station === station.stationId && minute >= plan.drift.fromMinute && minute < plan.drift.fromMinute + plan.drift.minutes;
    return { serial: `${plan.serialPrefix}${String(i + 1).padStart(6, '0')}`, station, startsAt, drifted, index: i };
  });

  let done = 0;
  await Promise.all(
    stations.map(async (station) => {
      for (const unit of units.filter((u) => u.station === station)) {
        const r = simulateUnit(plan, unit, release, previous);
        await station.client.append(r.envelopes);
        if (r.outcome === 'scrapped') truth.scrapped.push(unit.serial);
        else truth.completed.push(unit.serial);
        if (r.reworks > 0) truth.reworked.push(unit.serial);
        if (r.outcome === 'shipped' && r.failures.length === 0 && r.reworks === 0) truth.firstPass.push(unit.serial);
        for (const f of r.failures) count(f.step, f.errorCode);
        if (r.appWritten !== null) {
          truth.applicationImage[unit.serial] = r.appWritten;
          if (r.appWritten === previous.sha256) truth.drifted.push(unit.serial);
        }
        onProgress?.(++done, units.length);
      }
    }),
  );
  const sort = (a: string[]) => a.sort();
  return {
    started: plan.units,
    scrapped: sort(truth.scrapped),
    reworked: sort(truth.reworked),
    firstPass: sort(truth.firstPass),
    completed: sort(truth.completed),
    drifted: sort(truth.drifted),
    failures: truth.failures,
    applicationImage: truth.applicationImage,
  };
}

/** One unit from scan to ship or scrap, with its own random draws. */
function simulateUnit(plan: SimulationPlan, unit: UnitPlan, release: RecipeRelease, previous: { sha256: string; version: string }): UnitResult {
  const random = seededRandom((plan.seed * 1_000_003 + unit.index * 7919) >>> 0);
  const envelopes: DsseEnvelope[] = [];
  let clock = unit.startsAt.getTime();
  const sign = (type: UnitEventType, data: unknown): UnitEvent => {
    clock += 2000;
    const signed = unit.station.signer.sign(type, data as never, { id: seededUuid(random, plan.batchId), occurredAt: new Date(clock) });
    envelopes.push(signed.envelope);
    return signed.event as UnitEvent;
  };
  const defective = random() < plan.defectRate;
  const app = release.images.find((i) => i.name === 'app');
  const appImage = unit.drifted ? { sha256: previous.sha256, elf: simulatedElf(previous.version) } : { sha256: app?.sha256 ?? '', elf: app?.elfSha256 ?? '' };
  const u = new RecipeUnit(release, unit.serial, { stationId: unit.station.stationId, operator: plan.operator }, { appImage, defective }, sign);
  const limits = release.recipe.limits;
  const maxReworks = Math.min(plan.maxReworks, limits.maxAttempts - 1);
  const failures: { step: string; errorCode: string }[] = [];
  let reworks = 0;
  u.scan(plan.batchId);
  for (;;) {
    let gaveUp: string | null = null;
    for (let step = u.next(); step !== null; step = u.next()) {
      let tries = 0;
      let stepDone = false;
      while (!stepDone && tries <= plan.maxRetriesPerStep && u.state.passFailures < limits.maxFailuresPerAttempt) {
        tries++;
        let outcome: TryOutcome = { kind: 'pass' };
        if (random() < (plan.failureRates[step.id] ?? 0)) {
          const codes = ERROR_CODES[step.kind];
          outcome = step.kind === 'verify' || !codes ? { kind: 'garbled' } : { kind: 'tool_failure', errorCode: codes[Math.floor(random() * codes.length)] as string };
        }
        const r = u.try(outcome);
        if (r.failure) failures.push(r.failure);
        stepDone = r.done;
      }
      if (!stepDone) {
        gaveUp = step.id;
        break;
      }
    }
    if (gaveUp === null) break;
    if (reworks >= maxReworks) {
      u.scrap(`failed at ${gaveUp} after ${reworks} rework(s)`, gaveUp);
      return { envelopes, outcome: 'scrapped', reworks, failures, appWritten: u.lastAppWritten };
    }
    reworks++;
    u.rework(`pass ${reworks} failed at ${gaveUp}; reseated and cleaned the programming contacts`);
    u.scan(plan.batchId);
  }
  u.ship('ACME Robotics', `PO-${plan.batchId}`);
  return { envelopes, outcome: 'shipped', reworks, failures, appWritten: u.lastAppWritten };
}
