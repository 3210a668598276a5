/**
 * Every refusal the ledger can give, with a stable code. The codes are part of the public API: clients
 * branch on them, so never rename one. How a code travels over HTTP (status, title) is the API's business:
 * src/api/problem.ts.
 */
export const LEDGER_ERROR_CODES = [
  'BODY_INVALID',
  /** A query parameter the route does not take, one given twice, or a value it cannot use. */
  'QUERY_INVALID',
  'ENVELOPE_INVALID',
  'PAYLOAD_NOT_CANONICAL',
  'SCHEMA_INVALID',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'KEY_UNKNOWN',
  'KEY_REVOKED',
  'SIGNATURE_INVALID',
  'NOT_FOUND',
  'EVENT_ID_CONFLICT',
  'CHAIN_MISMATCH',
  'RULE_VIOLATION',
  'CONCURRENCY_CONFLICT',
  'PAYLOAD_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'CHECKPOINT_REFUSED',
  /** An SBOM is not one the ledger accepts (format, version, official schema), or an SbomAttached event does not say what its stored SBOM says. */
  'SBOM_INVALID',
  'INTERNAL',
  /** Another instance must act first (the elected log writer, for a checkpoint) and did not in time. */
  'UNAVAILABLE',
] as const;

export type LedgerErrorCode = (typeof LEDGER_ERROR_CODES)[number];

export class LedgerError extends Error {
  override readonly name = 'LedgerError';
  constructor(
    readonly code: LedgerErrorCode,
    message: string,
    /** Evidence for the caller: index of the failing event, rule, current state, stream, … */
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}
