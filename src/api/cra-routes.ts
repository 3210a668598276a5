/**
 * The CRA answers over HTTP (issue 21): SBOM upload, the TR-03183-2 report, units carrying a component (as
 * shipped and now), notification lists per customer, the Art. 14 deadlines, the ENISA form content, and
 * VEX documents (CSAF 2.0, OpenVEX 0.2.0, CycloneDX) and notification lists signed with the ledger key.
 * Every answer comes from the component index (src/read/cra-queries.ts). Mounted under /v1 before the event
 * routes: its check runs on every submission and refuses an SbomAttached whose SBOM bytes the ledger does
 * not hold, or whose components are not those the bytes list.
 */
import { createHash } from 'node:crypto';
import { Hono, type MiddlewareHandler } from 'hono';
import type { z } from 'zod';
import type { ReadModel } from '../read/read-model.ts';
import { CraQueries, currentStatements, type CarryView, type ReleaseHit, type UnitRow } from '../read/cra-queries.ts';
import type { SbomStore } from '../files/sbom-store.ts';
import { CraError } from '../cra/errors.ts';
import { ingestSbom, MAX_SBOM_BYTES } from '../cra/sbom.ts';
import { sbomAttachment } from '../cra/index-entries.ts';
import { tr03183Report } from '../cra/tr03183.ts';
import { renderEnrichedCycloneDx } from '../cra/enrich.ts';
import { signDocument } from '../cra/sign.ts';
import { renderCsafVex, renderCycloneDxVex, renderOpenVex, VEX_STATUSES, type Assessment, type VexContext, type VexStatus } from '../cra/vex.ts';
import { enisaDocument } from '../cra/enisa.ts';
import { REPORT_STAGES, type ReportStage } from '../cra/art14.ts';
import type { ComponentSelector } from '../cra/match.ts';
import { csvRecord } from '../../projections/csv.ts';
import type { VulnerabilityDoc } from '../../projections/components.ts';
import { signEnvelope } from '../crypto/dsse.ts';
import { canonicalBytes } from '../crypto/jcs.ts';
import { fromBase64 } from '../crypto/encoding.ts';
import type { Signer } from '../crypto/ed25519.ts';
import { Identifier } from '../../schemas/common.ts';
import { VulnerabilityId } from '../../schemas/admin-events.ts';
import { LedgerError } from '../write/errors.ts';
import type { NotificationRecorder, ProducedList } from '../evidence/notification-record.ts';
import { bodyText, boundedBody, requireRole, validQuery, type AppEnv } from './middleware.ts';
import { CraUnitsQuery, EnisaQuery, EnrichedSbomQuery, NOTIFICATION_LIST_PAYLOAD_TYPE, NotificationListQuery, VexQuery, type ResponseOf } from './contract.ts';
import type { CraDeadlines, CraRelease, CraReleases, CraUnitsPage, CraVulnerabilities, CraVulnerability, EnisaReport, NotificationList, SbomStored, Tr03183 } from './contract.ts';

export { NOTIFICATION_LIST_PAYLOAD_TYPE } from './contract.ts';

export interface CraDeps {
  readonly projections: ReadModel;
  /** Records each notification list produced as a ledger event; absent: lists are not recorded (tests of the queries alone). */
  readonly notifications?: NotificationRecorder;
  readonly sboms: SbomStore;
  /** The ledger key in force now (Checkpointer.recordKey): on a shared log mid-rotation, not necessarily this process's own. */
  readonly signingKey: () => Promise<Signer>;
  readonly origin: string;
  readonly clock?: () => Date;
}

const same = (a: unknown, b: unknown) => JSON.stringify(canonicalBytes(a)) === JSON.stringify(canonicalBytes(b));

/** A CraError is the caller's mistake: one line naming what and where, with the library's code. */
function craProblem(error: CraError, code: 'BODY_INVALID' | 'SBOM_INVALID' = 'BODY_INVALID'): LedgerError {
  return new LedgerError(code, error.message, { craCode: error.code, ...(error.where !== undefined ? { where: error.where } : {}) });
}

/** The SbomAttached data a submission carries, decoded leniently: anything else is the pipeline's to judge. */
function sbomAttachments(body: unknown): { index: number; data: Record<string, unknown> }[] {
  const inputs = Array.isArray(body) ? body : body !== null && typeof body === 'object' && Array.isArray((body as { events?: unknown }).events) ? (body as { events: unknown[] }).events : [body];
  const out: { index: number; data: Record<string, unknown> }[] = [];
  inputs.forEach((input, index) => {
    const payload = (input as { payload?: unknown } | null)?.payload;
    if (typeof payload !== 'string') return;
    try {
      const event = JSON.parse(new TextDecoder().decode(fromBase64(payload))) as { type?: unknown; data?: unknown };
      if (event.type === 'SbomAttached' && event.data !== null && typeof event.data === 'object') out.push({ index, data: event.data as Record<string, unknown> });
    } catch {
      // not decodable: the pipeline refuses it with its own code
    }
  });
  return out;
}

/**
 * The evidence rule of SbomAttached, for the event routes (after their body limit): the ledger holds the
 * SBOM's bytes, and the event says what they say. Without an SBOM store every SbomAttached is refused.
 */
export function checkSbomEvidence(sboms: SbomStore | undefined): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    // Only an administrator may submit an SbomAttached (the pipeline refuses it from anyone else): the
    // stations' appends, the hot path, are not read twice.
    if (c.get('principal').role !== 'admin') return next();
    let body: unknown;
    try {
      body = JSON.parse(bodyText(c));
    } catch {
      return next();
    }
    for (const { index, data } of sbomAttachments(body)) {
      const sha256 = typeof data['sha256'] === 'string' && /^[0-9a-f]{64}$/.test(data['sha256']) ? data['sha256'] : null;
      if (sha256 === null) continue; // the schema names it
      const bytes = sboms?.get(sha256) ?? null;
      if (bytes === null) throw new LedgerError('SBOM_INVALID', `event ${index}: SbomAttached names SBOM ${sha256}, which the ledger does not hold; upload it first (POST /v1/cra/sboms, or flashtrail sbom attach)`, { index, sha256 });
      let expected;
      try {
        expected = sbomAttachment(String(data['releaseId']), ingestSbom(bytes), bytes.length);
      } catch (error) {
        if (error instanceof CraError) throw craProblem(error, 'SBOM_INVALID');
        throw error;
      }
      if (!same(expected, data)) {
        const field = (Object.keys(expected) as (keyof typeof expected)[]).find((k) => !same(expected[k], data[k])) ?? 'data';
        throw new LedgerError('SBOM_INVALID', `event ${index}: SbomAttached.${field} is not what SBOM ${sha256} says; build the event from the file (flashtrail sbom attach)`, { index, sha256, field });
      }
    }
    return next();
  };
}

/** Base64 of the largest SBOM the library reads, and the JSON around it. */
const MAX_UPLOAD_BYTES = Math.ceil((MAX_SBOM_BYTES * 4) / 3) + 4096;

export function craRoutes(deps: CraDeps): Hono<AppEnv> {
  const { projections, sboms } = deps;
  const clock = deps.clock ?? (() => new Date());
  const queries = new CraQueries(projections, clock);
  const r = new Hono<AppEnv>();


  const limitUpload = boundedBody(MAX_UPLOAD_BYTES, () => {
    throw new LedgerError('PAYLOAD_TOO_LARGE', `an SBOM upload is limited to ${MAX_SBOM_BYTES} bytes of SBOM`);
  });
  r.post('/cra/sboms', requireRole('admin'), limitUpload, async (c) => {
    let body: { sbom?: unknown };
    try {
      body = JSON.parse(bodyText(c)) as { sbom?: unknown };
    } catch {
      throw new LedgerError('BODY_INVALID', 'the body is not JSON');
    }
    if (typeof body.sbom !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(body.sbom)) throw new LedgerError('BODY_INVALID', 'sbom must be the SBOM file, base64');
    const bytes = fromBase64(body.sbom);
    let ingested;
    try {
      ingested = ingestSbom(bytes);
    } catch (error) {
      if (error instanceof CraError) throw craProblem(error, 'SBOM_INVALID');
      throw error;
    }
    const existed = sboms.has(ingested.sha256);
    sboms.put(bytes);
    const d = ingested.document;
    return c.json({ sha256: ingested.sha256, sizeBytes: bytes.length, format: d.format, specVersion: d.specVersion, encoding: d.encoding, components: d.components.length, stored: !existed ? 'new' : 'already held' } satisfies ResponseOf<typeof SbomStored>, existed ? 200 : 201);
  });

  r.use('/cra/*', requireRole('auditor', 'admin'));

  const catchUp = async () => projections.catchUp();
  const releaseOr404 = (value: string | undefined) => {
    const id = identifier(value, 'release');
    const release = queries.release(id);
    if (!release) throw new LedgerError('NOT_FOUND', `release ${id} is not approved`);
    return release;
  };
  const sbomOf = (releaseId: string) => {
    const release = releaseOr404(releaseId);
    if (!release.sbom) throw new LedgerError('NOT_FOUND', `release ${release.releaseId} has no SBOM attached${release.sbomSha256 ? ` (its approval names ${release.sbomSha256})` : ''}`);
    const bytes = sboms.get(release.sbom.sha256);
    if (bytes === null) throw new LedgerError('INTERNAL', `SBOM ${release.sbom.sha256} of release ${release.releaseId} is missing from the data directory (sboms/): restore it from a backup`);
    return { release, bytes, ingested: ingestSbom(bytes) };
  };

  r.get('/cra/releases', async (c) => {
    await catchUp();
    return c.json({
      releases: queries.releases().map((rel) => ({ releaseId: rel.releaseId, productSku: rel.productSku, version: rel.version, approvedAt: rel.approvedAt, supportEnd: rel.supportEnd, sbom: rel.sbom, components: rel.components.length })),
    } satisfies ResponseOf<typeof CraReleases>);
  });

  r.get('/cra/releases/:id', async (c) => {
    await catchUp();
    return c.json(releaseOr404(c.req.param('id')) satisfies ResponseOf<typeof CraRelease>);
  });

  r.get('/cra/releases/:id/sbom', async (c) => {
    await catchUp();
    const { release, bytes } = sbomOf(c.req.param('id'));
    const type = release.sbom?.encoding === 'tag-value' ? 'text/spdx; charset=utf-8' : release.sbom?.format === 'CycloneDX' ? 'application/vnd.cyclonedx+json' : release.sbom?.encoding === 'json-ld' ? 'application/ld+json' : 'application/spdx+json';
    return c.body(bytes.slice().buffer, 200, { 'content-type': type, 'x-sbom-sha256': release.sbom?.sha256 ?? '' });
  });

  r.get('/cra/releases/:id/tr03183', async (c) => {
    await catchUp();
    const { release, ingested } = sbomOf(c.req.param('id'));
    return c.json({ releaseId: release.releaseId, ...tr03183Report(ingested.document, ingested.sha256) } satisfies ResponseOf<typeof Tr03183>);
  });

  r.get('/cra/releases/:id/sbom/enriched', async (c) => {
    await catchUp();
    const query = validQuery(c, EnrichedSbomQuery);
    const { release, ingested } = sbomOf(c.req.param('id'));
    const manufacturer = query.manufacturer ?? deps.origin;
    const enriched = renderEnrichedCycloneDx(ingested.document, ingested.sha256, {
      releaseId: release.releaseId,
      productName: release.productSku,
      version: release.version,
      creator: { name: manufacturer, ...(query.url ? { url: query.url } : {}), ...(query.email ? { email: query.email } : {}) },
      approvedAt: release.approvedAt,
      images: release.images.flatMap((i) => (i.sha512 ? [{ role: i.name, filename: `${i.name}.bin`, sha256: i.sha256, sha512: i.sha512, ...(i.sizeBytes ? { sizeBytes: i.sizeBytes } : {}) }] : [])),
    });
    return c.json({ envelope: signDocument('cyclonedx', enriched.document, await deps.signingKey()), report: enriched.report });
  });

  // ---- units carrying a component ---------------------------------------------------------------------

  r.get('/cra/units', async (c) => {
    const query = validQuery(c, CraUnitsQuery);
    await catchUp();
    const view = carryView(query.view);
    const { hits, unassessed, selector } = releaseHits(query);
    const format = query.format ?? 'json';
    const supportedOnly = query.supported === 'true';
    const within = monthsParam(query.supportEndsWithinMonths);
    const keep = (u: UnitRow) => (!supportedOnly || u.supported) && (within === null || (u.supportEnd !== null && u.supportEnd <= within(clock())));
    if (format === 'csv' || format === 'ndjson') {
      const body = streamedUnits(format, filtered(queries.allUnits(hits, view), keep), () => Promise.resolve());
      return c.body(body, 200, format === 'ndjson' ? { 'content-type': 'application/x-ndjson' } : { 'content-type': 'text/csv; charset=utf-8', 'content-disposition': 'attachment; filename="units.csv"' });
    }
    if (format !== 'json') throw new LedgerError('BODY_INVALID', `format must be json, csv or ndjson, not ${format}`);
    const limit = query.limit ?? 100;
    const after = query.after;
    const page = queries.units(hits, view, { ...(after ? { after } : {}), limit });
    return c.json({
      selector,
      view,
      releases: hits.map(releaseSummary),
      ...(unassessed ? { unassessedReleases: unassessed.map(releaseSummary) } : {}),
      units: page.rows.filter(keep),
      next: page.next,
    } satisfies ResponseOf<typeof CraUnitsPage>);
  });

  /** The releases a query selects: by component (purl, cpe or name, with a range) or by vulnerability id and status. */
  function releaseHits(query: z.output<typeof CraUnitsQuery>): { hits: ReleaseHit[]; unassessed?: ReleaseHit[]; selector: Readonly<Record<string, unknown>> } {
    const q = (name: 'vulnerability' | 'status' | 'range' | 'purl' | 'cpe' | 'name' | 'group') => query[name];
    const vulnerability = q('vulnerability');
    try {
      if (vulnerability !== undefined) {
        const id = vulnerabilityId(vulnerability);
        const statuses = statusesParam(q('status'));
        const found = queries.releasesFor(id, statuses);
        if (!found) throw new LedgerError('NOT_FOUND', `${id} has no assessment: record one (VulnerabilityAssessed), or query by component`);
        return { ...found, selector: { vulnerability: id, statuses } };
      }
      const range = q('range');
      const ranged = range !== undefined && range !== '' ? { range } : {};
      const selector: ComponentSelector | null =
        q('purl') !== undefined ? { kind: 'purl', purl: q('purl') as string, ...ranged } : q('cpe') !== undefined ? { kind: 'cpe', cpe: q('cpe') as string, ...ranged } : q('name') !== undefined ? { kind: 'name', name: q('name') as string, ...(q('group') ? { group: q('group') as string } : {}), ...ranged } : null;
      if (selector === null) throw new LedgerError('BODY_INVALID', 'name the component: purl=, cpe= or name= (with range=), or vulnerability= (with status=)');
      return { hits: queries.releasesCarrying([selector]), selector };
    } catch (error) {
      if (error instanceof CraError) throw craProblem(error);
      throw error;
    }
  }

  // ---- vulnerabilities --------------------------------------------------------------------------------

  const vulnerabilityOr404 = (value: string | undefined): VulnerabilityDoc => {
    const id = vulnerabilityId(value);
    const doc = queries.vulnerability(id);
    if (!doc) throw new LedgerError('NOT_FOUND', `${id} has no assessment, awareness or report recorded`);
    return doc;
  };

  r.get('/cra/vulnerabilities', async (c) => {
    await catchUp();
    return c.json({
      vulnerabilities: queries.vulnerabilities().map((v) => ({ vulnerabilityId: v.vulnerabilityId, statements: v.statements.length, awareAt: v.awareness?.awareAt ?? null, overdue: queries.deadlines(v)?.overdue ?? [] })),
    } satisfies ResponseOf<typeof CraVulnerabilities>);
  });

  r.get('/cra/vulnerabilities/:id', async (c) => {
    await catchUp();
    const doc = vulnerabilityOr404(c.req.param('id'));
    return c.json({ ...doc, notificationLists: doc.notificationLists ?? [], current: Object.fromEntries(currentStatements(doc)), deadlines: queries.deadlines(doc) } satisfies ResponseOf<typeof CraVulnerability>);
  });

  r.get('/cra/deadlines', async (c) => {
    await catchUp();
    const clocks = queries.vulnerabilities().flatMap((v) => {
      const view = queries.deadlines(v);
      return view ? [{ vulnerabilityId: v.vulnerabilityId, activelyExploited: v.awareness?.activelyExploited ?? false, ...view, notificationLists: v.notificationLists ?? [] }] : [];
    });
    return c.json({ now: clock().toISOString(), vulnerabilities: clocks, overdue: clocks.filter((v) => v.overdue.length > 0).map((v) => ({ vulnerabilityId: v.vulnerabilityId, stages: v.overdue })) } satisfies ResponseOf<typeof CraDeadlines>);
  });

  r.get('/cra/vulnerabilities/:id/notification-list', async (c) => {
    const query = validQuery(c, NotificationListQuery);
    await catchUp();
    const doc = vulnerabilityOr404(c.req.param('id'));
    const view = carryView(query.view);
    const statuses = statusesParam(query.status);
    const found = queries.releasesFor(doc.vulnerabilityId, statuses) ?? { hits: [], unassessed: [] };
    const format = query.format ?? 'json';
    if (!['json', 'csv', 'ndjson', 'dsse'].includes(format)) throw new LedgerError('BODY_INVALID', `format must be json, csv, ndjson or dsse, not ${format}`);
    const principal = c.get('principal');
    // The checkpoint first: it covers every event the list is computed from (the read model caught up above).
    const asOf = deps.notifications ? await deps.notifications.asOf() : null;
    const record = async (listSha256: string, units: number, customers: number) => {
      if (!deps.notifications) return;
      const produced: ProducedList = { vulnerabilityId: doc.vulnerabilityId, query: { view, statuses }, format: format as ProducedList['format'], listSha256, units, customers, requestedBy: { role: principal.role === 'admin' ? 'admin' : 'auditor', name: principal.name } };
      await deps.notifications.record(produced, asOf);
    };
    if (format === 'csv' || format === 'ndjson') {
      // Streamed, one page of the index at a time: a list of a million units is never held in memory.
      const headers: Record<string, string> = format === 'ndjson' ? { 'content-type': 'application/x-ndjson' } : { 'content-type': 'text/csv; charset=utf-8', 'content-disposition': `attachment; filename="${doc.vulnerabilityId}-notification-list.csv"` };
      return c.body(streamedUnits(format, queries.allUnits(found.hits, view), record), 200, headers);
    }
    const rows = [...queries.allUnits(found.hits, view)];
    const list = notificationList(doc.vulnerabilityId, view, statuses, found.hits, rows, clock());
    const sha256 = (bytes: Uint8Array | string) => createHash('sha256').update(bytes).digest('hex');
    if (format === 'dsse') {
      const payload = canonicalBytes(list);
      await record(sha256(payload), list.total, list.customers.length);
      return c.json(signEnvelope(NOTIFICATION_LIST_PAYLOAD_TYPE, payload, await deps.signingKey()));
    }
    const text = JSON.stringify(list satisfies ResponseOf<typeof NotificationList>);
    await record(sha256(text), list.total, list.customers.length);
    return c.body(text, 200, { 'content-type': 'application/json' });
  });

  r.get('/cra/vulnerabilities/:id/enisa', async (c) => {
    const query = validQuery(c, EnisaQuery);
    await catchUp();
    const doc = vulnerabilityOr404(c.req.param('id'));
    const stage = (query.stage ?? 'early_warning') as ReportStage;
    if (!REPORT_STAGES.includes(stage)) throw new LedgerError('BODY_INVALID', `stage must be one of ${REPORT_STAGES.join(', ')}`);
    const found = queries.releasesFor(doc.vulnerabilityId, ['affected', 'under_investigation']) ?? { hits: [], unassessed: [] };
    const rows = [...queries.allUnits(found.hits, 'now')];
    const byCustomer: Record<string, number> = {};
    for (const u of rows) byCustomer[u.customer ?? '(none)'] = (byCustomer[u.customer ?? '(none)'] ?? 0) + 1;
    const latest = doc.statements[doc.statements.length - 1];
    const product = found.hits[0]?.release;
    const enisa = enisaDocument({
      stage,
      manufacturer: { name: query.manufacturer ?? deps.origin },
      product: { name: product?.productSku ?? '(no affected release)', ...(product ? { sku: product.productSku } : {}) },
      vulnerability: { id: doc.vulnerabilityId, ...(latest?.aliases ? { aliases: latest.aliases } : {}), ...(latest?.description ? { description: latest.description } : {}) },
      affectedVersions: found.hits.map((h) => ({ releaseId: h.release.releaseId, version: h.release.version, units: rows.filter((u) => u.releaseId === h.release.releaseId).length })),
      affectedUnits: { total: rows.length, byCustomer },
      status: latest?.status ?? 'under_investigation',
      ...(latest?.actionStatement ? { userMeasures: [latest.actionStatement] } : {}),
    });
    if (query.format === 'text') return c.text(enisa.text);
    return c.json(enisa satisfies ResponseOf<typeof EnisaReport>);
  });

  r.get('/cra/vex', async (c) => {
    const query = validQuery(c, VexQuery);
    await catchUp();
    const kind = query.format ?? 'csaf';
    if (kind !== 'csaf' && kind !== 'openvex' && kind !== 'cyclonedx') throw new LedgerError('BODY_INVALID', `format must be csaf, openvex or cyclonedx, not ${kind}`);
    const releases = queries.releases();
    const vulns = queries.vulnerabilities().filter((v) => v.statements.length > 0);
    const assessments: Assessment[] = vulns.flatMap((v) => {
      const current = currentStatements(v);
      return v.statements.flatMap((s): Assessment[] => {
        const releaseIds = s.releaseIds.filter((id) => current.get(id) === s);
        if (releaseIds.length === 0) return [];
        return [
          {
            vulnerabilityId: s.vulnerabilityId,
            ...(s.aliases ? { aliases: s.aliases } : {}),
            ...(s.description ? { description: s.description } : {}),
            releaseIds,
            components: s.components.map((sel) => (sel.kind === 'purl' ? { name: sel.purl.replace(/^pkg:[^/]+\/(?:.*\/)?([^@?#]+).*$/, '$1'), purl: sel.purl.replace(/@.*$/, '') } : sel.kind === 'cpe' ? { name: sel.cpe, cpe: sel.cpe } : { name: sel.name })),
            status: s.status,
            ...(s.justification ? { justification: s.justification } : {}),
            ...(s.impactStatement ? { impactStatement: s.impactStatement } : {}),
            ...(s.actionStatement ? { actionStatement: s.actionStatement } : {}),
            assessedAt: s.at,
          },
        ];
      });
    });
    // A VEX document with no statement is invalid under every format's schema: say what is missing, not that a body is.
    if (assessments.length === 0) throw new LedgerError('NOT_FOUND', 'no vulnerability has a current assessment yet: there is no VEX document to publish (record a VulnerabilityAssessed first)');
    const times = vulns.flatMap((v) => v.statements.map((s) => s.at)).sort();
    const now = clock().toISOString();
    const publisherName = query.publisher ?? deps.origin;
    const context: VexContext = {
      publisher: { name: publisherName, namespace: query.namespace ?? `https://${deps.origin.split('/')[0] ?? 'flashtrail.local'}` },
      documentId: query.documentId ?? `${deps.origin.replace(/[^A-Za-z0-9.-]/g, '-')}-vex`,
      title: query.title ?? `Vulnerability assessments of ${publisherName}`,
      revision: Math.max(1, times.length),
      initialReleaseDate: times[0] ?? now,
      currentReleaseDate: times[times.length - 1] ?? now,
      products: releases.map((rel) => ({ releaseId: rel.releaseId, name: `${rel.productSku} firmware`, version: rel.version })),
    };
    try {
      const render = kind === 'csaf' ? renderCsafVex : kind === 'openvex' ? renderOpenVex : renderCycloneDxVex;
      return c.json(signDocument(kind, render(context, assessments), await deps.signingKey()));
    } catch (error) {
      if (error instanceof CraError) throw craProblem(error);
      throw error;
    }
  });

  return r;
}

// ---------------------------------------------------------------------------------------------------------

function identifier(value: string | undefined, what: string): string {
  const parsed = Identifier.safeParse(value);
  if (!parsed.success) throw new LedgerError('NOT_FOUND', `${what} ${value ?? ''} is not a valid identifier`);
  return parsed.data;
}

function vulnerabilityId(value: string | undefined): string {
  const parsed = VulnerabilityId.safeParse(value);
  if (!parsed.success) throw new LedgerError('BODY_INVALID', `${value ?? '(none)'} is not a CVE, GHSA or EUVD identifier`);
  return parsed.data;
}

function carryView(value: string | undefined): CarryView {
  if (value === undefined || value === 'now') return 'now';
  if (value === 'shipped') return 'shipped';
  throw new LedgerError('BODY_INVALID', `view must be now (the firmware units carry today) or shipped (as they left the factory), not ${value}`);
}

function statusesParam(value: string | undefined): VexStatus[] {
  if (value === undefined || value === '') return ['affected', 'under_investigation'];
  const list = value.split(',');
  for (const s of list) if (!(VEX_STATUSES as readonly string[]).includes(s)) throw new LedgerError('BODY_INVALID', `status ${s} is not one of ${VEX_STATUSES.join(', ')}`);
  return list as VexStatus[];
}

/** `N` months from now, as the last YYYY-MM a support end may be to count. */
function monthsParam(value: string | undefined): ((now: Date) => string) | null {
  if (value === undefined) return null;
  if (!/^\d{1,3}$/.test(value)) throw new LedgerError('BODY_INVALID', 'supportEndsWithinMonths must be a whole number of months (0-999)');
  const n = Number(value);
  return (now) => new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + n, 1)).toISOString().slice(0, 7);
}

const releaseSummary = (h: ReleaseHit) => ({ releaseId: h.release.releaseId, version: h.release.version, supportEnd: h.release.supportEnd, ...(h.status ? { status: h.status } : {}), components: h.components });

const CSV_HEADER = ['serial', 'customer', 'order', 'shipped_at', 'batch', 'release', 'version', 'shipped_release', 'current_release', 'field_updates', 'support_end', 'supported', 'components', 'status'];

const csvRow = (u: UnitRow) => csvRecord([u.serial, u.customer, u.orderRef, u.shippedAt, u.batchId, u.releaseId, u.version, u.shippedReleaseId, u.currentReleaseId, u.fieldUpdates, u.supportEnd, u.supported, u.components, u.status]);

function* filtered(rows: Iterable<UnitRow>, keep: (u: UnitRow) => boolean): Generator<UnitRow> {
  for (const u of rows) if (keep(u)) yield u;
}

/** Rows read per pull of the response stream: one page of the index, then the event loop is free again. */
const STREAM_ROWS = 500;

/**
 * Units as CSV (with its header) or NDJSON, produced as the client reads: the index is read a page at a time,
 * so memory stays flat however many units there are. `done` receives the SHA-256 of every byte sent, the
 * number of units and of distinct customers, after the last row and before the stream ends.
 */
export function streamedUnits(format: 'csv' | 'ndjson', rows: Iterator<UnitRow>, done: (sha256: string, units: number, customers: number) => Promise<void>): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  const hash = createHash('sha256');
  const customers = new Set<string>();
  let units = 0;
  let started = false;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let text = '';
      if (!started) {
        started = true;
        if (format === 'csv') text += csvRecord(CSV_HEADER);
      }
      for (let i = 0; i < STREAM_ROWS; i++) {
        const next = rows.next();
        if (next.done) {
          if (text !== '') {
            const bytes = encoder.encode(text);
            hash.update(bytes);
            controller.enqueue(bytes);
          }
          await done(hash.digest('hex'), units, customers.size);
          controller.close();
          return;
        }
        const u = next.value;
        units++;
        customers.add(u.customer ?? '');
        text += format === 'csv' ? csvRow(u) : JSON.stringify(u) + '\n';
      }
      const bytes = encoder.encode(text);
      hash.update(bytes);
      controller.enqueue(bytes);
    },
  });
}

/** The affected units per customer: the input to "inform the users" (Art. 14(8)). */
export function notificationList(vulnerabilityId: string, view: CarryView, statuses: readonly VexStatus[], hits: readonly ReleaseHit[], rows: readonly UnitRow[], now: Date) {
  // Grouped by pushing into each customer's array: copying it per unit made a list of n units O(n²).
  const customers = new Map<string, UnitRow[]>();
  for (const u of rows) {
    const key = u.customer ?? '';
    const group = customers.get(key);
    if (group) group.push(u);
    else customers.set(key, [u]);
  }
  const count = (list: readonly UnitRow[], key: (u: UnitRow) => string | null) => {
    const out: Record<string, number> = {};
    for (const u of list) out[key(u) ?? '(none)'] = (out[key(u) ?? '(none)'] ?? 0) + 1;
    return out;
  };
  return {
    kind: 'flashtrail.notification-list' as const,
    version: 1 as const,
    vulnerabilityId,
    view,
    statuses,
    producedAt: now.toISOString(),
    releases: hits.map(releaseSummary),
    total: rows.length,
    customers: [...customers.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([customer, units]) => {
        const shipped = units.map((u) => u.shippedAt ?? '').sort();
        return {
          customer,
          units: units.length,
          serials: units.map((u) => u.serial),
          shippedFrom: shipped[0] ?? null,
          shippedTo: shipped[shipped.length - 1] ?? null,
          currentFirmware: count(units, (u) => u.currentReleaseId),
          supportEnd: count(units, (u) => u.supportEnd),
          stillSupported: units.filter((u) => u.supported).length,
        };
      }),
  };
}

