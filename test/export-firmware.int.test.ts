/**
 * flashtrail.export.v5 end to end (docs/format.md §7.6.3, issue 15): "every unit carrying firmware X", in the
 * export, proved. A real ledger (HTTP on loopback, SQLite files) flashes three units, one of which reported another
 * application image before its rework; `flashtrail export --firmware` writes v5, `flashtrail verify --map-key`
 * says that the export is complete for the firmware as of checkpoint N. Then what a holder of the ledger key can
 * do, each with the statement re-signed: drop a unit record (EXPORT_INCOMPLETE naming it), add a unit that does
 * not carry the firmware (SELECTION_MISMATCH), move a serial from now to formerly, or put another digest's map
 * proof in (FIRMWARE_UNITS_INCOMPLETE). A selection that also names a batch narrows: proved, counted, not complete.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestLedger, type TestLedger } from './helpers/ledger-fixture.ts';
import { runCli } from './helpers/cli.ts';
import { SimulatedStation } from '../src/sim/simulated-station.ts';
import { LedgerClient } from '../src/client/ledger-client.ts';
import { EventSigner } from '../src/event/signer.ts';
import { exportToFile } from '../src/cli/commands/export.ts';
import { verifyExportFile } from '../src/native/export-verifier.ts';
import { parseVerifierKey } from '../src/verify/index.ts';
import { canonicalBytes, canonicalize } from '../src/crypto/jcs.ts';
import { signEnvelope, type DsseEnvelope } from '../src/crypto/dsse.ts';
import { fromBase64, fromUtf8 } from '../src/crypto/encoding.ts';
import type { Signer } from '../src/crypto/ed25519.ts';

const work = mkdtempSync(join(tmpdir(), 'flashtrail-export-firmware-'));
let t: TestLedger;
let ledgerKey: string;
let mapKey: string;
let ledgerSigner: Signer;
let app: string;
/** The application digest F-2's device reported before its rework: F-2 carried it formerly. */
let mismatched: string;
/** v5 exports of the same checkpoint: the approved application, and the digest F-2 carried formerly. */
let byApp: string[];
let byMismatch: string[];

type Rec = { record: string; serial?: string; events?: unknown[]; now?: string[]; formerly?: string[]; firmware?: unknown; format?: string; [k: string]: unknown };
const lines = (file: string) => readFileSync(file, 'utf8').trimEnd().split('\n');
const parse = (l: string) => JSON.parse(l) as Rec;
const write = (name: string, ls: string[]) => {
  const file = join(work, name);
  writeFileSync(file, ls.map((l) => l + '\n').join(''));
  return file;
};

/** What a holder of the ledger key can do: re-sign a statement over edited records (digest and counts recomputed). */
function forge(ls: string[]): string[] {
  const body = ls.slice(0, -1);
  const old = JSON.parse(ls[ls.length - 1] as string) as { envelope: DsseEnvelope };
  const statement = JSON.parse(fromUtf8(fromBase64(old.envelope.payload))) as { predicate: Record<string, unknown> };
  const records = body.map(parse);
  statement.predicate['content'] = {
    sha256: createHash('sha256').update(body.map((l) => l + '\n').join('')).digest('hex'),
    records: body.length,
    units: records.filter((r) => r.record === 'unit').length,
    events: records.reduce((n, r) => n + (r.record === 'unit' ? (r.events?.length ?? 0) : 0), 0),
  };
  const envelope = signEnvelope('application/vnd.in-toto+json', canonicalBytes(statement), ledgerSigner);
  return [...body, canonicalize({ record: 'statement', envelope })];
}
const unitLine = (ls: string[], serial: string) => ls.findIndex((l) => parse(l).record === 'unit' && parse(l).serial === serial);
const verify = (file: string, withMap = true) => verifyExportFile(file, parseVerifierKey(ledgerKey), { workers: 1, ...(withMap ? { mapKey: parseVerifierKey(mapKey) } : {}) });

beforeAll(async () => {
  t = await startTestLedger();
  ledgerSigner = t.running.identity.key;
  app = t.release.application.sha256;
  const station = new SimulatedStation(new LedgerClient(t.url, t.tokens.station1), new EventSigner(t.stationKeys['ST-01'], 'ST-01'), { stationId: 'ST-01', operator: 'op', batchId: t.batchId, hardwareRevision: 'rev-C' }, t.release);
  await station.flash('F-1', 'pass');
  await station.flash('F-2', 'app-mismatch-then-rework');
  await station.flash('F-3', 'pass');
  const key = async (path: string) => (await (await fetch(`${t.url}${path}`, { headers: { authorization: `Bearer ${t.tokens.auditor}` } })).text()).trim();
  ledgerKey = await key('/v1/ledger/key');
  mapKey = await key('/v1/unit-map/key');
  const answer = async (sha: string) => JSON.parse(await key(`/v1/unit-map/firmware/${sha}`)) as { now: string[]; formerly: string[] };
  const exported = async (selection: { firmwareSha256: string }, name: string) => {
    const file = join(work, name);
    await exportToFile(t.url, t.tokens.auditor, selection, file, () => undefined);
    return lines(file);
  };
  byApp = await exported({ firmwareSha256: app }, 'app.ndjson');
  const f2 = JSON.parse(byApp[unitLine(byApp, 'F-2')] as string) as { events: { envelope: DsseEnvelope }[] };
  const reported = f2.events
    .map((e) => JSON.parse(fromUtf8(fromBase64(e.envelope.payload))) as { type: string; data: { reportedSha256?: string } })
    .find((e) => e.type === 'AppVerified' && e.data.reportedSha256 !== app)?.data.reportedSha256;
  if (!reported) throw new Error('F-2 reported no other application digest before its rework');
  mismatched = reported;
  expect(await answer(mismatched)).toMatchObject({ now: [], formerly: ['F-2'] });
  // No event between the two exports: the same checkpoint, so that records of one are valid proofs in the other.
  byMismatch = await exported({ firmwareSha256: mismatched }, 'mismatch.ndjson');
  expect(parse(byMismatch[1] as string).note).toBe(parse(byApp[1] as string).note);
}, 120_000);
afterAll(async () => {
  await t?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('flashtrail.export.v5: every unit carrying a firmware', () => {
  it('writes the firmware answer after the history record, and exactly its units', () => {
    const records = byApp.map(parse);
    expect(records[0]).toMatchObject({ record: 'header', format: 'flashtrail.export.v5', selection: { firmwareSha256: app } });
    expect(records[2]?.record).toBe('history');
    expect(records[3]).toMatchObject({ record: 'firmware', sha256: app, now: ['F-1', 'F-2', 'F-3'], formerly: [] });
    expect(Object.keys(records[3] as object).sort()).toEqual(['firmware', 'formerly', 'now', 'record', 'sha256']);
    expect(records.filter((r) => r.record === 'unit').map((r) => r.serial)).toEqual(['F-1', 'F-2', 'F-3']);
    expect(byMismatch.map(parse)[3]).toMatchObject({ record: 'firmware', sha256: mismatched, now: [], formerly: ['F-2'] });
  });

  it('flashtrail export then flashtrail verify: complete for the firmware as of checkpoint N', async () => {
    const tokenFile = join(work, 'auditor.token');
    writeFileSync(tokenFile, t.tokens.auditor + '\n', { mode: 0o600 });
    const out = join(work, 'cli.ndjson');
    const exported = await runCli(['export', '--url', t.url, '--token-file', tokenFile, '--firmware', app, '--out', out]);
    expect(exported.code).toBe(0);
    const size = Number((parse(lines(out)[1] as string).note as string).split('\n')[1]);
    expect(exported.stdout).toContain(`flashtrail.export.v5: the firmware answer as of checkpoint ${size} (3 unit(s) carrying it now, 0 formerly)`);
    expect(exported.stdout).toContain('that the file holds every unit of it');
    const verified = await runCli(['verify', out, '--ledger-key', ledgerKey, '--map-key', mapKey]);
    expect(verified.code).toBe(0);
    expect(verified.stdout).toMatch(/ok +firmware +firmware [0-9a-f]{64}: the map proves exactly 3 unit\(s\) carrying it now and 0 formerly/);
    expect(verified.stdout).toContain(`complete: the export holds every unit carrying firmware ${app} (3 now, 0 formerly) as of checkpoint ${size}`);
    expect(verified.stdout).not.toContain('not proven: that the export holds every unit its selection matches');
    // Without the index log key nothing is claimed about completeness.
    const unpinned = await runCli(['verify', out, '--ledger-key', ledgerKey]);
    expect(unpinned.code).toBe(0);
    expect(unpinned.stdout).toContain('firmware answer not checked (3 now, 0 formerly)');
    expect(unpinned.stdout).toContain('not proven: that the export holds every unit its selection matches');
  });

  it('proves the answer and the units in process, formerly too', async () => {
    const report = await verify(write('app.ndjson', byApp));
    expect(report.firmwareAnswer).toMatchObject({ sha256: app, now: 3, formerly: 0, inFile: 3, leftOut: 0, proved: true, complete: true });
    const former = await verify(write('mismatch.ndjson', byMismatch));
    expect(former.firmwareAnswer).toMatchObject({ sha256: mismatched, now: 0, formerly: 1, inFile: 1, proved: true, complete: true });
    expect(former.units).toBe(1);
  });

  it('a unit record removed and the statement re-signed: EXPORT_INCOMPLETE naming the unit', async () => {
    const i = unitLine(byApp, 'F-2');
    const file = write('removed.ndjson', forge(byApp.filter((_, n) => n !== i)));
    await expect(verify(file)).rejects.toMatchObject({ code: 'EXPORT_INCOMPLETE', step: 'completeness', location: { serial: 'F-2', line: i + 1 }, message: expect.stringContaining('unit F-2') });
    // The ledger key alone made it: without the index log key it verifies, and claims nothing about completeness.
    const unpinned = await verify(file, false);
    expect(unpinned.firmwareAnswer).toMatchObject({ proved: false, complete: false });
    expect(unpinned.notProven).toContain('that the export holds every unit its selection matches');
    const r = await runCli(['verify', file, '--ledger-key', ledgerKey, '--map-key', mapKey]);
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toContain('EXPORT_INCOMPLETE');
    expect(r.stdout + r.stderr).toContain('unit F-2');
    // The last unit removed: located at the statement.
    const last = unitLine(byApp, 'F-3');
    await expect(verify(write('removed-last.ndjson', forge(byApp.filter((_, n) => n !== last))))).rejects.toMatchObject({ code: 'EXPORT_INCOMPLETE', location: { serial: 'F-3', line: byApp.length - 1 } });
  });

  it('a unit record of a unit outside the answer: SELECTION_MISMATCH naming it', async () => {
    const f1 = byApp[unitLine(byApp, 'F-1')] as string;
    const added = [...byMismatch.slice(0, unitLine(byMismatch, 'F-2')), f1, ...byMismatch.slice(unitLine(byMismatch, 'F-2'))];
    await expect(verify(write('added.ndjson', forge(added)))).rejects.toMatchObject({ code: 'SELECTION_MISMATCH', location: { serial: 'F-1' } });
    // The same without the index log key: the lists are still held against the units.
    await expect(verify(write('added.ndjson', forge(added)), false)).rejects.toMatchObject({ code: 'SELECTION_MISMATCH', location: { serial: 'F-1' } });
  });

  it('a serial moved from now to formerly, or another digest\'s proof: FIRMWARE_UNITS_INCOMPLETE at line 4', async () => {
    const fw = parse(byApp[3] as string);
    const moved = [...byApp];
    moved[3] = canonicalize({ ...fw, now: ['F-1', 'F-3'], formerly: ['F-2'] });
    await expect(verify(write('moved.ndjson', forge(moved)))).rejects.toMatchObject({ code: 'FIRMWARE_UNITS_INCOMPLETE', step: 'firmware', location: { line: 4 } });
    // Without the index log key the unit's own events still contradict the list it was moved to.
    await expect(verify(write('moved.ndjson', forge(moved)), false)).rejects.toMatchObject({ code: 'FIRMWARE_UNITS_INCOMPLETE', location: { serial: 'F-2' }, message: expect.stringContaining('its events say it carries it now') });
    const otherProof = [...byApp];
    otherProof[3] = canonicalize({ ...fw, firmware: parse(byMismatch[3] as string).firmware });
    await expect(verify(write('other-proof.ndjson', forge(otherProof)))).rejects.toMatchObject({ code: 'FIRMWARE_UNITS_INCOMPLETE', location: { line: 4, field: 'firmware.proof' } });
  });

  it('a selection that also names a batch narrows: the answer proved, every unit in it, the rest counted and not proven', async () => {
    const narrowed = join(work, 'narrowed.ndjson');
    await exportToFile(t.url, t.tokens.auditor, { firmwareSha256: app, batchId: t.batchId }, narrowed, () => undefined);
    const report = await verify(narrowed);
    expect(report.format).toBe('flashtrail.export.v5');
    expect(report.firmwareAnswer).toMatchObject({ proved: true, complete: false, leftOut: 0, inFile: 3, narrowedBy: ['batchId'] });
    expect(report.notProven.join(' ')).toContain("falls outside the selection's batchId");
    // With a unit left out, re-signed: not an error (its batch is not provable from the answer), but counted.
    const ls = lines(narrowed);
    const shortened = await verify(write('narrowed-short.ndjson', forge(ls.filter((_, n) => n !== unitLine(ls, 'F-2')))));
    expect(shortened.firmwareAnswer).toMatchObject({ leftOut: 1, inFile: 2, complete: false });
    // With serials the answer decides: the serials named and carrying it must all be there.
    const some = join(work, 'serials.ndjson');
    await exportToFile(t.url, t.tokens.auditor, { firmwareSha256: app, serials: ['F-1', 'F-3'] }, some, () => undefined);
    const s = lines(some);
    expect((await verify(some)).firmwareAnswer).toMatchObject({ complete: true, inFile: 2 });
    await expect(verify(write('serials-short.ndjson', forge(s.filter((_, n) => n !== unitLine(s, 'F-3')))))).rejects.toMatchObject({ code: 'EXPORT_INCOMPLETE', location: { serial: 'F-3' } });
  });
});
