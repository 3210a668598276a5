/**
 * Administrative events, signed by an administrator key trusted by the ledger's configuration.
 *   station-<stationId>  StationRegistered, StationKeyRegistered, StationKeyRevoked
 *   release-<releaseId>  ReleaseApproved
 *   batch-<batchId>      BatchOpened, BatchClosed
 */
import { z } from 'zod';
import { Identifier, KeyId, LongText, PublicKeyHex, Sha256Hex, ShortText, Version } from './common.ts';
import { Recipe, recipeProblems, ReleaseImage } from './recipe.ts';

export const StationRegisteredV1 = z.strictObject({
  stationId: Identifier,
  line: Identifier,
  site: ShortText,
  description: LongText.optional(),
});

/**
 * What a station may do to a unit (src/domain/unit.ts): a flashing station scans units of its line and runs
 * their recipe; a repair station reworks and scraps them; a packing station only ships. A version 1
 * registration is a flashing station.
 */
export const StationRole = z.enum(['flash', 'repair', 'pack']);

export const StationRegisteredV2 = StationRegisteredV1.extend({ role: StationRole });

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

export const ReleaseApprovedV1 = z.strictObject({
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

/** A release as a recipe: its images and the ordered steps of schemas/recipe.ts. */
export const ReleaseApprovedV2 = z
  .strictObject({
    releaseId: Identifier,
    productSku: ShortText,
    version: Version,
    images: z.array(ReleaseImage).min(1).max(16),
    recipe: Recipe,
    sbomSha256: Sha256Hex.optional().describe('digest of the CycloneDX SBOM of this release'),
  })
  .superRefine((release, ctx) => {
    const names = release.images.map((i) => i.name);
    names.forEach((name, i) => {
      if (names.indexOf(name) !== i) ctx.addIssue({ code: 'custom', message: `image name ${name} is used twice`, path: ['images', i, 'name'] });
    });
    for (const issue of recipeProblems(release.recipe, release.images)) ctx.addIssue({ code: 'custom', ...issue });
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

/** Every version of every administrative event type's data, oldest first; the last one is current. */
export const adminEventVersions = {
  StationRegistered: { 1: StationRegisteredV1, 2: StationRegisteredV2 },
  StationKeyRegistered: { 1: StationKeyRegistered },
  StationKeyRevoked: { 1: StationKeyRevoked },
  ReleaseApproved: { 1: ReleaseApprovedV1, 2: ReleaseApprovedV2 },
  BatchOpened: { 1: BatchOpened },
  BatchClosed: { 1: BatchClosed },
} as const;

export type AdminEventType = keyof typeof adminEventVersions;
