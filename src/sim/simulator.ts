/**
 * The line simulator: simulated stations flash a batch through a real ledger over HTTP, with configurable
 * failure rates per step, a rework-then-scrap policy and injected drift (one station flashing the previous
 * application image for a while). Reproducible from its seed. It keeps the ground truth of what it injected,
 * so the ledger's scrap and drift views can be checked against it.
 */
import { createHash } from 'node:crypto';
import type { EventSigner } from '../event/signer.ts';
import type { LedgerClient } from '../client/ledger-client.ts';
import type { DsseEnvelope } from '../crypto/dsse.ts';
import type { ReleaseFirmware } from './simulated-station.ts';
import { seededRandom, seededUuid } from './random.ts';

export const SIM_STEPS = ['bootloader', 'app_verify', 'provisioning', 'efuse'] as const;
export type SimStep = (typeof SIM_STEPS)[number];

const ERROR_CODES: Record<SimStep, readonly string[]> = {
  bootloader: ['FLASH_WRITE_ERROR', 'SERIAL_TIMEOUT'],
  app_verify: ['APP_HASH_MISMATCH'],
  provisioning: ['PROVISIONING_TIMEOUT', 'NVS_WRITE_ERROR'],
  efuse: ['EFUSE_BURN_ERROR'],
};

export interface SimulationPlan {
  readonly seed: number;
  readonly units: number;
  readonly batchId: string;
  readonly serialPrefix: string;
  /** Probability that one try of a step fails. */
  readonly failureRates: Partial<Record<SimStep, number>>;
  /** Failed tries of one step allowed within an attempt before the unit goes to rework. */
  readonly maxRetriesPerStep: number;
  /** Reworks allowed before a unit is scrapped. */
  readonly maxReworks: number;
  /** Share of units with a hardware defect (a bad flash chip): every verification of theirs fails. */
  readonly defectRate: number;
  /** One station flashes the previous application image for units it starts in this window. */
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

export async function simulateBatch(
  plan: SimulationPlan,
  stations: readonly SimStation[],
  release: ReleaseFirmware,
  previousApplicationSha256: string,
  onProgress?: (done: number, total: number) => void,
): Promise<GroundTruth> {
  const random = seededRandom(plan.seed);
  const truth = { scrapped: [] as string[], reworked: [] as string[], firstPass: [] as string[], completed: [] as string[], drifted: [] as string[], failures: {} as Record<string, Record<string, number>>, applicationImage: {} as Record<string, string> };
  const count = (step: string, code: string) => {
    truth.failures[step] ??= {};
    (truth.failures[step] as Record<string, number>)[code] = ((truth.failures[step] as Record<string, number>)[code] ?? 0) + 1;
  };

  // Every random decision is drawn up front, in unit order, so results do not depend on HTTP timing.
  const units = Array.from({ length: plan.units }, (_, i) => {
    const station = stations[i % stations.length] as SimStation;
    const startsAt = new Date(plan.start.getTime() + Math.floor(i / stations.length) * plan.cycleSeconds * 1000);
    const minute = (startsAt.getTime() - plan.start.getTime()) / 60_000;
    const drifted = plan.drift !== null && plan.drift.station === station.stationId && minute >= plan.drift.fromMinute && minute < plan.drift.fromMinute + plan.drift.minutes;
    return { serial: `${plan.serialPrefix}${String(i + 1).padStart(6, '0')}`, station, startsAt, drifted, script: scriptUnit(plan, random) };
  });

  let done = 0;
  await Promise.all(
    stations.map(async (station) => {
      for (const unit of units.filter((u) => u.station === station)) {
        const envelopes = emitUnit(plan, unit, release, previousApplicationSha256, random);
        await station.client.append(envelopes);
        const s = unit.script;
        if (s.outcome === 'scrapped') truth.scrapped.push(unit.serial);
        else truth.completed.push(unit.serial);
        if (s.reworks > 0) truth.reworked.push(unit.serial);
        if (s.outcome === 'shipped' && s.failures.length === 0 && s.reworks === 0) truth.firstPass.push(unit.serial);
        for (const f of s.failures) count(f.step, f.errorCode);
        if (unit.drifted && s.reachedAppVerify) truth.drifted.push(unit.serial);
        if (s.reachedAppVerify) truth.applicationImage[unit.serial] = unit.drifted ? previousApplicationSha256 : release.application.sha256;
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

interface UnitScript {
  /** Per attempt, the steps in order with how many failed tries precede success (or 'give up'). */
  readonly attempts: { step: SimStep; failedTries: { errorCode: string }[]; succeeded: boolean }[][];
  readonly failures: { step: SimStep; errorCode: string }[];
  readonly reworks: number;
  readonly outcome: 'shipped' | 'scrapped';
  readonly reachedAppVerify: boolean;
}

function scriptUnit(plan: SimulationPlan, random: () => number): UnitScript {
  const defective = random() < plan.defectRate;
  const attempts: UnitScript['attempts'] = [];
  const failures: UnitScript['failures'] = [];
  let reachedAppVerify = false;
  for (let reworks = 0; ; reworks++) {
    const attempt: UnitScript['attempts'][number] = [];
    let gaveUp = false;
    for (const step of SIM_STEPS) {
      const failedTries: { errorCode: string }[] = [];
      let succeeded = false;
      while (!succeeded && failedTries.length <= plan.maxRetriesPerStep) {
        if ((defective && step === 'app_verify') || random() < (plan.failureRates[step] ?? 0)) {
          const codes = ERROR_CODES[step];
          const errorCode = codes[Math.floor(random() * codes.length)] as string;
          failedTries.push({ errorCode });
          failures.push({ step, errorCode });
        } else {
          succeeded = true;
        }
      }
      if (step === 'app_verify') reachedAppVerify = true;
      attempt.push({ step, failedTries, succeeded });
      if (!succeeded) {
        gaveUp = true;
        break;
      }
    }
    attempts.push(attempt);
    if (!gaveUp) return { attempts, failures, reworks, outcome: 'shipped', reachedAppVerify };
    if (reworks >= plan.maxReworks) return { attempts, failures, reworks, outcome: 'scrapped', reachedAppVerify };
  }
}

function emitUnit(
  plan: SimulationPlan,
  unit: { serial: string; station: SimStation; startsAt: Date; drifted: boolean; script: UnitScript },
  r: ReleaseFirmware,
  previousApplicationSha256: string,
  random: () => number,
): DsseEnvelope[] {
  const { serial, station } = unit;
  const out: DsseEnvelope[] = [];
  let clock = unit.startsAt.getTime();
  const sign = <T extends Parameters<EventSigner['sign']>[0]>(type: T, data: unknown) => {
    clock += 5000;
    out.push(station.signer.sign(type, data as never, { id: seededUuid(random), occurredAt: new Date(clock) }).envelope);
  };
  const image = unit.drifted ? previousApplicationSha256 : r.application.sha256;
  sign('UnitScanned', { serial, batchId: plan.batchId, station: station.stationId, operator: plan.operator, productSku: r.productSku, hardwareRevision: 'rev-C' });
  unit.script.attempts.forEach((attempt, index) => {
    if (index > 0) sign('UnitReworked', { serial, reason: `attempt ${index} failed at ${attempt[0]?.step ?? 'start'}; reseated and cleaned contacts` });
    for (const { step, failedTries, succeeded } of attempt) {
      if (step === 'bootloader') {
        for (const f of failedTries) sign('StepFailed', { serial, step: 'bootloader', errorCode: f.errorCode, message: 'esptool write_flash failed', attempt: index + 1 });
        if (succeeded) sign('BootloaderWritten', { serial, imageSha256: r.bootloader.sha256, version: r.bootloader.version, sizeBytes: r.bootloader.sizeBytes, signingKeyRef: `${r.productSku}-sb-key`, signingKeyDigest: r.signingKeyDigest });
      } else if (step === 'app_verify') {
        const verify = (reported: string) =>
          sign('AppVerified', { serial, imageSha256: image, version: r.application.version, sizeBytes: r.application.sizeBytes, reportedSha256: reported, method: 'device_report', result: reported === image ? 'pass' : 'fail' });
        for (const _ of failedTries) verify(createHash('sha256').update(`garbled ${serial} ${clock}`).digest('hex'));
        if (succeeded) verify(image);
      } else if (step === 'provisioning') {
        for (const f of failedTries) sign('StepFailed', { serial, step: 'provisioning', errorCode: f.errorCode, message: 'provisioning did not complete', attempt: index + 1 });
        if (succeeded) sign('ProvisioningApplied', { serial, templateId: r.provisioningTemplate.id, templateSha256: r.provisioningTemplate.sha256, configSha256: createHash('sha256').update(`config ${serial}`).digest('hex') });
      } else {
        for (const f of failedTries) sign('StepFailed', { serial, step: 'efuse', errorCode: f.errorCode, message: 'espefuse burn_efuse failed', attempt: index + 1 });
        if (succeeded) {
          sign('EfuseBurned', { serial, profile: r.efuseProfile, fuses: [{ name: 'SECURE_BOOT_EN', value: '1' }, { name: 'SPI_BOOT_CRYPT_CNT', value: '7' }], keyDigests: [r.signingKeyDigest], secureBoot: true, flashEncryption: true });
        }
      }
    }
  });
  if (unit.script.outcome === 'shipped') sign('UnitShipped', { serial, customer: 'ACME Robotics', orderRef: `PO-${plan.batchId}` });
  else sign('UnitScrapped', { serial, reason: `failed after ${unit.script.reworks} rework(s)`, failedStep: lastFailedStep(unit.script) });
  return out;
}

function lastFailedStep(script: UnitScript): SimStep {
  const last = script.attempts[script.attempts.length - 1] ?? [];
  return (last.find((s) => !s.succeeded)?.step ?? 'efuse') as SimStep;
}
