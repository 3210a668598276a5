/**
 * The signed traceability export, format flashtrail.export.v1: one NDJSON file, written and verified as a
 * stream. Every line is one record; the last is an in-toto Statement v1 in a DSSE envelope signed by the
 * ledger key, which commits to every byte before it by SHA-256. JSON Schema: schemas/json/export-*.
 *
 *   {"record":"header", "format":"flashtrail.export.v1", "origin", "createdAt", "selection"}
 *   {"record":"checkpoint", "note"}                 the C2SP checkpoint every proof below is against
 *   {"record":"trust", "leafIndex", "envelope", "proof"}     AdminKeysTrusted, signed by the ledger key
 *   {"record":"station", "leafIndex", "envelope", "proof"}   station registrations and key lifecycles
 *   {"record":"unit", "serial", "chipId", "mac", "batchId", "releaseId", "events": [{"leafIndex", "envelope", "proof"}]}
 *   {"record":"statement", "envelope"}              DSSE(application/vnd.in-toto+json, Statement)
 *
 * `proof` is the RFC 6962 inclusion proof of the envelope's leaf, as base64 hashes.
 */
import type { DsseEnvelope } from '../crypto/dsse.ts';

export const EXPORT_FORMAT = 'flashtrail.export.v1';
export const IN_TOTO_STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
export const EXPORT_PREDICATE_TYPE = 'https://flashtrail.dev/attestation/traceability-export/v1';

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

export type ExportRecord =
  | { record: 'header'; format: typeof EXPORT_FORMAT; origin: string; createdAt: string; selection: ExportSelection }
  | { record: 'checkpoint'; note: string }
  | ({ record: 'trust' } & LoggedEnvelope)
  | ({ record: 'station' } & LoggedEnvelope)
  | {
      record: 'unit';
      serial: string;
      chipId: string | null;
      mac: string | null;
      batchId: string | null;
      releaseId: string | null;
      events: LoggedEnvelope[];
    }
  | { record: 'statement'; envelope: DsseEnvelope };

export interface ExportPredicate {
  readonly format: typeof EXPORT_FORMAT;
  readonly origin: string;
  readonly createdAt: string;
  readonly selection: ExportSelection;
  readonly checkpoint: { readonly size: number; readonly rootHash: string };
  /** SHA-256 of every byte of the file before the statement line, and what those bytes hold. */
  readonly content: { readonly sha256: string; readonly records: number; readonly units: number; readonly events: number };
  /** CycloneDX SBOMs of the releases involved, by digest, where one was registered. */
  readonly sboms: readonly { readonly releaseId: string; readonly sha256: string; readonly mediaType: 'application/vnd.cyclonedx+json' }[];
}

export interface InTotoStatement {
  readonly _type: typeof IN_TOTO_STATEMENT_TYPE;
  readonly subject: readonly { readonly name: string; readonly digest: { readonly sha256: string } }[];
  readonly predicateType: typeof EXPORT_PREDICATE_TYPE;
  readonly predicate: ExportPredicate;
}
