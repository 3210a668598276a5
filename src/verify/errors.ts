/**
 * Verification failures, each with a stable code naming what failed (docs/format.md §9 lists when each is
 * raised). The codes are part of the format: third-party verifiers report the same ones, so never rename one.
 */
export const VERIFY_ERROR_CODES = [
  'FORMAT_ERROR',
  'RECORD_NOT_CANONICAL',
  'LEDGER_KEY_ERROR',
  'CHECKPOINT_SIGNATURE_ERROR',
  'CHECKPOINT_ORIGIN_ERROR',
  'CHECKPOINT_PQ_SIGNATURE_ERROR',
  'ENVELOPE_ERROR',
  'PAYLOAD_NOT_CANONICAL',
  'SCHEMA_ERROR',
  'SIGNATURE_ERROR',
  'KEY_UNKNOWN',
  'KEY_REVOKED',
  'CHAIN_BROKEN',
  'LOG_ORDER_ERROR',
  'DUPLICATE_ENTRY',
  'SUBJECT_MISMATCH',
  'SUMMARY_MISMATCH',
  'SELECTION_MISMATCH',
  'INCLUSION_PROOF_ERROR',
  'CONSISTENCY_PROOF_ERROR',
  'STATEMENT_SIGNATURE_ERROR',
  'PREDICATE_MISMATCH',
  'CONTENT_DIGEST_ERROR',
  'WITNESS_QUORUM_NOT_MET',
  'HISTORY_INCOMPLETE',
  'FIRMWARE_UNITS_INCOMPLETE',
  'EXPORT_INCOMPLETE',
  'CHECKPOINT_STALE',
  'STATEMENT_PQ_SIGNATURE_ERROR',
  'VERIFIER_PAGE_MISMATCH',
  'RENEWAL_SUBJECT_MISMATCH',
  'LOG_ROOT_MISMATCH',
] as const;

export type VerifyErrorCode = (typeof VERIFY_ERROR_CODES)[number];

export interface FailureLocation {
  /** The file that was being read, when the caller knows it. */
  readonly file?: string;
  /** 1-based line of an export file. */
  readonly line?: number;
  /** Position of an entry in its document (provenance entries, or events of one unit record), 0-based. */
  readonly entry?: number;
  /** JSON path of the offending member inside the record or document, e.g. `events[2].proof[3]`. */
  readonly field?: string;
  readonly leafIndex?: number;
  readonly eventId?: string;
  readonly eventType?: string;
  readonly stream?: string;
  readonly serial?: string;
}

export class VerificationError extends Error {
  override readonly name = 'VerificationError';
  constructor(
    readonly code: VerifyErrorCode,
    readonly step: string,
    message: string,
    readonly location: FailureLocation = {},
    /** What a third party needs to see the failure for itself: for a fork, both signed checkpoints. */
    readonly evidence?: Readonly<Record<string, string>>,
  ) {
    super(message);
  }

  /** The same failure, placed in a wider context (a line, a unit, a file) by the caller that knows it. */
  within(prefix: string, location: FailureLocation): VerificationError {
    return new VerificationError(this.code, this.step, `${prefix}: ${this.message}`, { ...location, ...this.location, ...definedOnly(location, this.location) });
  }

  toJSON(): { code: VerifyErrorCode; step: string; message: string; location: FailureLocation; evidence?: Readonly<Record<string, string>> } {
    return { code: this.code, step: this.step, message: this.message, location: this.location, ...(this.evidence ? { evidence: this.evidence } : {}) };
  }
}

/** Outer context wins for `file` and `line` (the inner step cannot know them); inner wins for the rest. */
function definedOnly(outer: FailureLocation, inner: FailureLocation): FailureLocation {
  return {
    ...(outer.file !== undefined ? { file: outer.file } : {}),
    ...(outer.line !== undefined ? { line: outer.line } : {}),
    ...(inner.field !== undefined && outer.field !== undefined ? { field: `${outer.field}.${inner.field}` } : {}),
  };
}
