/**
 * The provenance document of one unit (normative text: docs/format.md §6): one JSON object holding the
 * unit's signed events and every signed record they depend on, each with a C2SP tlog-proof against one
 * signed checkpoint, so that it verifies offline against the pinned ledger key alone.
 *
 *   flashtrail.provenance.v2  entries in log order, each leaf once; roles trust, station, release, batch,
 *                             unit; the BatchOpened and ReleaseApproved of the unit's batch included.
 *   flashtrail.provenance.v3  v2, signed: a `statement` member, the ledger's DSSE envelope (Ed25519 + ML-DSA-44)
 *                             of an in-toto Statement whose subject digests the rest of the document (§6.7),
 *                             and `history`, the unit's completeness evidence (schemas/history.ts, §15).
 *   flashtrail.provenance.v1  what ledgers served before v2: trust, station and unit entries.
 */
import { z } from 'zod';
import { Identifier, Sha256Hex } from './common.ts';
import { DsseEnvelopeSchema } from './event.ts';
import { HistoryEvidence } from './history.ts';
import { HybridStatementEnvelope, IN_TOTO_STATEMENT_TYPE } from './export.ts';

export const PROVENANCE_FORMAT_V1 = 'flashtrail.provenance.v1';
export const PROVENANCE_FORMAT_V2 = 'flashtrail.provenance.v2';
export const PROVENANCE_FORMAT_V3 = 'flashtrail.provenance.v3';
export const PROVENANCE_PREDICATE_TYPE_V3 = 'https://flashtrail.dev/attestation/provenance/v3';

/** A provenance document larger than this is refused before it is parsed. */
export const MAX_PROVENANCE_BYTES = 64 * 1024 * 1024;

export const PROVENANCE_ROLES_V1 = ['trust', 'station', 'unit'] as const;
export const PROVENANCE_ROLES_V2 = ['trust', 'station', 'release', 'batch', 'unit'] as const;

const entry = <R extends readonly [string, ...string[]]>(roles: R) =>
  z.strictObject({
    role: z.enum(roles).describe('trust: AdminKeysTrusted; station: station records; release: ReleaseApproved; batch: BatchOpened; unit: the unit\'s events'),
    leafIndex: z.int().nonnegative().max(Number.MAX_SAFE_INTEGER).describe('index of the envelope in the ledger Merkle log'),
    envelope: DsseEnvelopeSchema,
    proof: z.string().min(1).max(64 * 1024).describe('C2SP tlog-proof (c2sp.org/tlog-proof@v1) of the envelope at leafIndex, against the document checkpoint'),
  });

const document = <F extends string, R extends readonly [string, ...string[]]>(format: F, roles: R) =>
  z.strictObject({
    format: z.literal(format),
    serial: Identifier,
    checkpoint: z.string().min(1).max(16_384).describe('C2SP tlog-checkpoint signed note that every proof is against'),
    entries: z.array(entry(roles)).min(1).max(1_000_000),
  });

export const ProvenanceEntryV2 = entry(PROVENANCE_ROLES_V2);
export const ProvenanceDocumentV2 = document(PROVENANCE_FORMAT_V2, PROVENANCE_ROLES_V2);
export const ProvenanceEntryV1 = entry(PROVENANCE_ROLES_V1);
export const ProvenanceDocumentV1 = document(PROVENANCE_FORMAT_V1, PROVENANCE_ROLES_V1);

/**
 * v3 (docs/format.md §6.7): v2's members, `history` — the unit's completeness evidence (§15): that its unit
 * entries are every event of the unit in the checkpoint's tree, present when the ledger keeps a unit history map —
 * and the ledger's statement over all the others.
 */
export const ProvenanceDocumentV3 = document(PROVENANCE_FORMAT_V3, PROVENANCE_ROLES_V2).extend({
  history: HistoryEvidence.optional(),
  statement: HybridStatementEnvelope.describe("the ledger's signed in-toto Statement over SHA-256(JCS(the document without statement))"),
});
export const ProvenanceStatementV3Schema = z.strictObject({
  _type: z.literal(IN_TOTO_STATEMENT_TYPE),
  subject: z.tuple([z.strictObject({ name: Identifier.describe('the serial'), digest: z.strictObject({ sha256: Sha256Hex.describe('SHA-256 of the RFC 8785 text of the document without its statement member') }) })]),
  predicateType: z.literal(PROVENANCE_PREDICATE_TYPE_V3),
  predicate: z.strictObject({
    format: z.literal(PROVENANCE_FORMAT_V3),
    origin: z.string().min(1).max(200),
    serial: Identifier,
    checkpoint: z.strictObject({ size: z.int().nonnegative().max(Number.MAX_SAFE_INTEGER), rootHash: Sha256Hex }),
    entries: z.int().nonnegative().describe('entries in the document'),
    unitEvents: z.int().nonnegative().describe("the unit's events in the document"),
  }),
});

/** The current format: what the ledger serves. */
export const ProvenanceDocumentSchema = ProvenanceDocumentV3;
export type ProvenanceRole = (typeof PROVENANCE_ROLES_V2)[number];
