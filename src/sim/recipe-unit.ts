/**
 * A simulated unit walking its release's recipe: the same walk as the station agent's (the next step from
 * src/domain/recipe.ts, the state folded by the unit decider's evolve), with simulated tool output in place
 * of the device's. The line simulator and the demo build their units with it, so the step sequence is
 * defined once, in the recipe.
 *
 * What a step reports is what the simulated device holds: a read-back reports the image that was written
 * (or garbage, for a unit with a bad flash chip), the boot log the ELF of the image that was written.
 */
import { createHash } from 'node:crypto';
import type { EventOf, RecipeStep, UnitEvent, UnitEventType } from '../../schemas/index.ts';
import { esp32s3HostSecureRecipe } from '../domain/recipes.ts';
import { imageOf, IRREVERSIBLE, nextStep, type RecipeRelease } from '../domain/recipe.ts';
import { evolveUnit, initialUnitState, type UnitState } from '../domain/unit.ts';

const sha = (text: string) => createHash('sha256').update(text).digest('hex');

/**
 * A stand-in image: `sizeBytes` bytes generated from its label (the label's line, repeated), so that its
 * SHA-256 and SHA-512 are digests of real bytes of exactly the size the release declares, as a build's are,
 * and never a placeholder. Computed once per label and size.
 */
const generatedImages = new Map<string, { sha256: string; sha512: string }>();
export function generatedImageDigests(label: string, sizeBytes: number): { sha256: string; sha512: string } {
  const key = `${sizeBytes} ${label}`;
  let digests = generatedImages.get(key);
  if (!digests) {
    const bytes = Buffer.alloc(sizeBytes, `${label}\n`);
    digests = { sha256: createHash('sha256').update(bytes).digest('hex'), sha512: createHash('sha512').update(bytes).digest('hex') };
    generatedImages.set(key, digests);
  }
  return digests;
}

const APP_IMAGE_BYTES = 1_245_184;

/** The ELF a simulated application image was built from. */
export const simulatedElf = (version: string) => sha(`elf ${version}`);
export const simulatedAppImage = (version: string) => generatedImageDigests(`application ${version}`, APP_IMAGE_BYTES).sha256;

/** A release of the ESP32-S3 host-based Secure Boot v2 + flash encryption recipe, with generated stand-in images. */
export function simulatedRecipeRelease(releaseId: string, productSku: string, version: string): RecipeRelease {
  const image = (name: string, offset: number, label: string, sizeBytes: number, elf?: string) => ({ name, offset, ...generatedImageDigests(label, sizeBytes), sizeBytes, ...(elf ? { elfSha256: elf } : {}) });
  return {
    releaseId,
    productSku,
    version,
    images: [
      image('bootloader', 0x0, `bootloader ${version}`, 28_672),
      image('partition-table', 0x8000, `partition table ${productSku}`, 3072),
      image('app', 0x10000, `application ${version}`, APP_IMAGE_BYTES, simulatedElf(version)),
    ],
    recipe: esp32s3HostSecureRecipe({ secureBootKeyDigest: sha(`secure boot signing key ${productSku}`), templateId: `prov-${productSku}`, templateSha256: sha(`template ${productSku} ${version}`) }),
  };
}

/** What happens at one try of a step. */
export type TryOutcome =
  | { readonly kind: 'pass' }
  /** The tool failed (StepFailed with this code). */
  | { readonly kind: 'tool_failure'; readonly errorCode: string }
  /** A verification read garbage this once (a loose contact): the device reports another hash. */
  | { readonly kind: 'garbled' };

export interface SimulatedDevice {
  /** The application image a write puts there (the release's, or the previous one on a drifting station). */
  readonly appImage: { sha256: string; elf: string };
  /** A bad flash chip: what is read back is never what was written. */
  readonly defective: boolean;
}

type Sign = (type: UnitEventType, data: unknown) => UnitEvent;

const tool = (serial: string, step: string, n: number) => ({ program: 'esptool', version: 'esptool v5.1.0', exitCode: 0, stdoutSha256: sha(`stdout ${serial} ${step} ${n}`), stderrSha256: sha(''), durationMs: 1200 });

/** One unit at one simulated station: signs its events through `sign` and keeps its state as the ledger will. */
export class RecipeUnit {
  state: UnitState = initialUnitState;
  /** The application image last written to the unit, in any pass. */
  lastAppWritten: string | null = null;
  private tries = 0;
  private garbled = false;

  constructor(
    readonly release: RecipeRelease,
    readonly serial: string,
    private readonly station: { stationId: string; operator: string },
    private readonly device: SimulatedDevice,
    private readonly signer: Sign,
  ) {}

  private sign(type: UnitEventType, data: unknown): void {
    this.state = evolveUnit(this.state, this.signer(type, data));
  }

  private base(step: string) {
    return { serial: this.serial, step, operator: this.station.operator, durationMs: 1500, tools: [tool(this.serial, step, ++this.tries)] };
  }

  scan(batchId: string, hardwareRevision = 'rev-C'): void {
    this.sign('UnitScanned', { serial: this.serial, batchId, releaseId: this.release.releaseId, station: this.station.stationId, operator: this.station.operator, productSku: this.release.productSku, hardwareRevision });
  }

  /** The next step of the recipe, or null when the recipe is done. */
  next(): RecipeStep | null {
    return nextStep(this.release.recipe, this.state.progress);
  }

  /**
   * One try of the next step. A tool failure is recorded as StepFailed; a verification that the device
   * fails (a drifted image, a bad chip) as the failed verification. Returns whether the step is done.
   */
  try(outcome: TryOutcome): { done: boolean; failure: { step: string; errorCode: string } | null } {
    const step = this.next();
    if (!step) return { done: true, failure: null };
    if (IRREVERSIBLE.has(step.kind)) this.sign('StepStarted', { serial: this.serial, step: step.id, operator: this.station.operator });
    if (outcome.kind === 'tool_failure') {
      this.sign('StepFailed', { ...this.base(step.id), errorCode: outcome.errorCode, message: `${step.id}: A fatal error occurred (simulated)`, attempt: this.state.attempt, try: 1 });
      return { done: false, failure: { step: step.id, errorCode: outcome.errorCode } };
    }
    const before = this.state.failures;
    this.garbled = outcome.kind === 'garbled';
    this.complete(step);
    this.garbled = false;
    const failed = this.state.failures > before;
    const errorCode = step.kind === 'verify' ? (step.method === 'boot_log_elf_sha256' ? 'ELF_HASH_MISMATCH' : 'IMAGE_MISMATCH') : 'SECURITY_STATE_MISMATCH';
    return { done: !failed, failure: failed ? { step: step.id, errorCode } : null };
  }

  private complete(step: RecipeStep): void {
    const r = this.release;
    const base = this.base(step.id);
    switch (step.kind) {
      case 'identity': {
        const h = sha(`mac ${this.serial}`);
        return this.sign('IdentityRead', { ...base, chipType: 'ESP32-S3 (QFN56) (revision v0.2)', chipId: step.id === 'read-unique-id' ? h.slice(10, 42) : null, mac: ['f4', '12', 'fa', h.slice(0, 2), h.slice(2, 4), h.slice(4, 6)].join(':') });
      }
      case 'burn':
        return this.sign('EfuseBurned', { ...base, fuses: step.fuses, keys: step.keys });
      case 'security_state': {
        const checks = step.expect.map((e) => ({ ...e, actual: e.equals, met: true }));
        return this.sign('SecurityStateRead', { ...base, fields: checks.map((c) => ({ name: c.field, value: c.equals })), checks, result: 'pass' });
      }
      case 'write':
        return this.sign('ImagesWritten', { ...base, images: step.images.map((name) => this.written(name)) });
      case 'verify': {
        const boot = step.method === 'boot_log_elf_sha256';
        const images = step.images.map((name) => {
          const image = imageOf(r, name);
          const expected = (boot ? image?.elfSha256 : image?.sha256) as string;
          const held = this.device.defective || this.garbled ? sha(`garbled ${this.serial} ${name} ${this.tries}`) : boot ? (name === 'app' ? this.device.appImage.elf : expected) : this.state.progress.written[name] ?? expected;
          const reported = boot ? held.slice(0, 9) : held;
          return { name, expected, reported, comparedChars: reported.length, result: expected.startsWith(reported) ? 'pass' : 'fail' };
        });
        return this.sign('ImagesVerified', {
          ...base,
          method: step.method,
          images,
          result: images.every((i) => i.result === 'pass') ? 'pass' : 'fail',
          ...(boot ? { bootLog: { sha256: sha(`boot log ${this.serial} ${this.tries}`), lines: 54, idfVersion: 'v5.4.1', appVersion: r.version, projectName: 'sensor' } } : {}),
        });
      }
      case 'provision':
        return this.sign('ProvisioningApplied', { ...base, templateId: step.templateId, templateSha256: step.templateSha256, configSha256: sha(`config ${this.serial}`), image: { name: 'nvs', offset: 0x9000, sha256: sha(`nvs ${this.serial}`), sizeBytes: 0x6000 } });
      case 'lock':
        return this.sign('UnitLocked', { ...base, fuses: step.fuses, images: step.images.map((name) => this.written(name)) });
    }
  }

  private written(name: string): EventOf<'ImagesWritten'>['data']['images'][number] {
    const image = imageOf(this.release, name);
    if (!image) throw new Error(`release has no image ${name}`);
    const sha256 = name === 'app' ? this.device.appImage.sha256 : image.sha256;
    if (name === 'app') this.lastAppWritten = sha256;
    return { name, offset: image.offset, sha256, sizeBytes: image.sizeBytes };
  }

  rework(reason: string): void {
    this.sign('UnitReworked', { serial: this.serial, reason, operator: this.station.operator });
  }

  scrap(reason: string, failedStep?: string): void {
    this.sign('UnitScrapped', { serial: this.serial, reason, operator: this.station.operator, ...(failedStep ? { failedStep } : {}) });
  }

  ship(customer: string, orderRef: string): void {
    this.sign('UnitShipped', { serial: this.serial, customer, orderRef, operator: this.station.operator });
  }
}
