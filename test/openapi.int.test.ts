/**
 * The OpenAPI contract, end to end: a real ledger on a loopback port, driven through every operation the
 * document lists (and the refusals around them), every answer validated against the document with ajv; at
 * the end, every success response the document lists must have been seen. Neither can drift: a route the
 * document lacks fails the document's build, an answer the document does not describe fails here.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootloaderData, scanData, startTestLedger, type TestLedger } from './helpers/ledger-fixture.ts';
import { contractChecker, checkedFetch, type ContractChecker } from './helpers/openapi-contract.ts';
import { EventSigner } from '../src/event/signer.ts';
import { SimulatedStation } from '../src/sim/simulated-station.ts';
import { LedgerClient } from '../src/client/ledger-client.ts';
import { API_OPERATIONS } from '../src/api/contract.ts';
import { HTTP_STATUS } from '../src/api/problem.ts';
import { openApiPath } from '../src/api/openapi.ts';
import { CDX, MBEDTLS, R230, R240, R241, setUpCraLine, VULNERABLE } from './helpers/cra-line.ts';
import { toBase64 } from '../src/crypto/encoding.ts';
import { ingestSbom } from '../src/cra/sbom.ts';
import { sbomAttachment } from '../src/cra/index-entries.ts';
import { releaseStream } from '../src/event/streams.ts';

let t: TestLedger;
let contract: ContractChecker;
let document: Record<string, unknown>;
let get: ReturnType<typeof checkedFetch>;

const auth = (token: string, extra: Record<string, string> = {}) => ({ headers: { authorization: `Bearer ${token}`, ...extra } });
const post = (token: string, body: unknown) => ({ method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });

beforeAll(async () => {
  t = await startTestLedger();
  const response = await fetch(`${t.url}/openapi.json`);
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  document = (await response.json()) as Record<string, unknown>;
  contract = contractChecker(document);
  get = checkedFetch(contract);
});
afterAll(async () => t?.stop());

describe('the document', () => {
  it('is OpenAPI 3.1 with every operation, its roles, bearer security and its problem codes', () => {
    expect(document['openapi']).toBe('3.1.0');
    const paths = document['paths'] as Record<string, Record<string, { security: unknown[]; 'x-roles': string[]; responses: Record<string, { content?: Record<string, { schema: { properties?: { code?: { enum?: string[] } } } }> }> }>>;
    for (const op of API_OPERATIONS) {
      const described = paths[openApiPath(op.path)]?.[op.method];
      expect(described, `${op.method} ${op.path}`).toBeDefined();
      expect(described!.security).toEqual(op.authenticated ? [{ bearer: [] }] : []);
      for (const code of op.errors) {
        const response = described!.responses[String(HTTP_STATUS[code])];
        expect(response?.content?.['application/problem+json']?.schema.properties?.code?.enum, `${op.method} ${op.path} ${code}`).toContain(code);
      }
    }
    // Roles are those of the requireRole middleware in front of each route.
    expect(paths['/v1/admin/events']!['post']!['x-roles']).toEqual(['admin']);
    expect(paths['/v1/events']!['post']!['x-roles']).toEqual(['station', 'admin']);
    expect(paths['/v1/units']!['get']!['x-roles']).toEqual(['auditor', 'admin']);
    expect(paths['/v1/units/{serial}/events']!['get']!['x-roles']).toEqual(['station', 'auditor', 'admin']);
    expect(paths['/v1/scrap']!['get']!['x-roles']).toEqual(['auditor', 'admin']);
    expect(paths['/v1/exports']!['post']!['x-roles']).toEqual(['auditor', 'admin']);
  });

  it('the API reference page is rendered from it, self-contained', async () => {
    const page = await get(`${t.url}/docs`);
    expect(page.status).toBe(200);
    for (const op of API_OPERATIONS) expect(page.text).toContain(`<code>${openApiPath(op.path)}</code>`);
    expect(page.text).toContain('SIGNATURE_INVALID');
    // Nothing is loaded from elsewhere: no script, no stylesheet link, no absolute URL but text.
    expect(page.text).not.toMatch(/<script|<link|src=|https?:\/\/[^\s<"]*\.(js|css)/i);
  });
});

describe('every operation answers as documented', () => {
  it('a whole line: appends, reads, proofs, production views, evidence', async () => {
    const { admin, auditor, station1 } = t.tokens;
    for (const path of ['/healthz', '/readyz', '/openapi.json', '/metrics']) expect((await get(`${t.url}${path}`)).status).toBe(200);

    // Appends: a station's own events, a retry, an administrator event through its own route.
    const st1 = new EventSigner(t.stationKeys['ST-01'], 'ST-01');
    const scan = st1.sign('UnitScanned', scanData('K-1'));
    expect((await get(`${t.url}/v1/events`, post(station1, scan.envelope))).status).toBe(201);
    expect((await get(`${t.url}/v1/events`, post(station1, [scan.envelope]))).status).toBe(200);
    expect((await get(`${t.url}/v1/events`, post(station1, { events: [st1.sign('BootloaderWritten', bootloaderData('K-1', t.release)).envelope] }))).status).toBe(201);
    const registered = t.admin.sign('StationRegistered', { stationId: 'ST-09', line: 'L1', site: 'Plant 1' }, { prev: null });
    expect((await get(`${t.url}/v1/admin/events`, post(admin, registered.envelope))).status).toBe(201);
    // A whole unit, shipped, through the simulated station: every view below has something to show.
    await new SimulatedStation(new LedgerClient(t.url, station1), new EventSigner(t.stationKeys['ST-01'], 'ST-01'), { stationId: 'ST-01', operator: 'op', batchId: 'B-1', hardwareRevision: 'rev-C' }, t.release).flash('K-2', 'app-mismatch-then-rework');

    const units = JSON.parse((await get(`${t.url}/v1/units?limit=1`, auth(auditor))).text) as { next: string };
    expect((await get(`${t.url}/v1/units?limit=5&after=${units.next}`, auth(auditor))).status).toBe(200);
    for (const path of ['/v1/units/K-2', '/v1/units/K-2/events', '/v1/streams/unit-K-2/head', '/v1/streams/unit-NONE/head', '/v1/stations/ST-01', '/v1/releases/R-1', '/v1/batches/B-1', '/v1/ledger/key']) {
      expect((await get(`${t.url}${path}`, auth(auditor))).status, path).toBe(200);
    }
    expect((await get(`${t.url}/v1/checkpoint`, { method: 'POST', ...auth(admin) })).status).toBe(201);
    const note = (await get(`${t.url}/v1/checkpoint`, auth(auditor))).text;
    const size = Number(note.split('\n')[1]);
    expect(size).toBeGreaterThan(2);
    expect((await get(`${t.url}/v1/proofs/inclusion?index=1&size=${size}`, auth(auditor))).status).toBe(200);
    expect((await get(`${t.url}/v1/proofs/consistency?from=1&to=${size}`, auth(auditor))).status).toBe(200);
    const provenance = await get(`${t.url}/v1/units/K-2/provenance`, auth(auditor));
    expect(provenance.status).toBe(200);
    expect(provenance.headers.get('x-checkpoint-size')).toMatch(/^\d+$/);

    // SCITT and the hybrid key, over the same log.
    for (const path of ['/v1/ledger/pq-key', '/entries/1', '/statements/K-2', '/statements/K-2/provenance']) {
      expect((await get(`${t.url}${path}`, auth(auditor))).status, path).toBe(200);
    }
    expect((await get(`${t.url}/.well-known/scitt-keys`)).status).toBe(200);

    // The unit history map's index log (docs/format.md §15), committed for the provenance document's checkpoint.
    const provenanceSize = provenance.headers.get('x-checkpoint-size') as string;
    for (const path of ['/v1/unit-map/key', '/v1/unit-map/checkpoint', `/v1/unit-map/commitments/${provenanceSize}`, `/v1/unit-map/units/K-2?size=${provenanceSize}`, '/v1/unit-map/units/K-2', '/v1/unit-map/leaves?from=0&limit=5', '/v1/log/entries?limit=3', `/v1/unit-map/firmware/${'0'.repeat(64)}`]) {
      expect((await get(`${t.url}${path}`, auth(auditor))).status, path).toBe(200);
    }
    expect((await get(`${t.url}/v1/unit-map/commitments/999999`, auth(auditor))).status).toBe(404);

    for (const path of ['/v1/batches/B-1/drift', '/v1/batches/B-1/scrap', '/v1/drift?since=2000-01-01', '/v1/scrap?line=L1&from=2000-01-01', '/v1/scrap']) {
      expect((await get(`${t.url}${path}`, auth(auditor))).status, path).toBe(200);
    }
    const sha = t.release.application.sha256;
    expect((await get(`${t.url}/v1/firmware/${sha}/units?limit=10`, auth(auditor))).status).toBe(200);
    const csv = await get(`${t.url}/v1/firmware/${sha}/units`, auth(auditor, { accept: 'text/csv' }));
    expect(csv.text.split('\n')[0]).toContain('serial');
    const ndjson = await get(`${t.url}/v1/firmware/${sha}/units`, auth(auditor, { accept: 'application/x-ndjson' }));
    expect(ndjson.text).toContain('"serial":"K-2"');

    const exported = await get(`${t.url}/v1/exports`, post(auditor, { serials: ['K-2'] }));
    expect(exported.status).toBe(200);
    expect(exported.text.trim().split('\n').length).toBeGreaterThan(4);
  });

  it('refusals are problem documents the document lists, with the code for their status', async () => {
    const { auditor, station1 } = t.tokens;
    const problems: [string, RequestInit, number, string][] = [
      ['/v1/units?batch=B-1', auth(auditor), 400, 'QUERY_INVALID'],
      ['/v1/units?limit=1&limit=2', auth(auditor), 400, 'QUERY_INVALID'],
      ['/v1/units?limit=0', auth(auditor), 400, 'QUERY_INVALID'],
      ['/v1/units/K-2?verbose=1', auth(auditor), 400, 'QUERY_INVALID'],
      ['/v1/proofs/inclusion?index=x&size=1', auth(auditor), 400, 'QUERY_INVALID'],
      ['/v1/scrap?from=yesterday', auth(auditor), 400, 'QUERY_INVALID'],
      ['/v1/units', auth(station1), 403, 'FORBIDDEN'],
      ['/v1/units/K-2', {}, 401, 'UNAUTHORIZED'],
      ['/v1/units/NOPE', auth(auditor), 404, 'NOT_FOUND'],
      ['/v1/nothing-here', auth(auditor), 404, 'NOT_FOUND'],
      ['/v1/events', { method: 'POST', headers: { authorization: `Bearer ${station1}`, 'content-type': 'text/plain' }, body: '{}' }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
      ['/v1/events', { method: 'POST', headers: { authorization: `Bearer ${station1}`, 'content-type': 'application/json' }, body: '{' }, 400, 'BODY_INVALID'],
      ['/v1/exports', post(auditor, { batch: 'B-1' }), 400, 'SCHEMA_INVALID'],
    ];
    for (const [path, init, status, code] of problems) {
      const reply = await get(`${t.url}${path}`, init);
      expect(reply.status, path).toBe(status);
      expect(JSON.parse(reply.text)).toMatchObject({ code, status });
    }
    const unknown = JSON.parse((await get(`${t.url}/v1/units?batch=B-1`, auth(auditor))).text) as { detail: string };
    expect(unknown.detail).toBe('unknown query parameter batch');
  });

  it('the interlock: one unit, a carrier of units, a malformed request', async () => {
    const { station1, auditor } = t.tokens;
    const one = JSON.parse((await get(`${t.url}/v1/units/K-2/readiness`, auth(station1))).text) as { serial: string; ready: boolean; failureCode: number };
    expect(one.serial).toBe('K-2');
    const carrier = JSON.parse((await get(`${t.url}/v1/interlock/validate`, post(auditor, { units: ['K-2', 'NEVER-SEEN-1'] }))).text) as { ready: boolean; units: { serial: string; ready: boolean; reasons: { code: string }[] }[] };
    expect(carrier.ready).toBe(false);
    expect(carrier.units.map((u) => u.serial)).toEqual(['K-2', 'NEVER-SEEN-1']);
    expect(carrier.units[1]!.reasons[0]!.code).toBe('UNIT_UNKNOWN');
    expect((await get(`${t.url}/v1/interlock/validate`, post(auditor, { units: [] }))).status).toBe(400);
    expect((await get(`${t.url}/v1/units/K-2/readiness?verbose=1`, auth(station1))).status).toBe(400);
  });

  it('the CRA answers, on a line with releases, an SBOM, shipped units and an assessed vulnerability', async () => {
    // A ledger of its own: the CRA line registers its own stations and releases.
    const cra = await startTestLedger({ setup: false });
    try {
      await setUpCraLine(cra, { attachSboms: false });
      const { admin, auditor } = cra.tokens;
      const a = cra.admin;
      expect((await get(`${cra.url}/v1/cra/sboms`, post(admin, { sbom: toBase64(CDX) }))).status).toBe(201);
      expect(JSON.parse((await get(`${cra.url}/v1/cra/sboms`, post(admin, { sbom: toBase64(CDX) }))).text)).toMatchObject({ stored: 'already held' });
      const head = JSON.parse((await get(`${cra.url}/v1/streams/${releaseStream(R230.releaseId)}/head`, auth(admin))).text) as { digest: string };
      await cra.adminClient.appendAdmin([a.sign('SbomAttached', sbomAttachment(R230.releaseId, ingestSbom(CDX), CDX.length), { prev: head.digest }).envelope]);
      await cra.adminClient.appendAdmin([
        a.sign('VulnerabilityAssessed', { vulnerabilityId: 'CVE-2024-23775', components: [{ kind: 'purl', purl: MBEDTLS, range: VULNERABLE }], releaseIds: [R230.releaseId, R240.releaseId], status: 'affected', actionStatement: 'Update to firmware 2.4.1.', fixedBy: [R241.releaseId] }).envelope,
        a.sign('VulnerabilityAwareness', { vulnerabilityId: 'CVE-2024-23775', track: 'vulnerability', awareAt: new Date(Date.now() - 3_600_000).toISOString(), activelyExploited: false, source: 'advisory' }).envelope,
      ]);

      const units = `purl=${encodeURIComponent(MBEDTLS)}&range=${encodeURIComponent(VULNERABLE)}`;
      const paths = [
        '/v1/cra/releases',
        `/v1/cra/releases/${R230.releaseId}`,
        `/v1/cra/releases/${R230.releaseId}/sbom`,
        `/v1/cra/releases/${R230.releaseId}/tr03183`,
        `/v1/cra/releases/${R230.releaseId}/sbom/enriched?manufacturer=Example%20GmbH`,
        `/v1/cra/units?${units}&view=shipped&limit=2`,
        `/v1/cra/units?${units}&format=csv`,
        `/v1/cra/units?${units}&format=ndjson`,
        '/v1/cra/units?vulnerability=CVE-2024-23775&status=affected',
        '/v1/cra/vulnerabilities',
        '/v1/cra/vulnerabilities/CVE-2024-23775',
        '/v1/cra/deadlines',
        '/v1/cra/vulnerabilities/CVE-2024-23775/notification-list',
        '/v1/cra/vulnerabilities/CVE-2024-23775/notification-list?format=csv',
        '/v1/cra/vulnerabilities/CVE-2024-23775/notification-list?format=dsse&view=shipped',
        '/v1/cra/vulnerabilities/CVE-2024-23775/enisa?stage=notification',
        '/v1/cra/vulnerabilities/CVE-2024-23775/enisa?format=text',
        '/v1/cra/vex',
        '/v1/cra/vex?format=openvex&publisher=Example%20GmbH',
        '/v1/cra/vex?format=cyclonedx',
      ];
      for (const path of paths) expect((await get(`${cra.url}${path}`, auth(auditor))).status, path).toBe(200);
      const shipped = JSON.parse((await get(`${cra.url}/v1/cra/units?${units}&view=shipped`, auth(auditor))).text) as { units: { serial: string }[] };
      expect(shipped.units.length).toBeGreaterThan(0);

      // Strict queries: an unknown parameter, a value outside the schema, a repeated one.
      const refusals: [string, number, string][] = [
        [`/v1/cra/units?${units}&sort=serial`, 400, 'QUERY_INVALID'],
        [`/v1/cra/units?${units}&view=yesterday`, 400, 'QUERY_INVALID'],
        [`/v1/cra/units?${units}&format=xml`, 400, 'QUERY_INVALID'],
        ['/v1/cra/releases?all=1', 400, 'QUERY_INVALID'],
        ['/v1/cra/vex?format=csaf&format=openvex', 400, 'QUERY_INVALID'],
        ['/v1/cra/vulnerabilities/CVE-2024-23775/enisa?stage=draft', 400, 'QUERY_INVALID'],
        ['/v1/cra/units', 400, 'BODY_INVALID'],
        ['/v1/cra/releases/NOPE', 404, 'NOT_FOUND'],
        ['/v1/cra/vulnerabilities/CVE-2099-0001', 404, 'NOT_FOUND'],
      ];
      for (const [path, status, code] of refusals) {
        const reply = await get(`${cra.url}${path}`, auth(auditor));
        expect(reply.status, path).toBe(status);
        expect(JSON.parse(reply.text), path).toMatchObject({ code, status });
      }
      const unknown = JSON.parse((await get(`${cra.url}/v1/cra/units?${units}&sort=serial`, auth(auditor))).text) as { detail: string };
      expect(unknown.detail).toBe('unknown query parameter sort');
      const upload = await get(`${cra.url}/v1/cra/sboms`, post(admin, { sbom: toBase64(new TextEncoder().encode('{"bomFormat":"nope"}')) }));
      expect(JSON.parse(upload.text)).toMatchObject({ code: 'SBOM_INVALID', status: 422 });
      expect((await get(`${cra.url}/v1/cra/sboms`, post(auditor, { sbom: toBase64(CDX) }))).status).toBe(403);
    } finally {
      await cra.stop();
    }
  }, 120_000);

  it('every success response the document lists was seen and matched', () => {
    const missing = contract.documentedSuccesses.filter((k) => !contract.seen.has(k) && !k.startsWith('GET /docs'));
    // 200 of an append is a retry; both appends' 201 and the duplicate 200 are exercised above.
    expect(missing.filter((k) => k !== 'POST /v1/admin/events 200')).toEqual([]);
  });
});
