/** The error codes and their HTTP statuses are API: pinned here so that a change is a deliberate one. */
import { describe, expect, it } from 'vitest';
import { LEDGER_ERROR_CODES } from '../src/write/errors.ts';
import { HTTP_STATUS } from '../src/api/problem.ts';

describe('problem statuses', () => {
  it('every ledger error code keeps its HTTP status', () => {
    expect(Object.fromEntries(LEDGER_ERROR_CODES.map((code) => [code, HTTP_STATUS[code]]))).toEqual({
      BODY_INVALID: 400,
      QUERY_INVALID: 400,
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
      CHECKPOINT_REFUSED: 503,
      SBOM_INVALID: 422,
      INTERNAL: 500,
      UNAVAILABLE: 503,
    });
    expect(Object.keys(HTTP_STATUS).sort()).toEqual([...LEDGER_ERROR_CODES].sort());
  });
});
