/**
 * Production views: drift, scrap and yield, and the CRA affected-units query. Everything is answered from
 * projection indexes, never by scanning the log.
 */
import { Hono, type Context } from 'hono';
import { stream } from 'hono/streaming';
import type { ReadModel } from '../read/read-model.ts';
import type { ProductionDoc, UnitFacts, BatchDoc, ReleaseDoc } from '../../projections/production.ts';
import { driftReport } from '../../projections/drift.ts';
import { yieldBy, yieldFigures } from '../../projections/yield.ts';
import { csvRecord } from '../../projections/csv.ts';
import type { UnitView } from '../../projections/unit-state.ts';
import { Identifier } from '../../schemas/common.ts';
import { LedgerError } from '../write/errors.ts';
import { requireRole, validQuery, type AppEnv } from './middleware.ts';
import { DriftQuery, FirmwareUnitsQuery, ScrapQuery } from './contract.ts';
import { problem } from './problem.ts';

const P = 'production';

function identifier(value: string | undefined, what: string): string {
  const parsed = Identifier.safeParse(value);
  if (!parsed.success) throw new LedgerError('NOT_FOUND', `${what} ${value ?? ''} is not a valid identifier`);
  return parsed.data;
}

/** A time the query schema accepted, in the one form the indexes use. */
function isoTime(value: string | undefined): string | undefined {
  return value === undefined ? undefined : new Date(value).toISOString();
}

export function productionRoutes(projections: ReadModel): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  r.use('*', requireRole('auditor', 'admin'));

  const batchUnits = async (c: Context<AppEnv>) => {
    const batchId = identifier(c.req.param('id'), 'batch');
    await projections.catchUp();
    const batch = projections.get<BatchDoc>(P, `batch:${batchId}`);
    if (!batch) throw new LedgerError('NOT_FOUND', `batch ${batchId} does not exist`);
    const release = projections.get<ReleaseDoc>(P, `release:${batch.releaseId}`);
    return { batch, release, units: projections.findDocs<UnitFacts>(P, 'batch', batchId) };
  };

  r.get('/batches/:id/drift', async (c) => {
    const { batch, release, units } = await batchUnits(c);
    return c.json({ batchId: batch.batchId, releaseId: batch.releaseId, expected: release?.expected ?? null, ...driftReport(units) });
  });

  r.get('/batches/:id/scrap', async (c) => {
    const { batch, units } = await batchUnits(c);
    return c.json({
      batchId: batch.batchId,
      line: batch.line,
      plannedQuantity: batch.plannedQuantity,
      ...yieldFigures(units),
      byStation: yieldBy(units, 'station'),
      byDay: yieldBy(units, 'day'),
    });
  });

  r.get('/drift', async (c) => {
    const query = validQuery(c, DriftQuery);
    const since = isoTime(query.since) ?? '0000';
    const until = isoTime(query.until) ?? '9999';
    await projections.catchUp();
    const seen = new Set<string>();
    const units = projections.rangeDocs<UnitFacts>(P, 'drift-at', since, until).filter((u) => !seen.has(u.serial) && seen.add(u.serial));
    const byBatch = new Map<string, number>();
    for (const u of units) byBatch.set(u.batchId ?? '(none)', (byBatch.get(u.batchId ?? '(none)') ?? 0) + 1);
    return c.json({
      since: since === '0000' ? null : since,
      until: until === '9999' ? null : until,
      drifted: units.length,
      batches: [...byBatch.entries()].map(([batchId, drifted]) => ({ batchId, drifted })),
      units: units.map((u) => ({ serial: u.serial, batchId: u.batchId, deviations: u.deviations.filter((d) => d.at >= since && d.at <= until) })),
    });
  });

  r.get('/scrap', async (c) => {
    const { line, station, from, to } = validQuery(c, ScrapQuery);
    await projections.catchUp();
    // Start from the most selective index, then filter by the rest.
    let units: UnitFacts[];
    if (station !== undefined) units = projections.findDocs<UnitFacts>(P, 'station', station);
    else if (line !== undefined) units = projections.findDocs<UnitFacts>(P, 'line', line);
    else units = projections.rangeDocs<ProductionDoc>(P, 'day', from ?? '0000', to ?? '9999').filter((d): d is UnitFacts => d.kind === 'unit');
    units = units.filter((u) => (line === undefined || u.line === line) && (from === undefined || u.day >= from) && (to === undefined || u.day <= to));
    return c.json({
      filter: { line: line ?? null, station: station ?? null, from: from ?? null, to: to ?? null },
      ...yieldFigures(units),
      byBatch: yieldBy(units, 'batch'),
      byLine: yieldBy(units, 'line'),
      byStation: yieldBy(units, 'station'),
      byDay: yieldBy(units, 'day'),
    });
  });

  r.get('/firmware/:sha256/units', async (c) => {
    const sha = c.req.param('sha256');
    if (!/^[0-9a-f]{64}$/.test(sha)) return problem(c, 'BODY_INVALID', 'the firmware hash must be 64 lowercase hex digits');
    await projections.catchUp();
    const row = (u: UnitView) => ({
      serial: u.serial,
      batchId: u.batchId,
      status: u.status,
      carries: [u.bootloader?.sha256 === sha ? 'bootloader' : null, u.application?.sha256 === sha ? 'application' : null].filter(Boolean).join('+'),
      bootloaderSha256: u.bootloader?.sha256 ?? null,
      applicationSha256: u.application?.sha256 ?? null,
      shippedAt: u.shipped?.at ?? null,
      customer: u.shipped?.customer ?? null,
      orderRef: u.shipped?.orderRef ?? null,
    });
    const accept = c.req.header('accept') ?? '';
    const pageSize = 1000;
    const pages = async function* () {
      let after: string | undefined;
      for (;;) {
        const units = projections.findDocs<UnitView>('unit-state', 'firmware', sha, { limit: pageSize, ...(after ? { after } : {}) });
        if (units.length === 0) return;
        yield units.map(row);
        after = units[units.length - 1]?.serial;
        if (units.length < pageSize) return;
      }
    };
    if (/text\/csv/.test(accept) || /application\/x-ndjson/.test(accept)) {
      const csv = /text\/csv/.test(accept);
      c.header('Content-Type', csv ? 'text/csv; charset=utf-8' : 'application/x-ndjson');
      return stream(c, async (s) => {
        if (csv) await s.write(csvRecord(['serial', 'batch_id', 'status', 'carries', 'bootloader_sha256', 'application_sha256', 'shipped_at', 'customer', 'order_ref']));
        for await (const rows of pages()) {
          await s.write(rows.map((x) => (csv ? csvRecord(Object.values(x)) : JSON.stringify(x) + '\n')).join(''));
        }
      });
    }
    const { limit = 100, after } = validQuery(c, FirmwareUnitsQuery);
    const units = projections.findDocs<UnitView>('unit-state', 'firmware', sha, { limit, ...(after ? { after } : {}) }).map(row);
    return c.json({ sha256: sha, units, next: units.length === limit ? (units[units.length - 1]?.serial ?? null) : null });
  });

  return r;
}
