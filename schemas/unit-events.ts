/**
 * Events in a unit stream (`unit-<serial>`), appended by the station that performed the step.
 *
 * Version 1 is the seed's fixed sequence (scan → bootloader → application → provisioning → eFuse burn),
 * kept readable and foldable forever. Version 2 events, and the event types added with them, record the
 * steps of the release's recipe (schemas/recipe.ts): each names its recipe step, the operator and fixture,
 * how long it took, what the device or tool reported (parsed), and the SHA-256 of every tool output, which
 * the station keeps in its data directory (evidence/<sha256>) for an auditor to ask for.
 */
import { z } from 'zod';
import { Identifier, LongText, MacAddress, Serial, Sha256Hex, ShortText, Version } from './common.ts';
import { Expectation, FieldName, Fuse, ImageName, KeyBurn, StepId, VerificationMethod } from './recipe.ts';

export const UnitStep = z.enum([
  'scan',
  'bootloader',
  'application',
  'app_verify',
  'provisioning',
  'efuse',
  'test',
  'ship',
]);

export const UnitScannedV1 = z.strictObject({
  serial: Serial,
  batchId: Identifier,
  station: Identifier,
  operator: ShortText,
  productSku: ShortText,
  hardwareRevision: ShortText,
  chipId: z.string().min(1).max(64).optional(),
  mac: MacAddress.optional(),
});

export const BootloaderWritten = z.strictObject({
  serial: Serial,
  imageSha256: Sha256Hex,
  version: Version,
  sizeBytes: z.int().positive(),
  signingKeyRef: ShortText.describe('reference of the secure-boot signing key the bootloader trusts'),
  signingKeyDigest: Sha256Hex.describe('digest of that signing public key as burned into eFuse'),
});

export const AppVerified = z
  .strictObject({
    serial: Serial,
    imageSha256: Sha256Hex.describe('sha256 of the application image the station wrote'),
    version: Version,
    sizeBytes: z.int().positive(),
    reportedSha256: Sha256Hex.describe('sha256 read back from flash or reported by the device at boot'),
    method: z.enum(['flash_readback', 'device_report']),
    result: z.enum(['pass', 'fail']),
  })
  .refine((e) => (e.result === 'pass') === (e.imageSha256 === e.reportedSha256), {
    message: 'result must be "pass" exactly when the reported hash equals the written image hash',
    path: ['result'],
  });

export const ProvisioningAppliedV1 = z.strictObject({
  serial: Serial,
  templateId: Identifier,
  templateSha256: Sha256Hex,
  configSha256: Sha256Hex.describe('sha256 of the rendered, unit-specific configuration'),
});

export const EfuseBurnedV1 = z.strictObject({
  serial: Serial,
  profile: Identifier.describe('eFuse profile name from the release'),
  fuses: z.array(z.strictObject({ name: ShortText, value: z.string().max(512) })).min(1).max(64),
  keyDigests: z.array(Sha256Hex).max(4).describe('digests of secure-boot keys burned into the key blocks'),
  secureBoot: z.boolean(),
  flashEncryption: z.boolean(),
});

export const StepFailedV1 = z.strictObject({
  serial: Serial,
  step: UnitStep,
  errorCode: z.string().regex(/^[A-Z][A-Z0-9_]{1,63}$/, 'UPPER_SNAKE_CASE error code'),
  message: LongText,
  attempt: z.int().positive(),
});

export const UnitReworkedV1 = z.strictObject({
  serial: Serial,
  reason: LongText.min(1),
});

export const UnitScrappedV1 = z.strictObject({
  serial: Serial,
  reason: LongText.min(1),
  failedStep: UnitStep.optional(),
});

export const UnitShippedV1 = z.strictObject({
  serial: Serial,
  customer: ShortText,
  orderRef: ShortText,
});

// ---- version 2: the recipe's steps -------------------------------------------------------------------

/** One run of a vendor tool: what ran, how it ended, and the digests of everything it printed. */
export const ToolRun = z.strictObject({
  program: ShortText.describe('the program that ran, e.g. esptool, espefuse, blhost'),
  version: ShortText.optional().describe('the version the tool printed, e.g. esptool v5.1.0'),
  exitCode: z.int().min(-1).max(255).describe('-1: killed at its timeout'),
  stdoutSha256: Sha256Hex.describe('SHA-256 of its complete standard output, kept by the station as evidence/<digest>'),
  stderrSha256: Sha256Hex.describe('SHA-256 of its complete standard error, kept the same way'),
  durationMs: z.int().nonnegative().max(86_400_000),
});

/** Who did a step, where, how long it took, and the tool runs it consisted of. */
const stepContext = {
  serial: Serial,
  step: StepId.describe("the recipe step of the unit's release"),
  operator: ShortText.describe('the operator logged in at the station (badge or login) for this shift'),
  fixture: Identifier.optional().describe('the test fixture or programming jig the unit sat in'),
  durationMs: z.int().nonnegative().max(86_400_000),
  tools: z.array(ToolRun).max(8),
};

export const UnitScannedV2 = z.strictObject({
  serial: Serial,
  batchId: Identifier,
  releaseId: Identifier.describe("the batch's release, whose recipe the station is about to run"),
  station: Identifier,
  operator: ShortText,
  fixture: Identifier.optional(),
  productSku: ShortText,
  hardwareRevision: ShortText,
});

export const IdentityRead = z
  .strictObject({
    ...stepContext,
    chipType: ShortText.optional().describe('as the tool reported it, e.g. ESP32-S3 (QFN56) (revision v0.2)'),
    chipId: z.string().regex(/^[0-9a-f]{8,64}$/, 'lowercase hex, 8-64 characters').nullable().describe('the unique id the chip reported (ESP32-S3 OPTIONAL_UNIQUE_ID, LPC55 UID); null when it has none'),
    mac: MacAddress.nullable(),
  })
  .refine((e) => e.chipId !== null || e.mac !== null, { message: 'an identity read reports a chip id, a MAC, or both', path: ['chipId'] });

export const StepStarted = z.strictObject({
  serial: Serial,
  step: StepId.describe('an irreversible step (burn, lock): the ledger accepting this event is what allows the station to run it'),
  operator: ShortText,
  fixture: Identifier.optional(),
});

export const EfuseBurnedV2 = z.strictObject({
  ...stepContext,
  fuses: z.array(Fuse).max(64).describe('the eFuses burned, as the recipe step names them'),
  keys: z.array(KeyBurn).max(8),
});

export const WrittenImage = z.strictObject({
  name: ImageName,
  offset: z.int().nonnegative().max(0xffff_ffff),
  sha256: Sha256Hex.describe('SHA-256 of the file the station handed to the tool'),
  sizeBytes: z.int().positive().max(0x7fff_ffff),
});

export const ImagesWritten = z.strictObject({
  ...stepContext,
  images: z.array(WrittenImage).min(1).max(16),
});

export const ImageCheck = z
  .strictObject({
    name: ImageName,
    expected: z.string().regex(/^[0-9a-f]{8,64}$/).describe("the release's value: the image SHA-256, or its ELF SHA-256 for the boot log"),
    reported: z.string().regex(/^[0-9a-f]{8,64}$/).describe('what the device or tool reported: the read-back SHA-256, the file handed to the comparing tool, or the ELF SHA-256 prefix printed at boot'),
    comparedChars: z.int().min(8).max(64).describe('how many leading hex characters were compared (ESP-IDF prints 8-16 of the ELF hash)'),
    result: z.enum(['pass', 'fail']),
  })
  .refine((c) => c.reported.length === c.comparedChars && c.expected.length >= c.comparedChars, { message: 'comparedChars is the length of reported, and expected is at least as long', path: ['comparedChars'] })
  .refine((c) => (c.result === 'pass') === (c.expected.slice(0, c.comparedChars) === c.reported), { message: 'result is "pass" exactly when reported equals the first comparedChars characters of expected', path: ['result'] });

export const BootLogReport = z.strictObject({
  sha256: Sha256Hex.describe('SHA-256 of the console lines captured, kept as evidence/<digest>'),
  lines: z.int().nonnegative().max(100_000),
  idfVersion: ShortText.optional(),
  appVersion: ShortText.optional(),
  projectName: ShortText.optional(),
  secureBoot: ShortText.optional().describe('what the bootloader printed about secure boot'),
  flashEncryption: ShortText.optional().describe('what the bootloader and app printed about flash encryption'),
});

export const ImagesVerified = z
  .strictObject({
    ...stepContext,
    method: VerificationMethod,
    images: z.array(ImageCheck).min(1).max(16),
    result: z.enum(['pass', 'fail']),
    bootLog: BootLogReport.optional(),
  })
  .refine((e) => (e.result === 'pass') === e.images.every((i) => i.result === 'pass'), { message: 'result is "pass" exactly when every image passed', path: ['result'] })
  .refine((e) => e.method === 'boot_log_elf_sha256' || e.images.every((i) => i.comparedChars === 64), { message: 'a read-back or tool comparison compares the whole SHA-256', path: ['images'] })
  .refine((e) => (e.method === 'boot_log_elf_sha256') === (e.bootLog !== undefined), { message: 'bootLog is given exactly for a boot-log verification', path: ['bootLog'] });

export const ProvisioningAppliedV2 = z.strictObject({
  ...stepContext,
  templateId: Identifier,
  templateSha256: Sha256Hex,
  configSha256: Sha256Hex.describe('SHA-256 of the rendered, unit-specific configuration'),
  image: WrittenImage.optional().describe('the unit-specific image written, when provisioning writes flash (an NVS partition)'),
});

export const SecurityStateRead = z
  .strictObject({
    ...stepContext,
    fields: z.array(z.strictObject({ name: FieldName, value: z.union([z.string().max(200), z.number(), z.boolean()]) })).max(160).describe('the security-relevant fields as the device reported them'),
    checks: z.array(Expectation.extend({ actual: z.union([z.string().max(200), z.number(), z.boolean()]).nullable(), met: z.boolean() })).max(64),
    result: z.enum(['pass', 'fail']),
  })
  .refine((e) => (e.result === 'pass') === e.checks.every((c) => c.met), { message: 'result is "pass" exactly when every check is met', path: ['result'] })
  .refine((e) => e.checks.every((c) => c.met === (c.actual === c.equals)), { message: 'a check is met exactly when actual equals the expected value', path: ['checks'] });

export const UnitLocked = z.strictObject({
  ...stepContext,
  fuses: z.array(Fuse).max(64),
  images: z.array(WrittenImage).max(4),
});

export const StepFailedV2 = z.strictObject({
  ...stepContext,
  errorCode: z.string().regex(/^[A-Z][A-Z0-9_]{1,63}$/, 'UPPER_SNAKE_CASE error code'),
  message: LongText,
  attempt: z.int().positive().max(16).describe('the pass of the unit (1 + reworks)'),
  try: z.int().positive().max(64).describe('the try of this step within the pass'),
});

export const UnitReworkedV2 = z.strictObject({ serial: Serial, reason: LongText.min(1), operator: ShortText });
export const UnitScrappedV2 = z.strictObject({ serial: Serial, reason: LongText.min(1), operator: ShortText, failedStep: StepId.optional() });
export const UnitShippedV2 = z.strictObject({ serial: Serial, customer: ShortText, orderRef: ShortText, operator: ShortText });

/**
 * A field update of a shipped unit (OTA, or a service centre's re-flash), reported by the fleet's update
 * service (a station registered with role `fleet`) once the device reported running the new images. Keeps
 * "which firmware does this unit carry now" true; the unit decider accepts it only for a shipped unit,
 * from the release it carries, to an approved release whose images these are.
 */
export const FirmwareUpdated = z.strictObject({
  serial: Serial,
  fromReleaseId: Identifier.describe('the release the unit carried before the update'),
  toReleaseId: Identifier.describe('the approved release it carries now'),
  images: z
    .array(z.strictObject({ name: ImageName, sha256: Sha256Hex }))
    .min(1)
    .max(16)
    .describe("the images written, as the device reported them after the update (each one the new release's image of that name)"),
  method: z.enum(['ota', 'usb', 'uart', 'jtag', 'service_center']),
  campaign: ShortText.optional().describe("the update campaign or rollout id of the fleet's update service"),
  reportedVersion: Version.optional().describe('the firmware version the device reported after the update'),
});

/** Every version of every unit event type's data, oldest first; the last one is what stations write now. */
export const unitEventVersions = {
  UnitScanned: { 1: UnitScannedV1, 2: UnitScannedV2 },
  BootloaderWritten: { 1: BootloaderWritten },
  AppVerified: { 1: AppVerified },
  ProvisioningApplied: { 1: ProvisioningAppliedV1, 2: ProvisioningAppliedV2 },
  EfuseBurned: { 1: EfuseBurnedV1, 2: EfuseBurnedV2 },
  StepFailed: { 1: StepFailedV1, 2: StepFailedV2 },
  UnitReworked: { 1: UnitReworkedV1, 2: UnitReworkedV2 },
  UnitScrapped: { 1: UnitScrappedV1, 2: UnitScrappedV2 },
  UnitShipped: { 1: UnitShippedV1, 2: UnitShippedV2 },
  IdentityRead: { 1: IdentityRead },
  StepStarted: { 1: StepStarted },
  ImagesWritten: { 1: ImagesWritten },
  ImagesVerified: { 1: ImagesVerified },
  SecurityStateRead: { 1: SecurityStateRead },
  UnitLocked: { 1: UnitLocked },
  FirmwareUpdated: { 1: FirmwareUpdated },
} as const;

export type UnitEventType = keyof typeof unitEventVersions;

