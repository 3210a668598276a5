/**
 * Administrative events, signed by an administrator key trusted by the ledger's configuration.
 *   station-<stationId>  StationRegistered, StationKeyRegistered, StationKeyRevoked
 *   release-<releaseId>  ReleaseApproved
 *   batch-<batchId>      BatchOpened, BatchClosed
 *   release-<releaseId>  SbomAttached, SupportPeriodSet (after its ReleaseApproved)
 *   vuln-<id>            VulnerabilityAssessed, VulnerabilityAwareness, CraReportSubmitted
 */
import { z } from 'zod';
import { Identifier, KeyId, LongText, PublicKeyHex, Sha256Hex, ShortText, Timestamp, Version } from './common.ts';
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

/**
 * Version 3: the fleet's update service (role `fleet`), which reports field updates (FirmwareUpdated) of
 * shipped units, signed with a key of its own registered like a station's. Its `line` names the fleet.
 * Flashing, repair and packing stations may be registered with version 2 or 3.
 */
// Every role, so that the current version describes every station one can register; a signer writes the
// newest version its data fits (schemas/event.ts schemaVersionFor), so new registrations are version 3.
export const StationRegisteredV3 = StationRegisteredV1.extend({ role: z.enum([...StationRole.options, 'fleet']) });

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

// ---- CRA: SBOMs, support periods, vulnerabilities (issue 21) -----------------------------------------

const PurlText = z.string().min(5).max(1000).regex(/^pkg:/, 'a purl: pkg:type/namespace/name@version');
const CpeText = z.string().min(5).max(1000).regex(/^cpe:(2\.3:|\/)/, 'a CPE 2.3 formatted string or a CPE 2.2 URI');
const RangeText = z.string().min(1).max(500).describe('a purl VERS (vers:semver/>=3.0.0|<3.5.2) or a node-semver range (>=3.0.0 <3.5.2)');

/** One component of an attached SBOM as the component index holds it: identity and version, nothing else. */
export const IndexedComponent = z.strictObject({
  ref: z.string().min(1).max(500).describe("the SBOM's own id of the component (bom-ref, SPDXID)"),
  name: z.string().min(1).max(500),
  group: z.string().min(1).max(500).optional(),
  version: z.string().min(1).max(200).optional(),
  purls: z.array(PurlText).max(8),
  cpes: z.array(CpeText).max(8),
});

/**
 * A release's SBOM, attached as evidence: the ledger checked its bytes against the official schema of its
 * format and against ReleaseApproved.sbomSha256, and keeps them content-addressed (sboms/<sha256>). The
 * components are those the SBOM lists, as src/cra reads them: what the component index is built from, so
 * that the index follows from the signed log alone.
 */
export const SbomAttached = z.strictObject({
  releaseId: Identifier,
  sha256: Sha256Hex.describe('SHA-256 of the SBOM bytes; must equal the release\'s sbomSha256'),
  format: z.enum(['CycloneDX', 'SPDX']),
  specVersion: z.enum(['1.6', '1.7', '2.2', '2.3', '3.0.1']),
  encoding: z.enum(['json', 'json-ld', 'tag-value']),
  sizeBytes: z.int().positive().max(64 * 1024 * 1024),
  components: z.array(IndexedComponent).max(1000),
});

/** Art. 13(19): the end of the support period, month and year. It may be extended, never shortened. */
export const SupportPeriodSet = z.strictObject({
  releaseId: Identifier,
  supportEnd: z.string().regex(/^(19|20|21)\d{2}-(0[1-9]|1[0-2])$/, 'YYYY-MM: the month and year the support period ends'),
  reason: LongText.optional(),
});

export const VulnerabilityId = z.string().regex(/^(CVE-\d{4}-\d{4,}|GHSA(-[23456789cfghjmpqrvwx]{4}){3}|EUVD-\d{4}-\d{1,})$/, 'a CVE, GHSA or EUVD identifier, e.g. CVE-2024-23775');

/** Which components: by purl (with a version range, or a version in the purl), CPE, or name. */
export const ComponentSelectorSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('purl'), purl: PurlText, range: RangeText.optional() }),
  z.strictObject({ kind: z.literal('cpe'), cpe: CpeText, range: RangeText.optional() }),
  z.strictObject({ kind: z.literal('name'), name: z.string().min(1).max(500), group: z.string().min(1).max(500).optional(), range: RangeText.optional() }),
]);

export const VexStatusSchema = z.enum(['not_affected', 'affected', 'fixed', 'under_investigation']);
export const VexJustificationSchema = z.enum(['component_not_present', 'vulnerable_code_not_present', 'vulnerable_code_not_in_execute_path', 'vulnerable_code_cannot_be_controlled_by_adversary', 'inline_mitigations_already_exist']);

/**
 * The manufacturer's assessment of one vulnerability for the releases it names (the newest statement
 * naming a release is the current one for it): `fixed` says those releases contain the fix. The status vocabulary is the CISA VEX minimum shared by
 * CSAF, OpenVEX and CycloneDX VEX.
 */
export const VulnerabilityAssessed = z
  .strictObject({
    vulnerabilityId: VulnerabilityId,
    aliases: z.array(VulnerabilityId).max(16).optional(),
    description: LongText.optional(),
    components: z.array(ComponentSelectorSchema).min(1).max(16),
    releaseIds: z.array(Identifier).min(1).max(64),
    status: VexStatusSchema,
    justification: VexJustificationSchema.optional(),
    impactStatement: LongText.optional(),
    actionStatement: LongText.optional(),
    fixedBy: z.array(Identifier).min(1).max(16).optional().describe('for affected: the releases that fix it, which units should be updated to'),
    fixAvailableAt: Timestamp.optional().describe('when the corrective measure became available: starts the Art. 14(2)(c) 14-day clock'),
  })
  .refine((a) => a.status !== 'not_affected' || a.justification !== undefined || (a.impactStatement ?? '') !== '', { message: 'not_affected needs a justification or an impact statement', path: ['justification'] })
  .refine((a) => a.justification === undefined || a.status === 'not_affected', { message: 'a justification belongs to not_affected only', path: ['justification'] })
  .refine((a) => a.status !== 'affected' || (a.actionStatement ?? '') !== '', { message: 'affected needs an action statement (what users should do)', path: ['actionStatement'] })
  .refine((a) => new Set(a.releaseIds).size === a.releaseIds.length, { message: 'a release is named once', path: ['releaseIds'] });

/** When the manufacturer became aware (Art. 14): starts the 24 h / 72 h clock. Recorded once per vulnerability. */
export const VulnerabilityAwareness = z.strictObject({
  vulnerabilityId: VulnerabilityId,
  track: z.enum(['vulnerability', 'severe_incident']).describe('Art. 14(2) actively exploited vulnerability, or Art. 14(4) severe incident'),
  awareAt: Timestamp,
  activelyExploited: z.boolean(),
  source: LongText.optional().describe('how the manufacturer learned of it (CERT advisory, researcher, customer)'),
});

export const ReportStageSchema = z.enum(['early_warning', 'notification', 'final_report']);

/** A report submitted on ENISA's single reporting platform (Art. 16), with when and its reference there. */
export const CraReportSubmitted = z
  .strictObject({
    vulnerabilityId: VulnerabilityId,
    stage: ReportStageSchema,
    submittedAt: Timestamp,
    covers: z.array(ReportStageSchema).max(2).optional().describe('later stages whose content this submission already provided'),
    reference: ShortText.optional().describe('the platform\'s reference of the submission'),
  })
  .refine((r) => (r.covers ?? []).every((c) => ReportStageSchema.options.indexOf(c) > ReportStageSchema.options.indexOf(r.stage)), { message: 'a submission covers only later stages', path: ['covers'] });

/** Every version of every administrative event type's data, oldest first; the last one is current. */
export const adminEventVersions = {
  StationRegistered: { 1: StationRegisteredV1, 2: StationRegisteredV2, 3: StationRegisteredV3 },
  StationKeyRegistered: { 1: StationKeyRegistered },
  StationKeyRevoked: { 1: StationKeyRevoked },
  ReleaseApproved: { 1: ReleaseApprovedV1, 2: ReleaseApprovedV2 },
  BatchOpened: { 1: BatchOpened },
  BatchClosed: { 1: BatchClosed },
  SbomAttached: { 1: SbomAttached },
  SupportPeriodSet: { 1: SupportPeriodSet },
  VulnerabilityAssessed: { 1: VulnerabilityAssessed },
  VulnerabilityAwareness: { 1: VulnerabilityAwareness },
  CraReportSubmitted: { 1: CraReportSubmitted },
} as const;

export type AdminEventType = keyof typeof adminEventVersions;
