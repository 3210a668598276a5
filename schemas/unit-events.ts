/**
 * Events in a unit stream (`unit-<serial>`), appended by the station that performed the step.
 */
import { z } from 'zod';
import { Identifier, LongText, MacAddress, Serial, Sha256Hex, ShortText, Version } from './common.ts';

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

export const UnitScanned = z.strictObject({
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

export const ProvisioningApplied = z.strictObject({
  serial: Serial,
  templateId: Identifier,
  templateSha256: Sha256Hex,
  configSha256: Sha256Hex.describe('sha256 of the rendered, unit-specific configuration'),
});

export const EfuseBurned = z.strictObject({
  serial: Serial,
  profile: Identifier.describe('eFuse profile name from the release'),
  fuses: z.array(z.strictObject({ name: ShortText, value: z.string().max(512) })).min(1).max(64),
  keyDigests: z.array(Sha256Hex).max(4).describe('digests of secure-boot keys burned into the key blocks'),
  secureBoot: z.boolean(),
  flashEncryption: z.boolean(),
});

export const StepFailed = z.strictObject({
  serial: Serial,
  step: UnitStep,
  errorCode: z.string().regex(/^[A-Z][A-Z0-9_]{1,63}$/, 'UPPER_SNAKE_CASE error code'),
  message: LongText,
  attempt: z.int().positive(),
});

export const UnitReworked = z.strictObject({
  serial: Serial,
  reason: LongText.min(1),
});

export const UnitScrapped = z.strictObject({
  serial: Serial,
  reason: LongText.min(1),
  failedStep: UnitStep.optional(),
});

export const UnitShipped = z.strictObject({
  serial: Serial,
  customer: ShortText,
  orderRef: ShortText,
});

export const unitEventSchemas = {
  UnitScanned,
  BootloaderWritten,
  AppVerified,
  ProvisioningApplied,
  EfuseBurned,
  StepFailed,
  UnitReworked,
  UnitScrapped,
  UnitShipped,
} as const;

export type UnitEventType = keyof typeof unitEventSchemas;
export type UnitEventData = { [K in UnitEventType]: { type: K; data: z.infer<(typeof unitEventSchemas)[K]> } }[UnitEventType];
