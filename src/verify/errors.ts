/** Verification failures, each with a stable code naming what failed. */
export const VERIFY_ERROR_CODES = [
  'FORMAT_ERROR',
  'CHECKPOINT_SIGNATURE_ERROR',
  'CHECKPOINT_ORIGIN_ERROR',
  'ENVELOPE_ERROR',
  'PAYLOAD_NOT_CANONICAL',
  'SCHEMA_ERROR',
  'SIGNATURE_ERROR',
  'KEY_UNKNOWN',
  'KEY_REVOKED',
  'CHAIN_BROKEN',
  'LOG_ORDER_ERROR',
  'SUBJECT_MISMATCH',
  'INCLUSION_PROOF_ERROR',
  'CONSISTENCY_PROOF_ERROR',
  'STATEMENT_SIGNATURE_ERROR',
  'CONTENT_DIGEST_ERROR',
] as const;

export type VerifyErrorCode = (typeof VERIFY_ERROR_CODES)[number];

export interface FailureLocation {
  readonly entry?: number;
  readonly leafIndex?: number;
  readonly eventId?: string;
  readonly eventType?: string;
  readonly stream?: string;
  readonly serial?: string;
  /** 1-based line of an export file. */
  readonly line?: number;
}

export class VerificationError extends Error {
  override readonly name = 'VerificationError';
  constructor(
    readonly code: VerifyErrorCode,
    readonly step: string,
    message: string,
    readonly location: FailureLocation = {},
  ) {
    super(message);
  }
}
