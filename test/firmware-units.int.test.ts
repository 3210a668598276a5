/**
 * "Units carrying firmware X" (docs/format.md §15.6), end to end on a real ledger: the answer served at
 * GET /v1/unit-map/firmware/:sha256 lists the serials carrying a digest now and formerly, with the map proof of
 * the digest's value under a v2 map root committed by the index log; verifyFirmwareEvidence proves it complete
 * as of the ledger checkpoint, proves the absence of a digest nobody carries, and refuses an answer with a
 * serial removed, added or moved between now and formerly, and one whose proof is against another root.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestLedger, type TestLedger } from './helpers/ledger-fixture.ts';
import { SimulatedStation } from '../src/sim/simulated-station.ts';
import { LedgerClient } from '../src/client/ledger-client.ts';
import { EventSigner } from '../src/event/signer.ts';
import { parseVerifierKey, verifyFirmwareEvidence } from '../src/verify/index.ts';
import { nativeCrypto } from '../src/native/crypto.ts';
import { SqliteEventStore } from '../src/store/sqlite.ts';
import { decodeTrustedEnvelope } from '../src/event/codec.ts';
import type { NoteKey } from '../src/tlog/note.ts';
import type { FirmwareUnitsAnswer } from '../schemas/history.ts';
import { verificationFailure } from './helpers/verification-failure.ts';
import { runCli } from './helpers/cli.ts';
import { writeFileSync } from 'node:fs';
import { formatVerifierKey } from '../src/tlog/note.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'flashtrail-fwmap-'));
let t: TestLedger;
let ledgerKey: NoteKey;
let mapKey: NoteKey;
let mismatched: string;

const get = async (path: string) => {
  const r = await fetch(`${t.url}${path}`, { headers: { authorization: `Bearer ${t.tokens.auditor}` } });
  return { status: r.status, body: r.headers.get('content-type')?.includes('json') ? ((await r.json()) as FirmwareUnitsAnswer) : ((await r.text()) as unknown as FirmwareUnitsAnswer) };
};
const issue = async () => (await fetch(`${t.url}/v1/checkpoint`, { method: 'POST', headers: { authorization: `Bearer ${t.tokens.admin}` } })).text();
const code = (f: () => unknown) => verificationFailure(f)?.code;

beforeAll(async () => {
  t = await startTestLedger({ dataDir });
  const station = new SimulatedStation(new LedgerClient(t.url, t.tokens.station1), new EventSigner(t.stationKeys['ST-01'], 'ST-01'), { stationId: 'ST-01', operator: 'op', batchId: t.batchId, hardwareRevision: 'rev-C' }, t.release);
  await station.flash('F-1', 'pass');
  await station.flash('F-2', 'app-mismatch-then-rework');
  await station.flash('F-3', 'pass');
  await issue();
  ledgerKey = parseVerifierKey((await get('/v1/ledger/key')).body as unknown as string);
  mapKey = parseVerifierKey((await get('/v1/unit-map/key')).body as unknown as string);
  // The digest F-2's device reported before its rework: F-2 carried it, and does not now.
  const store = new SqliteEventStore(join(dataDir, 'events.sqlite'));
  try {
    for (const e of await store.readAll({})) {
      const { event } = decodeTrustedEnvelope(e.data, nativeCrypto);
      const data = event.data as Record<string, unknown>;
      if (event.type === 'AppVerified' && data.reportedSha256 !== t.release.application.sha256) mismatched = data.reportedSha256 as string;
    }
  } finally {
    await store.close();
  }
}, 60_000);
afterAll(async () => {
  await t?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('GET /v1/unit-map/firmware/:sha256', () => {
  it('answers the units carrying the approved application now, proved complete as of the checkpoint', async () => {
    const { status, body } = await get(`/v1/unit-map/firmware/${t.release.application.sha256}`);
    expect(status).toBe(200);
    expect(body.now).toEqual(['F-1', 'F-2', 'F-3']);
    expect(body.formerly).toEqual([]);
    const report = verifyFirmwareEvidence(body, ledgerKey, mapKey, nativeCrypto);
    expect(report).toMatchObject({ sha256: t.release.application.sha256, now: 3, ever: 3 });
    expect(report.size).toBeGreaterThan(0);
  });

  it('names a unit that carried a digest formerly (a failed verification, then a rework)', async () => {
    expect(mismatched).toMatch(/^[0-9a-f]{64}$/);
    const { body } = await get(`/v1/unit-map/firmware/${mismatched}`);
    expect(body).toMatchObject({ now: [], formerly: ['F-2'] });
    expect(verifyFirmwareEvidence(body, ledgerKey, mapKey, nativeCrypto)).toMatchObject({ now: 0, ever: 1 });
  });

  it('proves that nobody carries a digest no unit ever reported', async () => {
    const { body } = await get(`/v1/unit-map/firmware/${'0'.repeat(64)}`);
    expect(body.firmware.value).toBeNull();
    expect(verifyFirmwareEvidence(body, ledgerKey, mapKey, nativeCrypto)).toMatchObject({ now: 0, ever: 0 });
    // Claiming a unit for it is refused.
    expect(code(() => verifyFirmwareEvidence({ ...body, now: ['F-1'] }, ledgerKey, mapKey, nativeCrypto))).toBe('FIRMWARE_UNITS_INCOMPLETE');
  });

  it('refuses an answer with a serial removed, added or moved, and a proof against another root', async () => {
    const app = (await get(`/v1/unit-map/firmware/${t.release.application.sha256}`)).body;
    const former = (await get(`/v1/unit-map/firmware/${mismatched}`)).body;
    const refused = (answer: unknown) => verificationFailure(() => verifyFirmwareEvidence(answer, ledgerKey, mapKey, nativeCrypto));
    expect(refused({ ...app, now: ['F-1', 'F-3'] })?.code).toBe('FIRMWARE_UNITS_INCOMPLETE');
    expect(refused({ ...app, now: ['F-1', 'F-2', 'F-3', 'F-9'] })?.code).toBe('FIRMWARE_UNITS_INCOMPLETE');
    expect(refused({ ...app, now: ['F-1', 'F-3'], formerly: ['F-2'] })?.code).toBe('FIRMWARE_UNITS_INCOMPLETE');
    expect(refused({ ...app, now: ['F-1', 'F-2', 'F-4'] })?.message).toMatch(/other serials/);
    expect(refused({ ...former, now: ['F-2'], formerly: [] })?.code).toBe('FIRMWARE_UNITS_INCOMPLETE');
    // The lists are written strictly ascending (§15.6.1): out of order, or a serial twice, is a malformed answer.
    expect(refused({ ...app, now: [...(app.now as string[])].reverse() })).toMatchObject({ code: 'FORMAT_ERROR', message: expect.stringMatching(/strictly ascending/) });
    expect(refused({ ...app, now: ['F-1', 'F-1', 'F-2', 'F-3'] })?.code).toBe('FORMAT_ERROR');
    expect(refused({ ...app, now: ['F-1', 'F 2', 'F-3'] })?.code).toBe('FORMAT_ERROR');
    // A later checkpoint's root and commitment with this answer's proof: the proof does not verify under it.
    const station = new SimulatedStation(new LedgerClient(t.url, t.tokens.station1), new EventSigner(t.stationKeys['ST-01'], 'ST-01'), { stationId: 'ST-01', operator: 'op', batchId: t.batchId, hardwareRevision: 'rev-C' }, t.release);
    await station.flash('F-5', 'pass');
    await issue();
    const later = (await get(`/v1/unit-map/firmware/${t.release.application.sha256}`)).body;
    expect(later.now).toEqual(['F-1', 'F-2', 'F-3', 'F-5']);
    expect(verifyFirmwareEvidence(later, ledgerKey, mapKey, nativeCrypto).now).toBe(4);
    expect(refused({ ...later, now: app.now, firmware: { ...later.firmware, proof: app.firmware.proof, value: app.firmware.value } })?.code).toBe('FIRMWARE_UNITS_INCOMPLETE');
    // The old answer's map root presented for the later checkpoint: not what the index log commits for it.
    expect(refused({ ...later, firmware: { ...later.firmware, mapRoot: app.firmware.mapRoot } })?.code).toBe('HISTORY_INCOMPLETE');
  });

  it('flashtrail firmware-units says complete as of checkpoint N, or FIRMWARE_UNITS_INCOMPLETE naming the counts', async () => {
    const app = (await get(`/v1/unit-map/firmware/${t.release.application.sha256}`)).body;
    const keys = ['--ledger-key', formatVerifierKey(ledgerKey.name, ledgerKey.publicKey), '--map-key', formatVerifierKey(mapKey.name, mapKey.publicKey)];
    const good = join(dataDir, 'answer.json');
    writeFileSync(good, JSON.stringify(app));
    const ok = await runCli(['firmware-units', t.release.application.sha256, ...keys, '--answer', good]);
    expect(ok.stdout + ok.stderr).toContain(`complete as of checkpoint ${parseInt(app.checkpoint.split('\n')[1] as string, 10)}`);
    expect(ok.code).toBe(0);
    const bad = join(dataDir, 'answer-removed.json');
    writeFileSync(bad, JSON.stringify({ ...app, now: app.now.slice(1) }));
    const refused = await runCli(['firmware-units', t.release.application.sha256, ...keys, '--answer', bad]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('FIRMWARE_UNITS_INCOMPLETE');
  });
});
