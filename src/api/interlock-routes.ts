/**
 * The interlock over HTTP, for a MES without CFX: may this unit proceed? The same verdict as the CFX
 * ValidateUnitsResponse (projections/readiness.ts, from the read model caught up with the log), with the same
 * FailureCode numbers, so rules written for one path hold for the other.
 *
 *   GET  /v1/units/:serial/readiness      one unit
 *   POST /v1/interlock/validate           {"units": ["SN-1", …]} (1 to 1000), e.g. every unit of a carrier
 *
 * A unit the ledger has never seen is an answer (ready false, UNIT_UNKNOWN), not a 404: the MES asks before
 * it lets a unit go on, and "no history" is a reason to stop it. Only a malformed request is a problem
 * document (SCHEMA_INVALID, BODY_INVALID, UNSUPPORTED_MEDIA_TYPE, PAYLOAD_TOO_LARGE).
 */
import { Hono, type MiddlewareHandler } from 'hono';
import type { Readiness } from '../../projections/readiness.ts';
import { Serial } from '../../schemas/common.ts';
import { READINESS_FAILURE_CODES } from '../cfx/interlock.ts';
import type { ReadinessSource } from '../plant/readiness.ts';
import { bodyText, requireRole, type AppEnv } from './middleware.ts';
import { problem } from './problem.ts';
import type { UnitVerdict, ValidateUnitsResult} from './contract.ts';
import { ValidateUnitsBody, type ResponseOf } from './contract.ts';

export { MAX_UNITS_PER_VALIDATION } from './contract.ts';

/** A verdict as served: the readiness, and the CFX FailureCode of its first reason (0: ready). */
function verdict(r: Readiness): ResponseOf<typeof UnitVerdict> {
  return { serial: r.serial, ready: r.ready, failureCode: r.ready ? 0 : READINESS_FAILURE_CODES[(r.reasons[0] as Readiness['reasons'][number]).code], reasons: r.reasons };
}

export function interlockRoutes(readiness: ReadinessSource, limitBody: MiddlewareHandler<AppEnv>): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  // A station asks too, before it packs; the MES uses an auditor token.
  const allowed = requireRole('auditor', 'admin', 'station');

  r.get('/units/:serial/readiness', allowed, async (c) => {
    const serial = Serial.safeParse(c.req.param('serial'));
    if (!serial.success) return problem(c, 'SCHEMA_INVALID', `serial: ${serial.error.issues[0]?.message ?? 'not a serial number'}`);
    c.header('Cache-Control', 'no-store');
    return c.json(verdict(await readiness(serial.data)));
  });

  r.post('/interlock/validate', allowed, limitBody, async (c) => {
    if (!/^application\/json\b/i.test(c.req.header('content-type') ?? '')) return problem(c, 'UNSUPPORTED_MEDIA_TYPE', 'send Content-Type: application/json');
    let body: unknown;
    try {
      body = JSON.parse(bodyText(c));
    } catch {
      return problem(c, 'BODY_INVALID', 'the body is not JSON');
    }
    const parsed = ValidateUnitsBody.safeParse(body);
    if (!parsed.success) {
      return problem(c, 'SCHEMA_INVALID', parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ').slice(0, 2000));
    }
    const units = [];
    for (const serial of parsed.data.units) units.push(verdict(await readiness(serial)));
    c.header('Cache-Control', 'no-store');
    return c.json({ ready: units.every((u) => u.ready), units } satisfies ResponseOf<typeof ValidateUnitsResult>);
  });
  return r;
}
