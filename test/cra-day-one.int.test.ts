/**
 * Issue 21, "done when": a real ledger (HTTP on loopback, SQLite) with two releases whose SBOMs are
 * real-shaped (CycloneDX 1.6; SPDX 2.2 tag-value as esp-idf-sbom writes it) carrying mbedTLS 3.4.1 and
 * 3.5.1, and a fix release; units shipped to three customers; some updated in the field by the fleet's
 * update service; an assessment of CVE-2024-23775. The notification lists per customer, by purl range and
 * by CVE, as shipped and now, are checked unit by unit; the TR-03183-2 reports name the missing fields; the
 * VEX documents validate against their official schemas and open with the ledger key; the field updates are
 * in the units' verified provenance.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestLedger, type TestLedger } from './helpers/ledger-fixture.ts';
import { CDX, MBEDTLS, R230, R240, R241, setUpCraLine, sha, SPDX, VULNERABLE } from './helpers/cra-line.ts';
import { verifiedHistory } from './helpers/provenance.ts';
import { exportToFile } from '../src/cli/commands/export.ts';
import { verifyExportFile } from '../src/native/export-verifier.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventSigner } from '../src/event/signer.ts';
import type { LedgerClientError } from '../src/client/ledger-client.ts';
import { LedgerClient } from '../src/client/ledger-client.ts';
import { fromBase64, toBase64 } from '../src/crypto/encoding.ts';
import { ingestSbom } from '../src/cra/sbom.ts';
import { sbomAttachment } from '../src/cra/index-entries.ts';
import { validateDocument } from '../src/cra/schema-validation.ts';
import { openSignedDocument } from '../src/cra/sign.ts';
import { verifyEnvelopeSignature } from '../src/crypto/dsse.ts';
import { parseVerifierKey } from '../src/tlog/note.ts';
import { ledgerNotificationStream, unitStream } from '../src/event/streams.ts';
import { decodeTrustedEnvelope } from '../src/event/codec.ts';
import { toHex } from '../src/crypto/encoding.ts';
import { readFileSync } from 'node:fs';
import type { EventOf } from '../schemas/index.ts';

const PYTHON_VERIFIER = join(fileURLToPath(import.meta.url), '..', 'interop', 'python', 'flashtrail_verify.py');
const pythonVerifierSkip = spawnSync('/usr/bin/python3', ['-c', 'import cryptography']).status === 0 ? null : '/usr/bin/python3 with python3-cryptography is not installed';

let t: TestLedger;
let admin: LedgerClient;
let auditor: LedgerClient;
/** What GET /v1/cra/vex answered before any vulnerability was assessed. */
let vexBeforeAssessment: { status: number; code: string };

beforeAll(async () => {
  t = await startTestLedger({ setup: false });
  admin = t.adminClient;
  auditor = new LedgerClient(t.url, t.tokens.auditor);
  await setUpCraLine(t, { attachSboms: true });
  const a = t.admin;
  const early = await fetch(`${t.url}/v1/cra/vex`, { headers: { authorization: `Bearer ${t.tokens.auditor}` } });
  vexBeforeAssessment = { status: early.status, code: ((await early.json()) as { code: string }).code };
  const awareAt = new Date(Date.now() - 30 * 3_600_000);
  await admin.appendAdmin([
    a.sign('VulnerabilityAssessed', { vulnerabilityId: 'CVE-2024-23775', aliases: ['EUVD-2024-17411'], description: 'Integer overflow in mbedtls_x509_set_extensions()', components: [{ kind: 'purl', purl: MBEDTLS, range: VULNERABLE }], releaseIds: [R230.releaseId, R240.releaseId], status: 'affected', actionStatement: 'Update to firmware 2.4.1 over the air.', fixedBy: [R241.releaseId] }).envelope,
    a.sign('VulnerabilityAssessed', { vulnerabilityId: 'CVE-2024-23775', components: [{ kind: 'purl', purl: MBEDTLS, range: VULNERABLE }], releaseIds: [R241.releaseId], status: 'fixed' }).envelope,
    a.sign('VulnerabilityAwareness', { vulnerabilityId: 'CVE-2024-23775', track: 'vulnerability', awareAt: awareAt.toISOString(), activelyExploited: true, source: 'CERT-Bund advisory' }).envelope,
    a.sign('CraReportSubmitted', { vulnerabilityId: 'CVE-2024-23775', stage: 'early_warning', submittedAt: new Date(awareAt.getTime() + 20 * 3_600_000).toISOString(), reference: 'ENISA-SRP-0001' }).envelope,
  ]);
}, 120_000);

afterAll(async () => {
  await t?.stop();
});

type Units = { units: { serial: string; customer: string; releaseId: string; shippedReleaseId: string; currentReleaseId: string; supported: boolean; supportEnd: string; components: string }[]; releases: { releaseId: string }[]; next: string | null };
const serials = (u: Units) => u.units.map((x) => x.serial);

describe('CRA day one', () => {
  it('by purl range: as shipped every shipped unit of both releases, now without those updated to the fix', async () => {
    const q = `purl=${encodeURIComponent(MBEDTLS)}&range=${encodeURIComponent(VULNERABLE)}`;
    const shipped = await auditor.get<Units>(`/v1/cra/units?${q}&view=shipped`);
    expect(shipped.releases.map((r) => r.releaseId)).toEqual([R230.releaseId, R240.releaseId]);
    expect(serials(shipped)).toEqual(['SN-A1', 'SN-A2', 'SN-A3', 'SN-B1', 'SN-B2', 'SN-C1', 'SN-C2', 'SN-C3']);
    const now = await auditor.get<Units>(`/v1/cra/units?${q}`);
    expect(serials(now)).toEqual(['SN-A1', 'SN-A3', 'SN-B1', 'SN-B2', 'SN-C1', 'SN-C3']);
    const b1 = now.units.find((u) => u.serial === 'SN-B1');
    expect(b1).toMatchObject({ customer: 'Borealis Energy', shippedReleaseId: R230.releaseId, currentReleaseId: R240.releaseId, releaseId: R240.releaseId, supportEnd: '2031-12', supported: true, components: 'mbed_tls 3.5.1' });
    // A range that excludes 3.4.1 but not 3.5.1 splits the releases.
    const only351 = await auditor.get<Units>(`/v1/cra/units?purl=${encodeURIComponent(MBEDTLS)}&range=${encodeURIComponent('vers:generic/>=3.5.0|<3.5.2')}&view=shipped`);
    expect(only351.releases.map((r) => r.releaseId)).toEqual([R240.releaseId]);
    // Paging: two at a time, the same units in the same order.
    const paged: string[] = [];
    let after = '';
    for (;;) {
      const page = await auditor.get<Units>(`/v1/cra/units?${q}&view=shipped&limit=2${after ? `&after=${after}` : ''}`);
      paged.push(...serials(page));
      if (page.next === null) break;
      after = page.next;
    }
    expect(paged).toEqual(serials(shipped));
    // Support ending within 6 months (ES300-2.3.0 ends 2027-03) from the ledger's clock.
    const ending = await auditor.get<Units>(`/v1/cra/units?${q}&supportEndsWithinMonths=6`);
    const month = (n: number) => new Date(Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth() + n, 1)).toISOString().slice(0, 7);
    expect(serials(ending)).toEqual(month(6) >= '2027-03' ? ['SN-A1', 'SN-C1'] : []);
  });

  it('by CVE: the assessed releases, and the exact notification list per customer, now and as shipped', async () => {
    const now = await auditor.get<Units>('/v1/cra/units?vulnerability=CVE-2024-23775');
    expect(serials(now)).toEqual(['SN-A1', 'SN-A3', 'SN-B1', 'SN-B2', 'SN-C1', 'SN-C3']);
    const fixed = await auditor.get<Units>('/v1/cra/units?vulnerability=CVE-2024-23775&status=fixed');
    expect(serials(fixed)).toEqual(['SN-A2', 'SN-C2']);
    type List = { total: number; customers: { customer: string; units: number; serials: string[]; currentFirmware: Record<string, number> }[] };
    const list = await auditor.get<List>('/v1/cra/vulnerabilities/CVE-2024-23775/notification-list');
    expect(list.total).toBe(6);
    expect(list.customers.map((c) => [c.customer, c.serials])).toEqual([
      ['ACME Robotics', ['SN-A1', 'SN-A3']],
      ['Borealis Energy', ['SN-B1', 'SN-B2']],
      ['Cirrus Medical', ['SN-C1', 'SN-C3']],
    ]);
    expect(list.customers[1]?.currentFirmware).toEqual({ [R240.releaseId]: 2 });
    const asShipped = await auditor.get<List>('/v1/cra/vulnerabilities/CVE-2024-23775/notification-list?view=shipped');
    expect(asShipped.customers.map((c) => [c.customer, c.serials])).toEqual([
      ['ACME Robotics', ['SN-A1', 'SN-A2', 'SN-A3']],
      ['Borealis Energy', ['SN-B1', 'SN-B2']],
      ['Cirrus Medical', ['SN-C1', 'SN-C2', 'SN-C3']],
    ]);
    // The same list as CSV (one row per unit) and signed by the ledger key.
    const csv = await auditor.getText('/v1/cra/vulnerabilities/CVE-2024-23775/notification-list?format=csv');
    expect(csv.split('\r\n').filter(Boolean).slice(1).map((l) => l.split(',')[0])).toEqual(['SN-A1', 'SN-A3', 'SN-B1', 'SN-B2', 'SN-C1', 'SN-C3']);
    const envelope = await auditor.get<{ payloadType: string; payload: string; signatures: { keyid: string; sig: string }[] }>('/v1/cra/vulnerabilities/CVE-2024-23775/notification-list?format=dsse');
    const key = parseVerifierKey((await auditor.getText('/v1/ledger/key')).trim());
    expect(verifyEnvelopeSignature(envelope, key.publicKey)).toBe(true);
    const signed = JSON.parse(new TextDecoder().decode(fromBase64(envelope.payload))) as List;
    expect(signed.customers.map((c) => c.serials)).toEqual(list.customers.map((c) => c.serials));
  });

  it('each notification list produced is a ledger event: who asked, the query, the digest of the bytes served, as of which checkpoint', async () => {
    const url = (format: string) => `${t.url}/v1/cra/vulnerabilities/CVE-2024-23775/notification-list?format=${format}&view=shipped`;
    const fetched = async (format: string) => new Uint8Array(await (await fetch(url(format), { headers: { authorization: `Bearer ${t.tokens.auditor}` } })).arrayBuffer());
    const csv = await fetched('csv');
    const ndjson = await fetched('ndjson');
    const rows = new TextDecoder().decode(ndjson).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { serial: string; customer: string });
    expect(rows.map((r) => r.serial)).toEqual(['SN-A1', 'SN-A2', 'SN-A3', 'SN-B1', 'SN-B2', 'SN-C1', 'SN-C2', 'SN-C3']);

    type Rec = { producedAt: string; format: string; listSha256: string; units: number; customers: number; query: { view: string; statuses: string[] }; requestedBy: { role: string; name: string }; asOf: { size: number; rootHash: string } | null };
    const clock = await auditor.get<{ vulnerabilities: { vulnerabilityId: string; notificationLists: Rec[] }[] }>('/v1/cra/deadlines');
    const lists = clock.vulnerabilities.find((v) => v.vulnerabilityId === 'CVE-2024-23775')?.notificationLists ?? [];
    const [csvRecord, ndjsonRecord] = lists.slice(-2);
    const tokenName = (JSON.parse(readFileSync(t.config.tokensFile, 'utf8')) as { tokens: { name: string; role: string }[] }).tokens.find((k) => k.role === 'auditor')?.name;
    expect(csvRecord).toMatchObject({ format: 'csv', listSha256: sha(csv), units: 8, customers: 3, query: { view: 'shipped', statuses: ['affected', 'under_investigation'] }, requestedBy: { role: 'auditor', name: tokenName } });
    expect(ndjsonRecord).toMatchObject({ format: 'ndjson', listSha256: sha(ndjson), units: 8, customers: 3 });
    // As of a checkpoint the ledger signed: its root is the log's root at that size.
    const asOf = ndjsonRecord?.asOf as { size: number; rootHash: string };
    expect(toHex(await t.running.log.root(asOf.size))).toBe(asOf.rootHash);
    // The record itself is an event in the log, signed by the ledger, chained in its own stream.
    const recorded = await t.running.store.readStream(ledgerNotificationStream('CVE-2024-23775'));
    expect(recorded.length).toBe(lists.length);
    const last = decodeTrustedEnvelope((recorded.at(-1) as { data: Uint8Array }).data);
    expect([last.event.type, last.event.source.kind]).toEqual(['NotificationListProduced', 'ledger']);
    expect(last.event.prev).toBe(decodeTrustedEnvelope((recorded.at(-2) as { data: Uint8Array }).data).digest);
  });

  it('the deadlines: early warning on time, notification due, final report 14 days from the fix', async () => {
    type Clock = { vulnerabilities: { vulnerabilityId: string; stages: { stage: string; state: string; deadline?: string }[]; overdue: string[] }[] };
    const clock = await auditor.get<Clock>('/v1/cra/deadlines');
    const cve = clock.vulnerabilities.find((v) => v.vulnerabilityId === 'CVE-2024-23775');
    expect(cve?.stages.map((s) => [s.stage, s.state])).toEqual([
      ['early_warning', 'on_time'],
      ['notification', 'due'],
      ['final_report', 'due'],
    ]);
    expect(cve?.overdue).toEqual([]);
  });

  it('the TR-03183-2 reports name the missing fields of each SBOM', async () => {
    type Report = { formatAccepted: boolean; documentMissing: string[]; missingSummary: Record<string, number> };
    const cdx = await auditor.get<Report>(`/v1/cra/releases/${R230.releaseId}/tr03183`);
    expect([cdx.formatAccepted, cdx.documentMissing]).toEqual([true, []]);
    expect(cdx.missingSummary).toEqual({ creator: 3, filename: 5, dependencies: 1, dependencyCompleteness: 2, distributionLicences: 5, deployableHashSha512: 5, executable: 5, archive: 5, structured: 5 });
    const spdx = await auditor.get<Report>(`/v1/cra/releases/${R240.releaseId}/tr03183`);
    expect([spdx.formatAccepted, spdx.documentMissing]).toEqual([false, ['creator']]);
    expect(spdx.missingSummary).toEqual({ creator: 8, filename: 8, dependencies: 4, dependencyCompleteness: 8, distributionLicences: 8, deployableHashSha512: 8, executable: 8, archive: 8, structured: 8 });
    // The SBOM bytes come back as attached.
    expect(sha(new Uint8Array(await (await fetch(`${t.url}/v1/cra/releases/${R240.releaseId}/sbom`, { headers: { authorization: `Bearer ${t.tokens.auditor}` } })).arrayBuffer()))).toBe(sha(SPDX));
  });

  it('CSAF, OpenVEX and CycloneDX VEX validate against their official schemas, signed by the ledger key', async () => {
    const key = parseVerifierKey((await auditor.getText('/v1/ledger/key')).trim());
    for (const [format, schema] of [['csaf', 'csaf-2.0'], ['openvex', 'openvex-0.2.0'], ['cyclonedx', 'cyclonedx-1.6']] as const) {
      const envelope = await auditor.get<Parameters<typeof openSignedDocument>[1]>(`/v1/cra/vex?format=${format}&publisher=${encodeURIComponent('Example Sensors GmbH')}&namespace=${encodeURIComponent('https://example-sensors.eu')}`);
      const doc = openSignedDocument(format, envelope, key.publicKey);
      expect(doc, format).toBeDefined();
      expect(validateDocument(schema, doc)).toEqual({ valid: true, problems: [] });
      expect(JSON.stringify(doc)).toContain('CVE-2024-23775');
    }
    // Before any assessment there is no VEX document (every format needs a statement): 404, not a body error.
    expect(vexBeforeAssessment).toEqual({ status: 404, code: 'NOT_FOUND' });
  });

  it('field updates are in the verified provenance; only a shipped unit, to an approved release, by the fleet service', async () => {
    await t.running.log.catchUp(); // the log writer appends leaves behind the event store
    const report = await verifiedHistory(auditor, 'SN-A2');
    expect(JSON.stringify(report)).toContain(R241.applicationSha256);
    // An export selected by the fix's image: exactly the units updated to it, verified offline.
    const dir = mkdtempSync(join(tmpdir(), 'flashtrail-cra-export-'));
    try {
      const file = join(dir, 'fix.ndjson');
      await exportToFile(t.url, t.tokens.auditor, { firmwareSha256: R241.applicationSha256 }, file, () => undefined);
      const verified = await verifyExportFile(file, parseVerifierKey(t.running.identity.verifierKey), { workers: 1 });
      expect(verified.units).toBe(2);
      expect(verified.firmware.find((f) => f.sha256 === R241.applicationSha256)?.units).toBe(2);
      // The independent verifier (written from docs/format.md) reads FirmwareUpdated as ours does: same subjects.
      if (pythonVerifierSkip === null) {
        const py = spawnSync('/usr/bin/python3', [PYTHON_VERIFIER, '--ledger-key', t.running.identity.verifierKey, file], { encoding: 'utf8', maxBuffer: 1 << 24 });
        const verdict = JSON.parse(py.stdout.trim().split('\n').pop() ?? '{}') as { ok: boolean; subjects?: { digest: { sha256: string } }[] };
        expect(verdict.ok, py.stdout.slice(-2000)).toBe(true);
        expect(verdict.subjects?.some((x) => x.digest.sha256 === R241.applicationSha256)).toBe(true);
      } else console.warn(`the independent verifier's check of a field-updated export skipped: ${pythonVerifierSkip}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const fleetSigner = new EventSigner(t.stationKeys['ST-02'], 'ST-02');
    const fleetClient = new LedgerClient(t.url, t.tokens.station2);
    const refused = async (serial: string, data: EventOf<'FirmwareUpdated'>['data']) => {
      const head = await fleetClient.get<{ digest: string }>(`/v1/streams/${unitStream(serial)}/head`);
      fleetSigner.setHead(unitStream(serial), head.digest);
      try {
        await fleetClient.append([fleetSigner.sign('FirmwareUpdated', data).envelope]);
        return 'accepted';
      } catch (e) {
        return (e as LedgerClientError).problem['rule'];
      }
    };
    const images = [{ name: 'application', sha256: R241.applicationSha256 }];
    expect(await refused('SN-X1', { serial: 'SN-X1', fromReleaseId: R240.releaseId, toReleaseId: R241.releaseId, images, method: 'ota' })).toBe('UNIT_NOT_SHIPPED');
    expect(await refused('SN-A1', { serial: 'SN-A1', fromReleaseId: R230.releaseId, toReleaseId: 'ES300-9.9.9', images, method: 'ota' })).toBe('RELEASE_UNKNOWN');
    expect(await refused('SN-A1', { serial: 'SN-A1', fromReleaseId: R240.releaseId, toReleaseId: R241.releaseId, images, method: 'ota' })).toBe('RELEASE_MISMATCH');
    expect(await refused('SN-A1', { serial: 'SN-A1', fromReleaseId: R230.releaseId, toReleaseId: R241.releaseId, images: [{ name: 'application', sha256: R240.applicationSha256 }], method: 'ota' })).toBe('IMAGE_MISMATCH');
  });

  it('an SbomAttached is refused without the SBOM bytes, or with components other than they list', async () => {
    const code = async (f: () => Promise<unknown>) => {
      try {
        await f();
        return 'accepted';
      } catch (e) {
        return (e as LedgerClientError).problem.code;
      }
    };
    const bogus = new TextEncoder().encode('{"bomFormat":"CycloneDX","specVersion":"1.4","version":1}');
    expect(await code(() => admin.request('POST', '/v1/cra/sboms', { sbom: toBase64(bogus) }))).toBe('SBOM_INVALID');
    const data = sbomAttachment(R230.releaseId, ingestSbom(CDX), CDX.length);
    const missing = { ...data, sha256: sha('never uploaded') };
    expect(await code(() => admin.appendAdmin([t.admin.sign('SbomAttached', missing, { prev: null }).envelope]))).toBe('SBOM_INVALID');
    const altered = { ...data, components: data.components.slice(1) };
    expect(await code(() => admin.appendAdmin([t.admin.sign('SbomAttached', altered, { prev: null }).envelope]))).toBe('SBOM_INVALID');
  });
});
