/**
 * The unit invariants of docs/format.md §16.2, each broken the way an insider with the event store would break
 * it: a correctly chained entry, signed by a registered station key, appended with the store's own
 * appendToStream, past every decider the API runs. The real `flashtrail monitor` process, following the real
 * ledger with one --state file, must report each one as a JSON-line finding naming the code, the serial, the
 * insider's leaf, and the earlier entry it conflicts with, and exit 1. Before each insider write the same monitor
 * audits the genuine entries around it and finds nothing, so every assertion below can fail.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestLedger, scanData, type TestLedger } from './helpers/ledger-fixture.ts';
import { runCli } from './helpers/cli.ts';
import { SimulatedStation, type UnitScenario } from '../src/sim/simulated-station.ts';
import { LedgerClient } from '../src/client/ledger-client.ts';
import { EventSigner } from '../src/event/signer.ts';
import { unitStream } from '../src/event/streams.ts';
import { envelopeBytes } from '../src/crypto/dsse.ts';
import { decodeTrustedEnvelope } from '../src/event/codec.ts';
import type { EventOf, EventType } from '../schemas/index.ts';

const work = mkdtempSync(join(tmpdir(), 'flashtrail-monitor-insider-'));
const state = join(work, 'monitor.state');
const tokenFile = join(work, 'auditor.token');
let t: TestLedger;
let ledgerKey: string;

interface Finding {
  kind: 'finding';
  code: string;
  step: string;
  leafIndex: number;
  message: string;
  evidence: { serial: string; event: { leafIndex: number; eventId: string; eventType: string } } & Record<string, unknown>;
}

const auth = () => ({ authorization: `Bearer ${t.tokens.auditor}` });
const lines = (stdout: string) => stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
const flash = (serial: string, scenario: UnitScenario = 'pass', batchId = t.batchId) =>
  new SimulatedStation(new LedgerClient(t.url, t.tokens.station1), new EventSigner(t.stationKeys['ST-01'], 'ST-01'), { stationId: 'ST-01', operator: 'op', batchId, hardwareRevision: 'rev-C' }, t.release).flash(serial, scenario);

/** The leaf the ledger's log holds an event at, from GET /v1/log/entries (the monitor's own source). */
async function leafOf(eventId: string): Promise<number> {
  const leaves: string[] = [];
  for (let after: string | null = null; ; ) {
    const page = (await (await fetch(`${t.url}/v1/log/entries?limit=1000${after !== null ? `&after=${after}` : ''}`, { headers: auth() })).json()) as { entries: string[]; next: string | null };
    leaves.push(...page.entries);
    if (page.next === null || page.entries.length === 0) break;
    after = page.next;
  }
  const leaf = leaves.findIndex((e) => decodeTrustedEnvelope(Buffer.from(e, 'base64')).event.id === eventId);
  expect(leaf, `event ${eventId} is in the log`).toBeGreaterThanOrEqual(0);
  return leaf;
}

/** The insider's write: chained to the stream's head, signed by ST-01's registered key, straight into the store. */
async function insider<T extends EventType>(serial: string, type: T, data: EventOf<T>['data']): Promise<string> {
  const head = (await t.running.store.readStream(unitStream(serial))).at(-1);
  const signed = new EventSigner(t.stationKeys['ST-01'], 'ST-01').sign(type, data, { prev: head ? decodeTrustedEnvelope(head.data).digest : null });
  await t.running.store.appendToStream(unitStream(serial), [{ id: signed.event.id, type: signed.event.type, data: envelopeBytes(signed.envelope) }]);
  return signed.event.id;
}

/** Signs a checkpoint of everything appended, then runs the monitor once, continuing from the shared --state. */
async function monitor() {
  const r = await fetch(`${t.url}/v1/checkpoint`, { method: 'POST', headers: { authorization: `Bearer ${t.tokens.admin}` } });
  expect(r.status, await r.text()).toBeLessThan(300);
  return runCli(['monitor', '--ledger', t.url, '--ledger-key', ledgerKey, '--state', state, '--token-file', tokenFile, '--once'], { timeoutMs: 60_000 });
}

/** The genuine entries so far audit clean: exit 0, one checkpoint line, no finding. */
async function expectClean(): Promise<void> {
  const r = await monitor();
  expect(r.code, r.stdout + r.stderr).toBe(0);
  expect(lines(r.stdout).map((l) => l['kind'])).toEqual(['checkpoint']);
}

/** The audit after an insider write: exit 1, and exactly the findings with the codes given (in leaf order). */
async function expectFindings(codes: string[]): Promise<Finding[]> {
  const r = await monitor();
  expect(r.code, r.stdout + r.stderr).toBe(1);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  const findings = lines(r.stdout).filter((l) => l['kind'] === 'finding') as unknown as Finding[];
  expect(findings.map((f) => f.code)).toEqual(codes);
  for (const f of findings) expect(f.step).toBe('invariants');
  return findings;
}

beforeAll(async () => {
  t = await startTestLedger({ dataDir: join(work, 'ledger') });
  writeFileSync(tokenFile, `${t.tokens.auditor}\n`, { mode: 0o600 });
  ledgerKey = (await (await fetch(`${t.url}/v1/ledger/key`, { headers: auth() })).text()).trim();
}, 60_000);
afterAll(async () => {
  await t?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('flashtrail monitor: an insider breaks each unit invariant (§16.2)', () => {
  it('IDENTITY_CONFLICT: a second unit scanned with the chip id and MAC of the first', async () => {
    await flash('ID-1');
    await expectClean();
    const first = (await t.running.store.readStream(unitStream('ID-1')))[0]!;
    const scanned = decodeTrustedEnvelope(first.data).event as EventOf<'UnitScanned'>;
    const { chipId, mac } = scanned.data as { chipId: string; mac: string };
    expect(chipId).toBeTruthy();
    expect(mac).toBeTruthy();
    const firstLeaf = await leafOf(scanned.id);

    const id = await insider('ID-2', 'UnitScanned', { ...scanData('ID-2'), chipId, mac });
    const leaf = await leafOf(id);
    const [byChip, byMac] = await expectFindings(['IDENTITY_CONFLICT', 'IDENTITY_CONFLICT']);
    for (const f of [byChip!, byMac!]) {
      expect(f.leafIndex).toBe(leaf);
      expect(f.evidence).toMatchObject({ serial: 'ID-2', serials: ['ID-1', 'ID-2'], event: { leafIndex: leaf, eventId: id, eventType: 'UnitScanned' }, first: { leafIndex: firstLeaf, eventId: scanned.id } });
    }
    expect(byChip!.evidence['chipId']).toBe(chipId);
    expect(byMac!.evidence['mac']).toBe(mac);
    expect(byMac!.message).toContain(`which unit ID-1 reported at leaf ${firstLeaf}`);
  });

  it('IDENTITY_CONFLICT: one serial scanned again on a second device (another chip id and MAC)', async () => {
    await flash('ID-3', 'pass-unshipped');
    await expectClean();
    const scanned = decodeTrustedEnvelope((await t.running.store.readStream(unitStream('ID-3')))[0]!.data).event as EventOf<'UnitScanned'>;
    const { chipId, mac } = scanned.data as { chipId: string; mac: string };
    const firstLeaf = await leafOf(scanned.id);

    const clone = { chipId: 'esp32s3-c10ec10ec10e', mac: '24:0a:c4:c1:0e:01' };
    const id = await insider('ID-3', 'UnitScanned', { ...scanData('ID-3'), ...clone });
    const leaf = await leafOf(id);
    const [byChip, byMac] = await expectFindings(['IDENTITY_CONFLICT', 'IDENTITY_CONFLICT']);
    for (const f of [byChip!, byMac!]) {
      expect(f.leafIndex).toBe(leaf);
      expect(f.evidence).toMatchObject({ serial: 'ID-3', event: { leafIndex: leaf, eventId: id }, first: { leafIndex: firstLeaf, eventId: scanned.id } });
      expect(f.message).toContain('two devices carry this serial');
    }
    expect(byChip!.evidence['chipId']).toEqual([chipId, clone.chipId]);
    expect(byMac!.evidence['mac']).toEqual([mac, clone.mac]);
  });

  it('EVENT_AFTER_SCRAP: a unit written to again after its UnitScrapped', async () => {
    await flash('SC-1', 'scrap-after-mismatch');
    await expectClean();
    const scrapped = (await t.running.store.readStream(unitStream('SC-1'))).at(-1)!;
    expect(scrapped.type).toBe('UnitScrapped');
    const scrapLeaf = await leafOf(decodeTrustedEnvelope(scrapped.data).event.id);

    const id = await insider('SC-1', 'UnitShipped', { serial: 'SC-1', customer: 'ACME Robotics', orderRef: 'PO-4711' });
    const leaf = await leafOf(id);
    const [f] = await expectFindings(['EVENT_AFTER_SCRAP']);
    expect(f!.leafIndex).toBe(leaf);
    expect(f!.evidence).toMatchObject({ serial: 'SC-1', event: { leafIndex: leaf, eventId: id, eventType: 'UnitShipped' }, scrapped: { leafIndex: scrapLeaf, eventType: 'UnitScrapped' } });
  });

  it('EVENT_AFTER_SHIP: a shipped unit re-flashed at the factory, not by a field update', async () => {
    await flash('SH-1', 'pass');
    await expectClean();
    const shipped = (await t.running.store.readStream(unitStream('SH-1'))).at(-1)!;
    expect(shipped.type).toBe('UnitShipped');
    const shipLeaf = await leafOf(decodeTrustedEnvelope(shipped.data).event.id);

    const r = t.release;
    const id = await insider('SH-1', 'BootloaderWritten', { serial: 'SH-1', imageSha256: r.bootloader.sha256, version: r.bootloader.version, sizeBytes: r.bootloader.sizeBytes, signingKeyRef: 'sb-key', signingKeyDigest: r.signingKeyDigest });
    const leaf = await leafOf(id);
    const [f] = await expectFindings(['EVENT_AFTER_SHIP']);
    expect(f!.leafIndex).toBe(leaf);
    expect(f!.evidence).toMatchObject({ serial: 'SH-1', event: { leafIndex: leaf, eventId: id, eventType: 'BootloaderWritten' }, shipped: { leafIndex: shipLeaf, eventType: 'UnitShipped' } });
  });

  it('BATCH_OVER_PLANNED: a unit scanned into a batch that already holds its planned quantity', async () => {
    const opened = t.admin.sign('BatchOpened', { batchId: 'B-SMALL', line: 'L1', plannedQuantity: 2, releaseId: t.release.releaseId, productSku: t.release.productSku });
    await t.adminClient.appendAdmin([opened.envelope]);
    await flash('BO-1', 'pass', 'B-SMALL');
    await flash('BO-2', 'pass', 'B-SMALL');
    await expectClean();
    const openedLeaf = await leafOf(opened.event.id);

    const id = await insider('BO-3', 'UnitScanned', scanData('BO-3', 'B-SMALL'));
    const leaf = await leafOf(id);
    const [f] = await expectFindings(['BATCH_OVER_PLANNED']);
    expect(f!.leafIndex).toBe(leaf);
    expect(f!.evidence).toMatchObject({ serial: 'BO-3', batchId: 'B-SMALL', planned: 2, units: 3, event: { leafIndex: leaf, eventId: id }, batchOpened: { leafIndex: openedLeaf, eventType: 'BatchOpened' } });
  });

  it('IMAGE_NOT_APPROVED: a device-reported application its release does not name', async () => {
    const r = t.release;
    const scan = await insider('IM-1', 'UnitScanned', scanData('IM-1'));
    expect(scan).toBeTruthy();
    await insider('IM-1', 'BootloaderWritten', { serial: 'IM-1', imageSha256: r.bootloader.sha256, version: r.bootloader.version, sizeBytes: r.bootloader.sizeBytes, signingKeyRef: 'sb-key', signingKeyDigest: r.signingKeyDigest });
    // Written like the station writes them, these are genuine: the monitor finds nothing in them.
    await expectClean();

    const other = 'e7'.repeat(32);
    const id = await insider('IM-1', 'AppVerified', { serial: 'IM-1', imageSha256: other, version: r.application.version, sizeBytes: r.application.sizeBytes, reportedSha256: other, method: 'device_report', result: 'pass' });
    const leaf = await leafOf(id);
    const [f] = await expectFindings(['IMAGE_NOT_APPROVED']);
    expect(f!.leafIndex).toBe(leaf);
    expect(f!.evidence).toMatchObject({ serial: 'IM-1', releaseId: r.releaseId, image: 'application', reported: other, approved: [r.application.sha256], event: { leafIndex: leaf, eventId: id, eventType: 'AppVerified' } });
  });
});
