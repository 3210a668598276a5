/**
 * Administrative events, signed by an administrator key trusted by the ledger's configuration.
 *   station-<stationId>  StationRegistered, StationKeyRegistered, StationKeyRevoked
 *   release-<releaseId>  ReleaseApproved
 *   batch-<batchId>      BatchOpened, BatchClosed
 */
import { z } from 'zod';
import { Identifier, KeyId, LongText, PublicKeyHex, Sha256Hex, ShortText, Version } from './common.ts';

export const StationRegistered = z.strictObject({
  stationId: Identifier,
  line: Identifier,
  site: ShortText,
  description: LongText.optional(),
});

export const StationKeyRegistered = z.strictObject({
  stationId: Identifier,
  keyId: KeyId,
  publicKey: PublicKeyHex,
  algorithm: z.literal('ed25519'),
});

export const StationKeyRevoked = z.strictObject({
  stationId: Identifier,
  keyId: KeyId,
  reason: LongText.min(1),
});

export const ReleaseApproved = z.strictObject({
  releaseId: Identifier,
  productSku: ShortText,
  version: Version,
  bootloaderSha256: Sha256Hex,
  applicationSha256: Sha256Hex,
  provisioningTemplateSha256: Sha256Hex,
  signingKeyDigest: Sha256Hex,
  efuseProfile: Identifier,
  sbomSha256: Sha256Hex.optional().describe('digest of the CycloneDX SBOM of this release'),
});

export const BatchOpened = z.strictObject({
  batchId: Identifier,
  releaseId: Identifier,
  line: Identifier,
  productSku: ShortText,
  plannedQuantity: z.int().positive().max(10_000_000),
});

export const BatchClosed = z.strictObject({
  batchId: Identifier,
  reason: LongText.optional(),
});

export const adminEventSchemas = {
  StationRegistered,
  StationKeyRegistered,
  StationKeyRevoked,
  ReleaseApproved,
  BatchOpened,
  BatchClosed,
} as const;

export type AdminEventType = keyof typeof adminEventSchemas;
export type AdminEventData = { [K in AdminEventType]: { type: K; data: z.infer<(typeof adminEventSchemas)[K]> } }[AdminEventType];
