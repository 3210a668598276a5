/**
 * The ledger as the MES's interlock: CFX.InformationSystem.UnitValidation.ValidateUnitsRequest in, a
 * ValidateUnitsResponse out, as the SDK's request processor answers (Source = our handle, Target = the
 * requester, RequestID echoed). The verdict per unit is projections/readiness.ts; this module only reads the
 * request and words the answer. Whatever validations the request lists, the answer is the ledger's one
 * check: complete, verified, the approved release's firmware, locked, not scrapped.
 */
import type { Readiness, ReadinessCode } from '../../projections/readiness.ts';
import { cfxDateTime } from './json.ts';
import {
  CFX_VERSION,
  IncomingEnvelope,
  typeName,
  ValidateUnitsRequest,
  type CfxEnvelope,
  type ValidateUnitsRequestBody,
} from './schema.ts';
import { cfxUuid } from './uuid.ts';
import type { z } from 'zod';

export const VALIDATE_UNITS_REQUEST = 'CFX.InformationSystem.UnitValidation.ValidateUnitsRequest';

/** ValidationResult.FailureCode per reason (0 = passed). Stable: MES rules are written against these numbers. */
export const READINESS_FAILURE_CODES: Readonly<Record<ReadinessCode, number>> = {
  UNIT_UNKNOWN: 1,
  UNIT_SCRAPPED: 2,
  NOT_VERIFIED: 3,
  HISTORY_INCOMPLETE: 4,
  DRIFTED: 5,
  NOT_LOCKED: 6,
  RELEASE_UNKNOWN: 7,
};

export type IncomingRequest = z.infer<typeof IncomingEnvelope>;

export type ReadRequest =
  | { readonly kind: 'validate'; readonly envelope: IncomingRequest; readonly body: ValidateUnitsRequestBody; readonly units: readonly { id: string; position: number }[] }
  | { readonly kind: 'unsupported'; readonly envelope: IncomingRequest }
  | { readonly kind: 'invalid'; readonly envelope: IncomingRequest | null; readonly problem: string };

const problemOf = (error: z.ZodError, root: string) =>
  error.issues.map((i) => `${[root, ...i.path.map(String)].join('.')}: ${i.message}`).join('; ');

/** Reads a request envelope's JSON: which units to validate, or what is wrong with it (one line). */
export function readRequest(json: string): ReadRequest {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    return { kind: 'invalid', envelope: null, problem: 'the message body is not JSON' };
  }
  const envelope = IncomingEnvelope.safeParse(parsed);
  if (!envelope.success) return { kind: 'invalid', envelope: null, problem: problemOf(envelope.error, 'envelope') };
  if (envelope.data.MessageName !== VALIDATE_UNITS_REQUEST) return { kind: 'unsupported', envelope: envelope.data };
  const body = ValidateUnitsRequest.safeParse(envelope.data.MessageBody);
  if (!body.success) return { kind: 'invalid', envelope: envelope.data, problem: problemOf(body.error, 'MessageBody') };
  const units = (body.data.Units ?? [])
    .map((u, i) => ({ id: u.UnitIdentifier ?? '', position: u.PositionNumber ?? i + 1 }))
    .filter((u) => u.id !== '');
  if (units.length === 0 && body.data.PrimaryIdentifier) units.push({ id: body.data.PrimaryIdentifier, position: 0 });
  if (units.length === 0) return { kind: 'invalid', envelope: envelope.data, problem: 'MessageBody: neither Units nor PrimaryIdentifier names a unit' };
  return { kind: 'validate', envelope: envelope.data, body: body.data, units };
}

interface ResponseOptions {
  readonly handle: string;
  /** The time of the answer (RFC 3339 UTC). */
  readonly now: string;
}

function answerEnvelope<N extends 'CFX.InformationSystem.UnitValidation.ValidateUnitsResponse' | 'CFX.NotSupportedResponse'>(
  name: N,
  request: IncomingRequest | null,
  options: ResponseOptions,
  body: CfxEnvelope<N>['MessageBody'],
): CfxEnvelope<N> {
  // Deterministic for a redelivered request (same UniqueID), so the MES can drop a duplicate answer too.
  const basis = request?.UniqueID ?? request?.RequestID ?? options.now;
  return {
    MessageName: name,
    Version: CFX_VERSION,
    TimeStamp: cfxDateTime(options.now),
    UniqueID: cfxUuid(`response/${basis}/${name}`),
    Source: options.handle,
    Target: request?.Source ?? null,
    RequestID: request?.RequestID ?? null,
    MessageBody: body,
  };
}

const describe = (r: Readiness) => (r.ready ? 'OK' : r.reasons.map((x) => `${x.code}: ${x.message}`).join('; ')).slice(0, 4096);
const failureCode = (r: Readiness) => (r.ready ? 0 : READINESS_FAILURE_CODES[(r.reasons[0] as { code: ReadinessCode }).code]);

/** The answer to a ValidateUnitsRequest, given each unit's readiness (in the request's order). */
export function validateUnitsResponse(
  request: Extract<ReadRequest, { kind: 'validate' }>,
  verdicts: readonly Readiness[],
  options: ResponseOptions,
): CfxEnvelope<'CFX.InformationSystem.UnitValidation.ValidateUnitsResponse'> {
  const results = request.units.map((u, i) => {
    const r = verdicts[i] as Readiness;
    return { UniqueIdentifier: u.id, PositionNumber: u.position, Result: r.ready ? ('Passed' as const) : ('Failed' as const), FailureCode: failureCode(r), Message: describe(r) };
  });
  const failed = verdicts.find((v) => !v.ready);
  const primaryId = request.body.PrimaryIdentifier ?? request.units[0]?.id ?? null;
  const listed = request.units.length > 1 || request.units[0]?.position !== 0;
  return answerEnvelope('CFX.InformationSystem.UnitValidation.ValidateUnitsResponse', request.envelope, options, {
    $type: typeName('CFX.InformationSystem.UnitValidation.ValidateUnitsResponse'),
    Result: { Result: 'Success', ResultCode: 0, Message: null },
    PrimaryResult: {
      UniqueIdentifier: primaryId,
      PositionNumber: 0,
      Result: failed ? 'Failed' : 'Passed',
      FailureCode: failed ? failureCode(failed) : 0,
      Message: failed ? (verdicts.length > 1 ? `${failed.serial}: ${describe(failed)}` : describe(failed)) : 'OK',
    },
    ValidationResults: listed ? results : [],
  });
}

/** A ValidateUnitsRequest the ledger cannot read: answered Failed, with what is wrong. */
export function invalidRequestResponse(request: IncomingRequest | null, problem: string, options: ResponseOptions) {
  return answerEnvelope('CFX.InformationSystem.UnitValidation.ValidateUnitsResponse', request, options, {
    $type: typeName('CFX.InformationSystem.UnitValidation.ValidateUnitsResponse'),
    Result: { Result: 'Failed', ResultCode: 400, Message: problem.slice(0, 4096) },
    PrimaryResult: { UniqueIdentifier: null, PositionNumber: 0, Result: 'Failed', FailureCode: 0, Message: problem.slice(0, 4096) },
    ValidationResults: [],
  });
}

/** Any other request: the SDK's NotSupportedResponse. */
export function notSupportedResponse(request: IncomingRequest, options: ResponseOptions) {
  return answerEnvelope('CFX.NotSupportedResponse', request, options, {
    $type: typeName('CFX.NotSupportedResponse'),
    RequestResult: { Result: 'Failed', ResultCode: 0, Message: `${request.MessageName.slice(0, 200)} is not implemented by this endpoint; it answers ${VALIDATE_UNITS_REQUEST}` },
  });
}
