/**
 * flashtrail.export.v4 end to end (docs/format.md §7.6.2, issue 15): an export from a real ledger that keeps the
 * unit history map, verified with the index log key pinned, in process and by `flashtrail verify --map-key`.
 *   - genuine: every unit's history complete as of the checkpoint;
 *   - a unit's last event dropped and the statement re-signed with the ledger key: HISTORY_INCOMPLETE naming the
 *     unit, its line and what is missing (without the index log key it verifies, and says completeness is not proven);
 *   - a unit whose map proof is from another checkpoint's map, and a history record for another checkpoint;
 *   - a v3 export (no history) verified with the index log key: HISTORY_INCOMPLETE.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestLedger, type TestLedger } from './helpers/ledger-fixture.ts';
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
import { missingPython, PYTHON } from './helpers/python.ts';

const ROOT = join(fileURLToPath(import.meta.url), '..', '..');
const pythonMissing = missingPython('cryptography');
if (pythonMissing) console.warn(`independent v4 export check skipped: ${pythonMissing}`);
/** The independent verifier (test/interop/python, docs/format.md alone): its last stdout line is its verdict. */
const independent = async (file: string, withMap = true) => {
  const r = await run(PYTHON, [join(ROOT, 'test', 'interop', 'python', 'flashtrail_verify.py'), '--ledger-key', ledgerKey, ...(withMap ? ['--map-key', mapKey] : []), file], { timeout: 60_000 }).catch((e: { stdout: string }) => e);
  return JSON.parse((r as { stdout: string }).stdout.trim().split('\n').pop() as string) as { ok: boolean; code?: string; message?: string; where?: Record<string, unknown>; history?: { asOfSize: number } };
};
const run = promisify(execFile);
const cli = (args: string[]) => run(process.execPath, [join(ROOT, 'bin', 'flashtrail.js'), ...args]).then((r) => ({ code: 0, ...r }), (e: { code: number; stdout: string; stderr: string }) => e);

const work = mkdtempSync(join(tmpdir(), 'flashtrail-export-history-'));
let t: TestLedger;
let ledgerKey: string;
let mapKey: string;
let ledgerSigner: Signer;
/** Exported before and after H-2's shipment. */
let early: string[];
let late: string[];

type Rec = { record: string; serial?: string; events?: { leafIndex: number }[]; history?: unknown; format?: string; [k: string]: unknown };
const lines = (file: string) => readFileSync(file, 'utf8').trimEnd().split('\n');
const write = (name: string, ls: string[]) => {
  const file = join(work, name);
  writeFileSync(file, ls.map((l) => l + '\n').join(''));
  return file;
};

/** What a holder of the ledger key can do: re-sign a statement over edited records (digest and counts recomputed). */
function forge(ls: string[], edit: (s: { predicateType: string; predicate: Record<string, unknown> }) => void = () => undefined): string[] {
  const body = ls.slice(0, -1);
  const old = JSON.parse(ls[ls.length - 1] as string) as { envelope: DsseEnvelope };
  const statement = JSON.parse(fromUtf8(fromBase64(old.envelope.payload))) as { predicateType: string; predicate: Record<string, unknown> };
  const records = body.map((l) => JSON.parse(l) as Rec);
  statement.predicate['content'] = {
    sha256: createHash('sha256').update(body.map((l) => l + '\n').join('')).digest('hex'),
    records: body.length,
    units: records.filter((r) => r.record === 'unit').length,
    events: records.reduce((n, r) => n + (r.record === 'unit' ? (r.events?.length ?? 0) : 0), 0),
  };
  edit(statement);
  const envelope = signEnvelope('application/vnd.in-toto+json', canonicalBytes(statement), ledgerSigner);
  return [...body, canonicalize({ record: 'statement', envelope })];
}

const unitLine = (ls: string[], serial: string) => ls.findIndex((l) => (JSON.parse(l) as Rec).serial === serial);

beforeAll(async () => {
  t = await startTestLedger();
  ledgerSigner = t.running.identity.key;
  const signer = new EventSigner(t.stationKeys['ST-01'], 'ST-01');
  const stationClient = new LedgerClient(t.url, t.tokens.station1);
  const station = new SimulatedStation(stationClient, signer, { stationId: 'ST-01', operator: 'op', batchId: t.batchId, hardwareRevision: 'rev-C' }, t.release);
  await station.flash('H-1', 'pass');
  await station.flash('H-2', 'pass-unshipped');
  const earlyFile = join(work, 'early.ndjson');
  await exportToFile(t.url, t.tokens.auditor, { batchId: t.batchId }, earlyFile, () => undefined);
  await stationClient.append([signer.sign('UnitShipped', { serial: 'H-2', customer: 'ACME Robotics', orderRef: 'PO-4711' }).envelope]);
  const lateFile = join(work, 'late.ndjson');
  await exportToFile(t.url, t.tokens.auditor, { batchId: t.batchId }, lateFile, () => undefined);
  early = lines(earlyFile);
  late = lines(lateFile);
  const key = async (path: string) => (await (await fetch(`${t.url}${path}`, { headers: { authorization: `Bearer ${t.tokens.auditor}` } })).text()).trim();
  ledgerKey = await key('/v1/ledger/key');
  mapKey = await key('/v1/unit-map/key');
}, 120_000);
afterAll(async () => {
  await t?.stop();
  rmSync(work, { recursive: true, force: true });
});

const verify = (file: string, withMap = true) => verifyExportFile(file, parseVerifierKey(ledgerKey), { workers: 1, ...(withMap ? { mapKey: parseVerifierKey(mapKey) } : {}) });

describe('flashtrail.export.v4: per-unit history', () => {
  it('a ledger with a unit history map writes v4: a history record at line 3, a map proof in every unit record', async () => {
    const records = late.map((l) => JSON.parse(l) as Rec);
    expect(records[0]).toMatchObject({ record: 'header', format: 'flashtrail.export.v4' });
    expect(records[2]).toMatchObject({ record: 'history' });
    expect(Object.keys(records[2] as object).sort()).toEqual(['commitment', 'mapRoot', 'record']);
    const units = records.filter((r) => r.record === 'unit');
    expect(units.map((u) => u.serial)).toEqual(['H-1', 'H-2']);
    for (const u of units) expect(Object.keys(u.history as object).sort()).toEqual(['proof', 'value']);
  });

  it('flashtrail export says which version it wrote and how to check its history', async () => {
    const tokenFile = join(work, 'auditor.token');
    writeFileSync(tokenFile, t.tokens.auditor + '\n', { mode: 0o600 });
    const out = join(work, 'cli.ndjson');
    const r = await cli(['export', '--url', t.url, '--token-file', tokenFile, '--batch', t.batchId, '--out', out]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`flashtrail.export.v4: every unit carries its map proof; flashtrail verify ${out} --map-key`);
    expect((JSON.parse(lines(out)[0] as string) as Rec).format).toBe('flashtrail.export.v4');
  });

  it('proves every unit complete as of the checkpoint with the index log key, and says so only then', async () => {
    const file = write('genuine.ndjson', late);
    const report = await verify(file);
    expect(report.format).toBe('flashtrail.export.v4');
    expect(report.history?.size).toBe(report.checkpoint.size);
    expect(report.steps.find((s) => s.step === 'history')?.detail).toMatch(/committed for tree size \d+ in the index log/);
    expect(report.notProven.join(' ')).not.toContain('holds every event of its unit');
    const unpinned = await verify(file, false);
    expect(unpinned.history).toBeUndefined();
    expect(unpinned.steps.find((s) => s.step === 'history')?.detail).toMatch(/^not checked: pin the index log key/);
    expect(unpinned.notProven.join(' ')).toContain('holds every event of its unit');
    if (!pythonMissing) {
      expect(await independent(file)).toMatchObject({ ok: true, format: 'flashtrail.export.v4', history: { asOfSize: report.checkpoint.size } });
      expect((await independent(file, false)).history).toBeUndefined();
    }
    const r = await cli(['verify', file, '--ledger-key', ledgerKey, '--map-key', mapKey]);
    expect(r.stdout).toMatch(/ok +history +map root/);
    expect(r.stdout).toContain(`complete: every unit's events are all its events as of checkpoint size ${report.checkpoint.size}`);
    expect(r.code).toBe(0);
  });

  it("names the unit, its line and what is missing when a unit's last event is dropped and the statement re-signed", async () => {
    const i = unitLine(late, 'H-2');
    const rec = JSON.parse(late[i] as string) as Rec & { events: { leafIndex: number }[] };
    const last = rec.events[rec.events.length - 1]!;
    const shortened = [...late];
    shortened[i] = canonicalize({ ...rec, events: rec.events.slice(0, -1) });
    const file = write('dropped.ndjson', forge(shortened));
    await expect(verify(file)).rejects.toMatchObject({
      code: 'HISTORY_INCOMPLETE',
      location: { line: i + 1, serial: 'H-2', field: 'history', leafIndex: last.leafIndex },
      message: expect.stringMatching(new RegExp(`unit H-2: the log's first \\d+ leaves hold ${rec.events.length} event\\(s\\) of it up to leaf ${last.leafIndex}; the document holds ${rec.events.length - 1} event\\(s\\).*1 event\\(s\\) are missing, the last at leaf ${last.leafIndex}`)),
    });
    // The ledger key alone re-signs it: without the index log key it verifies, completeness unclaimed.
    expect((await verify(file, false)).notProven.join(' ')).toContain('holds every event of its unit');
    const r = await cli(['verify', file, '--ledger-key', ledgerKey, '--map-key', mapKey]);
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toContain('HISTORY_INCOMPLETE');
    expect(r.stdout + r.stderr).toContain('unit H-2');
    if (!pythonMissing) expect(await independent(file)).toMatchObject({ ok: false, code: 'HISTORY_INCOMPLETE', where: { line: i + 1, serial: 'H-2', leafIndex: last.leafIndex } });
  });

  it("refuses a unit whose map proof is another checkpoint's, and a history record for another checkpoint", async () => {
    // H-2's record and map proof from the early export (before its shipment), in the late export.
    const i = unitLine(late, 'H-2');
    const rec = JSON.parse(late[i] as string) as Rec;
    const earlier = JSON.parse(early[unitLine(early, 'H-2')] as string) as Rec;
    const stale = [...late];
    stale[i] = canonicalize({ ...rec, history: earlier.history });
    await expect(verify(write('stale-proof.ndjson', forge(stale)))).rejects.toMatchObject({ code: 'HISTORY_INCOMPLETE', location: { line: i + 1, serial: 'H-2', field: 'history' } });
    // The early export's history record (its map root and commitment) in the late export.
    const otherRoot = [...late];
    otherRoot[2] = early[2] as string;
    await expect(verify(write('other-checkpoint.ndjson', forge(otherRoot)))).rejects.toMatchObject({ code: 'HISTORY_INCOMPLETE', location: { line: 3, field: 'commitment' }, message: expect.stringContaining('is not what the index log commits for checkpoint') });
  });

  it('refuses an export without history (v3) when the index log key is pinned, as provenance does', async () => {
    const v3 = late
      .filter((l) => (JSON.parse(l) as Rec).record !== 'history')
      .map((l) => {
        const rec = JSON.parse(l) as Rec;
        if (rec.record === 'header') return canonicalize({ ...rec, format: 'flashtrail.export.v3' });
        if (rec.record !== 'unit') return l;
        const { history: _dropped, ...rest } = rec;
        return canonicalize(rest);
      });
    const file = write('v3.ndjson', forge(v3, (s) => {
      s.predicateType = 'https://flashtrail.dev/attestation/traceability-export/v3';
      s.predicate['format'] = 'flashtrail.export.v3';
    }));
    expect((await verify(file, false)).format).toBe('flashtrail.export.v3');
    await expect(verify(file)).rejects.toMatchObject({ code: 'HISTORY_INCOMPLETE', step: 'history', message: expect.stringContaining('carries no history') });
  });

  it('refuses a v4 export whose third line is not the history record, and a unit record without its map proof', async () => {
    const noHistory = late.filter((_, n) => n !== 2);
    await expect(verify(write('no-history-record.ndjson', forge(noHistory)))).rejects.toMatchObject({ code: 'FORMAT_ERROR', location: { line: 3 } });
    const i = unitLine(late, 'H-1');
    const { history: _dropped, ...rest } = JSON.parse(late[i] as string) as Rec;
    const bare = [...late];
    bare[i] = canonicalize(rest);
    await expect(verify(write('unit-without-proof.ndjson', forge(bare)), false)).rejects.toMatchObject({ code: 'FORMAT_ERROR', location: { line: i + 1, field: 'history' } });
  });
});
