/** RFC 9457 problem details, with a stable `code` member that clients can branch on. */
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { LedgerErrorCode } from '../write/errors.ts';
import type { AppEnv } from './middleware.ts';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** The HTTP status of each ledger error code. Part of the API, like the codes: never change one. */
export const HTTP_STATUS: Record<LedgerErrorCode, ContentfulStatusCode> = {
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
};

export const PROBLEM_TITLES: Readonly<Record<LedgerErrorCode, string>> = {
  BODY_INVALID: 'Request body is not valid JSON',
  QUERY_INVALID: 'Query parameters are not those of this route',
  ENVELOPE_INVALID: 'Not a valid DSSE envelope',
  PAYLOAD_NOT_CANONICAL: 'Payload is not RFC 8785 canonical JSON',
  SCHEMA_INVALID: 'Event does not match its schema',
  UNAUTHORIZED: 'Missing or unknown bearer token',
  FORBIDDEN: 'Not allowed for this token',
  KEY_UNKNOWN: 'Signing key is not registered',
  KEY_REVOKED: 'Signing key is revoked',
  SIGNATURE_INVALID: 'Signature does not verify',
  NOT_FOUND: 'Not found',
  EVENT_ID_CONFLICT: 'Event id already used for different content',
  CHAIN_MISMATCH: 'Event does not extend the head of its stream',
  RULE_VIOLATION: 'Event violates a ledger rule',
  CONCURRENCY_CONFLICT: 'Stream changed concurrently',
  PAYLOAD_TOO_LARGE: 'Request too large',
  UNSUPPORTED_MEDIA_TYPE: 'Unsupported media type',
  CHECKPOINT_REFUSED: 'The ledger refuses to sign a checkpoint that contradicts one it signed',
  SBOM_INVALID: 'SBOM not accepted',
  INTERNAL: 'Internal error',
  UNAVAILABLE: 'Temporarily unavailable',
};

export function problem(c: Context, code: LedgerErrorCode, detail: string, extra: Record<string, unknown> = {}): Response {
  const status = HTTP_STATUS[code];
  (c as Context<AppEnv>).set('problemCode', code);
  const body = {
    type: `urn:flashtrail:problem:${code.toLowerCase().replaceAll('_', '-')}`,
    title: PROBLEM_TITLES[code],
    status,
    detail,
    instance: c.req.path,
    code,
    requestId: c.get('requestId') as string | undefined,
    ...jsonSafe(extra),
  };
  return c.body(JSON.stringify(body), status, { 'content-type': PROBLEM_CONTENT_TYPE });
}

/** bigint is not JSON: positions and revisions travel as decimal strings in problem documents. */
function jsonSafe(value: Record<string, unknown>): Record<string, unknown> {
  return JSON.parse(JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))) as Record<string, unknown>;
}
