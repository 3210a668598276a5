/**
 * Why a receipt or a transparent statement was refused: a stable code and one line naming the part that
 * failed. The codes are listed in docs/format.md §13.6; the verifiers in src/verify report them unchanged.
 */
export type ScittErrorCode =
  /** Not the COSE structure of RFC 9052/9942 as flashtrail issues it (tag, array, headers, sizes). */
  | 'RECEIPT_FORMAT_ERROR'
  /** Signed with another key or algorithm than the pinned ledger key. */
  | 'RECEIPT_KEY_UNKNOWN'
  /** The inclusion proof does not fit its tree size and leaf index, or does not prove the entry. */
  | 'RECEIPT_PROOF_ERROR'
  /** The signature over the root the proof yields does not verify. */
  | 'RECEIPT_SIGNATURE_ERROR'
  /** Not a Signed Statement as flashtrail issues it. */
  | 'STATEMENT_FORMAT_ERROR'
  /** The issuer's signature over the statement does not verify, or the key is not the pinned one. */
  | 'STATEMENT_SIGNATURE_ERROR'
  /** The logged entry does not register this statement (another statement, subject or event). */
  | 'STATEMENT_NOT_REGISTERED';

export class ScittError extends Error {
  override readonly name = 'ScittError';
  constructor(
    readonly code: ScittErrorCode,
    message: string,
  ) {
    super(message);
  }
}
