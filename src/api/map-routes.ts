/**
 * The unit history map's routes (docs/format.md §15), mounted under /v1 (authenticated there):
 *   GET /unit-map/key                 the index log's verifier key
 *   GET /unit-map/checkpoint          the newest index log checkpoint, with the witnesses' cosignatures
 *   GET /unit-map/commitments/{size}  the commitment of the map as of a ledger checkpoint size, and its inclusion proof
 *   GET /unit-map/units/{serial}      a unit's completeness evidence (the `history` member of provenance v3)
 *   GET /unit-map/firmware/{sha256}   the serials carrying a firmware digest now and formerly, proved complete (§15.6)
 */
import { Hono, type Context } from 'hono';
import { requireRole, validQuery, type AppEnv } from './middleware.ts';
import { problem } from './problem.ts';
import { Identifier } from '../../schemas/common.ts';
import { toBase64 } from '../crypto/encoding.ts';
import type { EventStore } from '../store/event-store.ts';
import type { FirmwareUnitsAnswer} from './contract.ts';
import { LogEntriesQuery, UnitMapLeavesQuery, type LogEntries, type UnitMapLeaves, UnitMapQuery, type MapCommitment, type ResponseOf, type UnitMapEvidence } from './contract.ts';
import type { UnitMapIndex } from '../read/unit-map.ts';

const NO_MAP = 'this ledger keeps no unit history map';

/**
 * Asked for the newest committed size before the map committed any: transient (it commits each ledger
 * checkpoint shortly after it is signed, the first one too), so 503 with Retry-After, not a 404 for a size.
 */
function notCommittedYet(c: Context<AppEnv>): Response {
  c.header('Retry-After', '1');
  return problem(c, 'UNAVAILABLE', 'the unit history map has not committed a ledger checkpoint yet: retry in a moment');
}

export function mapRoutes(unitMap: UnitMapIndex | null, store: EventStore): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  // A map out of service throws UnitMapError: the app's onError answers 503 UNAVAILABLE with its reason (a
  // middleware here never saw it: Hono hands a handler's error to onError, and next() resolves).
  app.get('/unit-map/key', (c) => (unitMap ? c.text(unitMap.verifierKey + '\n') : problem(c, 'NOT_FOUND', NO_MAP)));
  app.get('/unit-map/checkpoint', async (c) => {
    if (!unitMap) return problem(c, 'NOT_FOUND', NO_MAP);
    const note = await unitMap.checkpoint();
    return note ? c.text(note) : problem(c, 'NOT_FOUND', 'no checkpoint was committed yet');
  });
  app.get('/unit-map/commitments/:size', async (c) => {
    const text = c.req.param('size');
    if (!unitMap) return problem(c, 'NOT_FOUND', NO_MAP);
    const size = /^(0|[1-9][0-9]{0,15})$/.test(text) ? Number(text) : NaN;
    const found = Number.isSafeInteger(size) ? await unitMap.commitment(size) : null;
    if (!found) return problem(c, 'NOT_FOUND', `no map commitment for a ledger checkpoint of size ${text}`);
    return c.json({ index: found.index, size: found.size, leaf: found.leaf, proof: found.proof.map((h) => toBase64(h)), checkpoint: found.checkpoint } satisfies ResponseOf<typeof MapCommitment>);
  });
  app.get('/unit-map/units/:serial', requireRole('auditor', 'admin'), async (c) => {
    const query = validQuery(c, UnitMapQuery);
    const parsed = Identifier.safeParse(c.req.param('serial'));
    if (!parsed.success) return problem(c, 'NOT_FOUND', 'not a serial');
    if (!unitMap) return problem(c, 'NOT_FOUND', NO_MAP);
    await unitMap.catchUp();
    const committed = unitMap.committed();
    const size = query.size ?? committed[committed.length - 1]?.size;
    if (size === undefined) return notCommittedYet(c);
    const history = await unitMap.historyEvidence(parsed.data, size);
    if (!history) return problem(c, 'NOT_FOUND', `no map commitment for a ledger checkpoint of size ${size}`);
    return c.json({ serial: parsed.data, size, history } satisfies ResponseOf<typeof UnitMapEvidence>);
  });
  app.get('/unit-map/firmware/:sha256', requireRole('auditor', 'admin'), async (c) => {
    const query = validQuery(c, UnitMapQuery);
    const sha256 = c.req.param('sha256');
    if (!/^[0-9a-f]{64}$/.test(sha256)) return problem(c, 'NOT_FOUND', 'not a SHA-256 digest (64 lowercase hex digits)');
    if (!unitMap) return problem(c, 'NOT_FOUND', NO_MAP);
    await unitMap.catchUp();
    const committed = unitMap.committed();
    const size = query.size ?? committed[committed.length - 1]?.size;
    if (size === undefined) return notCommittedYet(c);
    const found = await unitMap.firmwareEvidence(sha256, size);
    if (!found) return problem(c, 'NOT_FOUND', `no map commitment for a ledger checkpoint of size ${size}`);
    if (found.version !== 2) return problem(c, 'NOT_FOUND', `the index log commits a units-only (v1) map root for checkpoint ${size}: ask for a size committed after the switch to v2 (docs/format.md §15.3)`);
    return c.json({ format: 'flashtrail.firmware-units.v1', sha256, checkpoint: found.checkpoint, now: found.now, formerly: found.formerly, firmware: found.evidence } satisfies ResponseOf<typeof FirmwareUnitsAnswer>);
  });
  // What a monitor rebuilds the map from (docs/format.md §15.2): the log's entries in leaf order, a page at a time.
  // The cursor is opaque (the store's position of the last entry given); leaf indices follow from the count.
  app.get('/log/entries', requireRole('auditor', 'admin'), async (c) => {
    const query = validQuery(c, LogEntriesQuery);
    const events = await store.readAll({ after: query.after === undefined ? -1n : BigInt(query.after), maxCount: query.limit ?? 1000 });
    const last = events[events.length - 1];
    return c.json({ entries: events.map((e) => toBase64(e.data)), next: last ? String(last.position) : null } satisfies ResponseOf<typeof LogEntries>);
  });
  // The index log's leaves (§15.3), in index order, to rebuild it and compare with its checkpoint.
  app.get('/unit-map/leaves', requireRole('auditor', 'admin'), async (c) => {
    const query = validQuery(c, UnitMapLeavesQuery);
    if (!unitMap) return problem(c, 'NOT_FOUND', NO_MAP);
    await unitMap.catchUp();
    const from = query.from ?? 0;
    return c.json({ from, leaves: unitMap.committed().slice(from, from + (query.limit ?? 1000)).map((x) => x.leaf) } satisfies ResponseOf<typeof UnitMapLeaves>);
  });
  return app;
}
