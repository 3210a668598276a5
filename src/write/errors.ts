/**
 * Every refusal the ledger can give, with a stable code and the HTTP status it maps to.
 * The codes are part of the public API: clients branch on them, so never rename one.
 */
export const LEDGER_ERRORS = {
  BODY_INVALID: 400,
  ENVELOPE_INVALID: 400,
  PAYLOAD_NOT_CANONICAL: 400,
  SCHEMA_INVALID: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  KEY_UNKNOWN: 403,
  KEY_REVOKED: 403,
  SIGNATURE_INVALID: 403,
  NOT_FOUND: 404,
  EVENT_ID_CONFLICT: 409,
  CHAIN_MISMATCH: 409,
  RULE_VIOLATION: 409,
  CONCURRENCY_CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  INTERNAL: 500,
} as const;

export type LedgerErrorCode = keyof typeof LEDGER_ERRORS;

export class LedgerError extends Error {
  override readonly name = 'LedgerError';
  readonly status: number;
  constructor(
    readonly code: LedgerErrorCode,
    message: string,
    /** Extra members for the problem document (index of the failing event, rule, current state, …). */
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.status = LEDGER_ERRORS[code];
  }
}
