/**
 * The traceability export formats, for third parties writing their own verifier (normative text:
 * docs/format.md §7). One NDJSON file: each line is one record below; the last line is the statement, whose
 * `predicate.content.sha256` is the SHA-256 of every byte of the file before the statement line.
 *
 *   flashtrail.export.v2  every line is the RFC 8785 form of its record; admin records (trust, station,
 *                         release, batch) in log order; units in serial order, each once; the release and
 *                         batch records every unit depends on are in the file.
 *   flashtrail.export.v3  as v2, and the statement's envelope carries the ledger's ML-DSA-44 signature beside
 *                         its Ed25519 one, and its predicate the SHA-256 of the offline verifier page (§7.6.1).
 *   flashtrail.export.v4  as v3, and the unit history map (§15): a `history` record after the checkpoint (the map
 *                         root and its commitment in the index log), and in every unit record the map proof of
 *                         its serial, so that a unit record with an event left out fails (§7.6.2).
 *   flashtrail.export.v5  as v4, for a selection by firmware digest: the proved answer "which units carry it now
 *                         and formerly" (§15.6.1) in `firmware` records after the history record, so that a unit
 *                         left out of the file fails (EXPORT_INCOMPLETE, §7.6.3).
 *   flashtrail.export.v1  what ledgers wrote before v2; still verified, with the rules it can carry.
 */
import { z } from 'zod';
import { Identifier, MacAddress, Sha256Hex, Timestamp } from './common.ts';
import { DsseEnvelopeSchema } from './event.ts';
import { SharedHistoryEvidence, UnitMapProof } from './history.ts';

export const EXPORT_FORMAT_V1 = 'flashtrail.export.v1';
export const EXPORT_FORMAT_V2 = 'flashtrail.export.v2';
export const EXPORT_PREDICATE_TYPE_V1 = 'https://flashtrail.dev/attestation/traceability-export/v1';
export const EXPORT_PREDICATE_TYPE_V2 = 'https://flashtrail.dev/attestation/traceability-export/v2';
export const EXPORT_FORMAT_V3 = 'flashtrail.export.v3';
export const EXPORT_PREDICATE_TYPE_V3 = 'https://flashtrail.dev/attestation/traceability-export/v3';
export const IN_TOTO_STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';

/** No line of an export, its newline included, is longer: a verifier refuses a longer one before reading on. */
export const MAX_EXPORT_LINE_BYTES = 4 * 1024 * 1024;

export const Base64Hash = z.string().regex(/^[A-Za-z0-9+/]{43}=$/, 'base64 of a 32-byte SHA-256 hash');
/** 64 hashes prove inclusion in a tree of up to 2^64 leaves. */
const InclusionProof = z.array(Base64Hash).max(64).describe('RFC 6962 inclusion proof of the leaf under the export checkpoint, sibling first');
const LeafIndex = z.int().nonnegative().max(Number.MAX_SAFE_INTEGER).describe('index of the envelope in the ledger Merkle log (RFC 6962, leaf = SHA-256(0x00 || RFC 8785 envelope))');
const Origin = z.string().min(1).max(200).regex(/^[^\s+]+$/u, 'no spaces and no "+"').describe('the ledger log origin, also the name of its verifier key');

export const LoggedEnvelope = z.strictObject({ leafIndex: LeafIndex, envelope: DsseEnvelopeSchema, proof: InclusionProof });

export const ExportSelectionSchema = z.strictObject({
  batchId: Identifier.optional(),
  serials: z.array(Identifier).min(1).max(100_000).optional(),
  firmwareSha256: Sha256Hex.optional(),
  customer: z.string().min(1).max(200).optional(),
  from: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'a UTC day, YYYY-MM-DD').optional(),
  to: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'a UTC day, YYYY-MM-DD').optional(),
});

/** The in-toto Statement of one export version: its predicate type and predicate; the subject of v2 on (§7.5). */
const statementOf = <T extends string, P extends z.ZodType>(predicateType: T, predicate: P) =>
  z.strictObject({ _type: z.literal(IN_TOTO_STATEMENT_TYPE), subject: exportSubjects, predicateType: z.literal(predicateType), predicate });
const header = <F extends string>(format: F, createdAt: z.ZodType<string>) =>
  z.strictObject({ record: z.literal('header'), format: z.literal(format), origin: Origin, createdAt, selection: ExportSelectionSchema });
export const ExportCheckpoint = z.strictObject({ record: z.literal('checkpoint'), note: z.string().min(1).max(16_384).describe('C2SP tlog-checkpoint signed note') });
const logged = <R extends string>(record: R, what: string) => LoggedEnvelope.extend({ record: z.literal(record) }).describe(what);
export const ExportTrust = logged('trust', 'AdminKeysTrusted, signed by the ledger key');
export const ExportStation = logged('station', 'station registration, key registration or revocation, signed by an administrator');
export const ExportRelease = logged('release', 'ReleaseApproved of a release an exported unit depends on, signed by an administrator');
export const ExportBatch = logged('batch', 'BatchOpened of a batch an exported unit was scanned into, signed by an administrator');

const unit = (chipId: z.ZodType<string>, mac: z.ZodType<string>) =>
  z.strictObject({
    record: z.literal('unit'),
    serial: Identifier,
    chipId: chipId.nullable().describe('chipId of the last UnitScanned event that has one, else null'),
    mac: mac.nullable().describe('mac of the last UnitScanned event that has one, else null'),
    batchId: Identifier.nullable().describe('batchId of the UnitScanned events, or null when there is none'),
    releaseId: Identifier.nullable().describe("releaseId of that batch's BatchOpened record, or null when batchId is null"),
    events: z.array(LoggedEnvelope).min(1).describe("the unit's station-signed events in stream order, from the first (prev null) on"),
  });

const Subject = z.strictObject({ name: z.string().min(1).max(200), digest: z.strictObject({ sha256: Sha256Hex }) });
const exportSubjects = z.array(Subject).describe('one per (kind, image) the exported events support: "bootloader <version>" or "application <version>", sorted by digest, then name');
const predicate = <F extends string>(format: F, createdAt: z.ZodType<string>) =>
  z.strictObject({
    format: z.literal(format),
    origin: Origin,
    createdAt,
    selection: ExportSelectionSchema,
    checkpoint: z.strictObject({ size: z.int().nonnegative().max(Number.MAX_SAFE_INTEGER), rootHash: Sha256Hex.describe('hex, where the note has base64') }),
    content: z.strictObject({
      sha256: Sha256Hex.describe('SHA-256 of every byte of the file before the statement line'),
      records: z.int().nonnegative().describe('lines before the statement, header and checkpoint included'),
      units: z.int().nonnegative(),
      events: z.int().nonnegative().describe('unit events only'),
    }),
    sboms: z.array(z.strictObject({ releaseId: Identifier, sha256: Sha256Hex, mediaType: z.literal('application/vnd.cyclonedx+json') })),
  });

export const ExportStatement = z.strictObject({
  record: z.literal('statement'),
  envelope: z.strictObject({
    payloadType: z.literal(IN_TOTO_PAYLOAD_TYPE),
    payload: z.string().min(1).max(16 * 1024 * 1024).describe('base64 of the RFC 8785 in-toto Statement'),
    signatures: z.array(z.strictObject({ keyid: Sha256Hex.describe('SHA-256 of the raw ledger public key, hex'), sig: z.string().length(88) })).length(1),
  }),
});

// v2: the release and batch records, and timestamps and MACs in their one form.
export const ExportHeaderV2 = header(EXPORT_FORMAT_V2, Timestamp);
export const ExportUnitV2 = unit(z.string().min(1).max(64), MacAddress);
export const ExportPredicateV2Schema = predicate(EXPORT_FORMAT_V2, Timestamp);
export const InTotoStatementV2Schema = statementOf(EXPORT_PREDICATE_TYPE_V2, ExportPredicateV2Schema);
export const ExportRecordV2Schema = z.discriminatedUnion('record', [ExportHeaderV2, ExportCheckpoint, ExportTrust, ExportStation, ExportRelease, ExportBatch, ExportUnitV2, ExportStatement]);

// v1, as ledgers wrote it before v2.
export const ExportHeaderV1 = header(EXPORT_FORMAT_V1, z.string().max(64));
export const ExportUnitV1 = unit(z.string().max(64), z.string().max(64));
export const ExportPredicateV1Schema = predicate(EXPORT_FORMAT_V1, z.string().max(64));
export const InTotoStatementV1Schema = z.strictObject({
  _type: z.literal(IN_TOTO_STATEMENT_TYPE),
  subject: z.array(Subject).describe('the firmware images the exported units carry'),
  predicateType: z.literal(EXPORT_PREDICATE_TYPE_V1),
  predicate: ExportPredicateV1Schema,
});
export const ExportRecordV1Schema = z.discriminatedUnion('record', [ExportHeaderV1, ExportCheckpoint, ExportTrust, ExportStation, ExportUnitV1, ExportStatement]);

// v3 (docs/format.md §7.6.1): v2's records; a statement signed by Ed25519 and ML-DSA-44, naming the verifier page.
/** An ML-DSA-44 signature (2420 bytes) is 3228 base64 characters. */
export const ML_DSA_44_SIGNATURE_BASE64_LENGTH = 3228;
/** The ledger's hybrid-signed DSSE envelope of an in-toto Statement (docs/format.md §7.6.1): exports v3, provenance v3. */
export const HybridStatementEnvelope = z.strictObject({
    payloadType: z.literal(IN_TOTO_PAYLOAD_TYPE),
    payload: z.string().min(1).max(16 * 1024 * 1024).describe('base64 of the RFC 8785 in-toto Statement'),
    signatures: z
      .tuple([
        z.strictObject({ keyid: Sha256Hex.describe('SHA-256 of the raw Ed25519 ledger public key, hex'), sig: z.string().length(88) }),
        z.strictObject({ keyid: Sha256Hex.describe('SHA-256 of the 1312-byte ML-DSA-44 ledger public key, hex'), sig: z.string().length(ML_DSA_44_SIGNATURE_BASE64_LENGTH) }),
      ])
      .or(z.tuple([z.strictObject({ keyid: Sha256Hex, sig: z.string().length(88) })]))
      .describe('the Ed25519 signature first; then, from a ledger with a post-quantum key, the ML-DSA-44 one, both over the same PAE'),
});
export const ExportStatementV3 = z.strictObject({ record: z.literal('statement'), envelope: HybridStatementEnvelope });
export const VERIFIER_PAGE_FILE_NAME = 'verify.html';
export const ExportPredicateV3Schema = ExportPredicateV2Schema.extend({
  format: z.literal(EXPORT_FORMAT_V3),
  verifierPage: z
    .strictObject({ name: z.literal(VERIFIER_PAGE_FILE_NAME), sha256: Sha256Hex.describe('SHA-256 of the page file, hex') })
    .nullable()
    .describe('the offline verifier page written next to the export (null: the ledger had no built page)'),
});
export const ExportHeaderV3 = header(EXPORT_FORMAT_V3, Timestamp);
export const InTotoStatementV3Schema = statementOf(EXPORT_PREDICATE_TYPE_V3, ExportPredicateV3Schema);
export const ExportRecordV3Schema = z.discriminatedUnion('record', [ExportHeaderV3, ExportCheckpoint, ExportTrust, ExportStation, ExportRelease, ExportBatch, ExportUnitV2, ExportStatementV3]);

// v4 (docs/format.md §7.6.2): v3, with the unit history map's evidence, shared once and per unit.
export const EXPORT_FORMAT_V4 = 'flashtrail.export.v4';
export const EXPORT_PREDICATE_TYPE_V4 = 'https://flashtrail.dev/attestation/traceability-export/v4';
export const ExportHeaderV4 = header(EXPORT_FORMAT_V4, Timestamp);
/** Line 3 of a v4 export: the map root as of the checkpoint's size and the index log evidence committing it. */
export const ExportHistory = SharedHistoryEvidence.extend({ record: z.literal('history') }).describe("the unit history map root as of the export checkpoint, and its commitment in the index log (docs/format.md §15.3)");
export const ExportUnitV4 = ExportUnitV2.extend({ history: UnitMapProof.describe("the map proof of the unit's history value under the history record's mapRoot") });
export const ExportPredicateV4Schema = ExportPredicateV3Schema.extend({ format: z.literal(EXPORT_FORMAT_V4) });
export const InTotoStatementV4Schema = statementOf(EXPORT_PREDICATE_TYPE_V4, ExportPredicateV4Schema);
export const ExportRecordV4Schema = z.discriminatedUnion('record', [ExportHeaderV4, ExportCheckpoint, ExportHistory, ExportTrust, ExportStation, ExportRelease, ExportBatch, ExportUnitV4, ExportStatementV3]);

// v5 (docs/format.md §7.6.3): v4, with the firmware answer of the selection's digest in parts after the history record.
export const EXPORT_FORMAT_V5 = 'flashtrail.export.v5';
export const EXPORT_PREDICATE_TYPE_V5 = 'https://flashtrail.dev/attestation/traceability-export/v5';
/** Serials (now and formerly together) in one firmware record: 16,384 × 67 bytes stays far below the line limit. */
export const FIRMWARE_PART_SERIALS = 16_384;
/** Serials in a whole answer, as GET /v1/unit-map/firmware/{sha256} (§15.6.1): a digest carried by more has no v5 export. */
export const FIRMWARE_ANSWER_MAX_SERIALS = 1_000_000;
export const ExportHeaderV5 = header(EXPORT_FORMAT_V5, Timestamp);
export const ExportFirmware = z
  .strictObject({
    record: z.literal('firmware'),
    sha256: Sha256Hex.describe("the selection's firmware digest D"),
    firmware: UnitMapProof.describe("value(D) (or null) and its map proof under the history record's mapRoot; the same in every part"),
    now: z.array(Identifier).max(FIRMWARE_PART_SERIALS).describe("this part's slice of the serials carrying D now, ascending across parts"),
    formerly: z.array(Identifier).max(FIRMWARE_PART_SERIALS).describe("this part's slice of the serials that carried D formerly, ascending across parts"),
  })
  .describe('one part of the proved answer "which units carry firmware D" as of the checkpoint (docs/format.md §7.6.3, §15.6)');
export const ExportPredicateV5Schema = ExportPredicateV3Schema.extend({ format: z.literal(EXPORT_FORMAT_V5) });
export const InTotoStatementV5Schema = statementOf(EXPORT_PREDICATE_TYPE_V5, ExportPredicateV5Schema);
export const ExportRecordV5Schema = z.discriminatedUnion('record', [ExportHeaderV5, ExportCheckpoint, ExportHistory, ExportFirmware, ExportTrust, ExportStation, ExportRelease, ExportBatch, ExportUnitV4, ExportStatementV3]);

/** The current formats: v5 for a selection by firmware where the map commits firmware (v2 leaf), else v4 (v3 without a map). */
export const ExportRecordSchema = ExportRecordV5Schema.or(ExportRecordV4Schema);
export const InTotoStatementSchema = InTotoStatementV5Schema.or(InTotoStatementV4Schema);
