/**
 * The signed traceability export (docs/format.md §7; zod in schemas/export.ts): one NDJSON file, written and
 * verified as a stream. Every line is one record; the last is an in-toto Statement v1 in a DSSE envelope
 * signed by the ledger key, which commits to every byte before it by SHA-256.
 *
 *   {"record":"header", "format", "origin", "createdAt", "selection"}
 *   {"record":"checkpoint", "note"}                            the C2SP checkpoint every proof is against
 *   {"record":"history", "mapRoot", "commitment"}              v4: the unit history map root and its index log commitment
 *   {"record":"firmware", "sha256", "firmware", "now", "formerly"}   v5: the proved answer for the selection's digest, in parts
 *   {"record":"trust" | "station" | "release" | "batch", "leafIndex", "envelope", "proof"}   in log order
 *   {"record":"unit", "serial", "chipId", "mac", "batchId", "releaseId", "events": [{"leafIndex", "envelope", "proof"}]}
 *   {"record":"statement", "envelope"}                         DSSE(application/vnd.in-toto+json, Statement)
 *
 * In v2 each line is the RFC 8785 form of its record (so the members appear sorted), followed by LF.
 */
import type { DsseEnvelope } from '../crypto/dsse.ts';
import type { SharedHistoryEvidence, UnitMapProof } from '../../schemas/history.ts';
import {
  EXPORT_FORMAT_V1,
  EXPORT_FORMAT_V2,
  EXPORT_PREDICATE_TYPE_V1,
  EXPORT_PREDICATE_TYPE_V2,
  EXPORT_FORMAT_V3,
  EXPORT_PREDICATE_TYPE_V3,
  EXPORT_FORMAT_V4,
  EXPORT_PREDICATE_TYPE_V4,
  EXPORT_FORMAT_V5,
  EXPORT_PREDICATE_TYPE_V5,
  FIRMWARE_ANSWER_MAX_SERIALS,
  FIRMWARE_PART_SERIALS,
  VERIFIER_PAGE_FILE_NAME,
  IN_TOTO_PAYLOAD_TYPE,
  IN_TOTO_STATEMENT_TYPE,
  MAX_EXPORT_LINE_BYTES,
} from '../../schemas/export.ts';

export { EXPORT_FORMAT_V1, EXPORT_FORMAT_V2, EXPORT_FORMAT_V3, EXPORT_FORMAT_V4, EXPORT_FORMAT_V5, EXPORT_PREDICATE_TYPE_V1, EXPORT_PREDICATE_TYPE_V2, EXPORT_PREDICATE_TYPE_V3, EXPORT_PREDICATE_TYPE_V4, EXPORT_PREDICATE_TYPE_V5, FIRMWARE_ANSWER_MAX_SERIALS, FIRMWARE_PART_SERIALS, IN_TOTO_PAYLOAD_TYPE, IN_TOTO_STATEMENT_TYPE, MAX_EXPORT_LINE_BYTES, VERIFIER_PAGE_FILE_NAME };

/** What the ledger writes now where it keeps a unit history map (v5 for a selection by firmware, §7.6.3); without one it writes v3. */
export const EXPORT_FORMAT = EXPORT_FORMAT_V4;
export const EXPORT_PREDICATE_TYPE = EXPORT_PREDICATE_TYPE_V4;
export type ExportFormat = typeof EXPORT_FORMAT_V1 | typeof EXPORT_FORMAT_V2 | typeof EXPORT_FORMAT_V3 | typeof EXPORT_FORMAT_V4 | typeof EXPORT_FORMAT_V5;

/** v2 and later: RFC 8785 lines, records in log order, release and batch records, selection checked. */
export function isCanonicalExportFormat(format: ExportFormat): format is typeof EXPORT_FORMAT_V2 | typeof EXPORT_FORMAT_V3 | typeof EXPORT_FORMAT_V4 | typeof EXPORT_FORMAT_V5 {
  return format !== EXPORT_FORMAT_V1;
}

/** v3 and later: the hybrid statement naming the verifier page (§7.6.1). */
export function hasHybridStatement(format: ExportFormat): format is typeof EXPORT_FORMAT_V3 | typeof EXPORT_FORMAT_V4 | typeof EXPORT_FORMAT_V5 {
  return format === EXPORT_FORMAT_V3 || format === EXPORT_FORMAT_V4 || format === EXPORT_FORMAT_V5;
}

/** v4 and v5: the unit history map's evidence, a history record and a map proof per unit (§7.6.2). */
export function hasHistory(format: ExportFormat): format is typeof EXPORT_FORMAT_V4 | typeof EXPORT_FORMAT_V5 {
  return format === EXPORT_FORMAT_V4 || format === EXPORT_FORMAT_V5;
}

/** v5: the firmware answer of the selection's digest, and the units exactly that set (§7.6.3). */
export function hasFirmwareAnswer(format: ExportFormat): format is typeof EXPORT_FORMAT_V5 {
  return format === EXPORT_FORMAT_V5;
}

/** One part of a v5 export's firmware answer (§7.6.3). */
export interface FirmwareRecord {
  readonly record: 'firmware';
  readonly sha256: string;
  readonly firmware: UnitMapProof;
  readonly now: readonly string[];
  readonly formerly: readonly string[];
}

export interface ExportSelection {
  readonly batchId?: string;
  readonly serials?: readonly string[];
  readonly firmwareSha256?: string;
  readonly customer?: string;
  readonly from?: string;
  readonly to?: string;
}

export interface LoggedEnvelope {
  readonly leafIndex: number;
  readonly envelope: DsseEnvelope;
  readonly proof: readonly string[];
}

/** Records before the units that carry one logged envelope each. v1 has only trust and station. */
export type AdminRecordKind = 'trust' | 'station' | 'release' | 'batch';

export interface UnitRecord {
  readonly record: 'unit';
  readonly serial: string;
  readonly chipId: string | null;
  readonly mac: string | null;
  readonly batchId: string | null;
  readonly releaseId: string | null;
  readonly events: readonly LoggedEnvelope[];
  /** v4: the map proof of the unit's history under the history record's map root. */
  readonly history?: UnitMapProof;
}

export type ExportRecord =
  | { record: 'header'; format: ExportFormat; origin: string; createdAt: string; selection: ExportSelection }
  | { record: 'checkpoint'; note: string }
  | ({ record: 'history' } & SharedHistoryEvidence)
  | FirmwareRecord
  | ({ record: AdminRecordKind } & LoggedEnvelope)
  | UnitRecord
  | { record: 'statement'; envelope: DsseEnvelope };

export interface ExportPredicate {
  readonly format: ExportFormat;
  readonly origin: string;
  readonly createdAt: string;
  readonly selection: ExportSelection;
  readonly checkpoint: { readonly size: number; readonly rootHash: string };
  /** SHA-256 of every byte of the file before the statement line, and what those bytes hold. */
  readonly content: { readonly sha256: string; readonly records: number; readonly units: number; readonly events: number };
  /** CycloneDX SBOMs of the releases involved, by digest, where one was registered. */
  readonly sboms: readonly { readonly releaseId: string; readonly sha256: string; readonly mediaType: 'application/vnd.cyclonedx+json' }[];
  /** v3: the offline verifier page written next to the export, by SHA-256; null when the ledger had none. */
  readonly verifierPage?: { readonly name: typeof VERIFIER_PAGE_FILE_NAME; readonly sha256: string } | null;
}

export interface InTotoStatement {
  readonly _type: typeof IN_TOTO_STATEMENT_TYPE;
  readonly subject: readonly { readonly name: string; readonly digest: { readonly sha256: string } }[];
  readonly predicateType: typeof EXPORT_PREDICATE_TYPE_V1 | typeof EXPORT_PREDICATE_TYPE_V2 | typeof EXPORT_PREDICATE_TYPE_V3 | typeof EXPORT_PREDICATE_TYPE_V4 | typeof EXPORT_PREDICATE_TYPE_V5;
  readonly predicate: ExportPredicate;
}
