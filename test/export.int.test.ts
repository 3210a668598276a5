/**
 * Signed exports end to end: a simulated batch exported through the real API, verified offline with the
 * native and the portable Ed25519 paths (identical verdicts), every tamper case detected and located, and
 * the closing DSSE envelope verified by python3-cryptography.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestLedger, type TestLedger } from './helpers/ledger-fixture.ts';
import { runSimulation } from '../src/sim/run-simulation.ts';
import { exportToFile } from '../src/cli/commands/export.ts';
import { verifyExportFile, type ExportReport } from '../src/native/export-verifier.ts';
import { parseVerifierKey, VerificationError } from '../src/verify/index.ts';
import { canonicalBytes } from '../src/crypto/jcs.ts';
import { fromBase64, fromUtf8, toBase64, toHex, utf8 } from '../src/crypto/encoding.ts';
import { newSigner } from '../src/crypto/ed25519.ts';
import { EventSigner } from '../src/event/signer.ts';
import { signNote, parseNote } from '../src/tlog/note.ts';
import type { DsseEnvelope } from '../src/crypto/dsse.ts';
import { ExportRecordSchema, InTotoStatementSchema } from '../schemas/export.ts';

const ROOT = join(fileURLToPath(import.meta.url), '..', '..');
const python = '/usr/bin/python3';
const pythonSkip = (() => {
  try {
    execFileSync(python, ['-c', 'import cryptography'], { stdio: 'ignore' });
    return null;
  } catch {
    return `${python} with python3-cryptography is not installed (apt-get install python3-cryptography)`;
  }
})();
if (pythonSkip) console.warn(`DSSE interop test skipped: ${pythonSkip}`);
const run = promisify(execFile);
let t: TestLedger;
let dir: string;
let file: string;
let verifierKey: string;
let batchId: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'flashtrail-export-'));
  t = await startTestLedger();
  const sim = await runSimulation({
    units: 60, stations: 2, seed: 5, failureRates: { 'read-back-images': 0.1, 'write-nvs': 0.05 }, maxRetriesPerStep: 1, maxReworks: 1, defectRate: 0.02,
    drift: { station: 'ST-02', fromMinute: 0, minutes: 10 }, cycleSeconds: 60, dataDir: t.dataDir, url: t.url, json: false, out: () => undefined, progress: () => undefined,
  });
  batchId = sim.batchId;
  file = join(dir, 'batch.ndjson');
  const progress: string[] = [];
  const result = await exportToFile(t.url, t.tokens.auditor, { batchId }, file, (l) => progress.push(l));
  expect(result.units).toBe(60);
  expect(progress[progress.length - 1]).toMatch(/exported 60\/60 units/);
  verifierKey = (await (await fetch(`${t.url}/v1/ledger/key`, { headers: { authorization: `Bearer ${t.tokens.auditor}` } })).text()).trim();
}, 120_000);
afterAll(async () => {
  await t.stop();
  rmSync(dir, { recursive: true, force: true });
});

const key = () => parseVerifierKey(verifierKey);
const strip = (r: ExportReport) => ({ ...r, threads: 0, crypto: '', steps: r.steps.map((s) => s.step) });

async function verdict(path: string, portable: boolean): Promise<string> {
  try {
    await verifyExportFile(path, key(), { portable, workers: 2 });
    return 'ok';
  } catch (error) {
    if (!(error instanceof VerificationError)) throw error;
    return `${error.code} ${error.step} ${JSON.stringify(error.location)}`;
  }
}

/** Rewrites the export, line by line, and returns both verifiers' verdicts, which must agree. */
async function tampered(name: string, edit: (lines: string[]) => string[]): Promise<string> {
  const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
  const path = join(dir, `${name}.ndjson`);
  writeFileSync(path, edit(lines).join('\n') + '\n');
  const [native, portable] = [await verdict(path, false), await verdict(path, true)];
  expect(portable, 'native and portable verdicts differ').toBe(native);
  return native;
}

const unitLine = (lines: string[]) => lines.findIndex((l) => l.startsWith('{"record":"unit"') && (JSON.parse(l) as { events: unknown[] }).events.length >= 5);
const mapUnit = (lines: string[], f: (u: { serial: string; events: { leafIndex: number; envelope: DsseEnvelope; proof: string[] }[] }) => void) => {
  const i = unitLine(lines);
  const u = JSON.parse(lines[i] as string) as Parameters<typeof f>[0];
  f(u);
  return lines.map((l, j) => (j === i ? JSON.stringify(u) : l));
};

/** The closing statement with its subjects removed and its signature kept: a forgery of the ledger's statement. */
const forgedStatement = (lines: string[]) =>
  lines.map((l, i) => {
    if (i !== lines.length - 1) return l;
    const r = JSON.parse(l) as { envelope: DsseEnvelope };
    const statement = JSON.parse(fromUtf8(fromBase64(r.envelope.payload))) as Record<string, unknown>;
    const resigned = { ...r.envelope, payload: toBase64(canonicalBytes({ ...statement, subject: [] })) };
    return JSON.stringify({ record: 'statement', envelope: resigned });
  });

describe('signed exports', () => {
  it('round trip: everything verifies, with identical reports from the native and portable paths, and a CSV for people', async () => {
    const native = await verifyExportFile(file, key(), { workers: 2 });
    const portable = await verifyExportFile(file, key(), { portable: true, workers: 1 });
    expect(native.units).toBe(60);
    expect(native.events).toBeGreaterThan(300);
    expect(strip(portable)).toEqual(strip(native));
    expect(native.steps.map((s) => s.step)).toEqual(['format', 'checkpoint', 'keys', 'units', 'statement']);
    // The bootloader and application the units' read-backs verified against their release (the drifted image never verified).
    expect(native.firmware.map((f) => f.name).sort()).toEqual(['app of release fw-3.0.0', 'bootloader of release fw-3.0.0']);
    const csv = readFileSync(join(dir, 'batch.csv'), 'utf8').trim().split('\r\n');
    expect(csv).toHaveLength(61);
    expect(csv[0]).toBe('serial,batch_id,release_id,status,bootloader_sha256,application_sha256,first_event_at,efuse_burned_at,shipped_at,customer');
  });

  it('every record, and the statement, match the published schemas', () => {
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    for (const [i, line] of lines.entries()) {
      const parsed = ExportRecordSchema.safeParse(JSON.parse(line));
      expect(parsed.success, `line ${i + 1}: ${parsed.success ? '' : JSON.stringify(parsed.error.issues[0])}`).toBe(true);
    }
    const statement = JSON.parse(lines[lines.length - 1] as string) as { envelope: DsseEnvelope };
    expect(InTotoStatementSchema.safeParse(JSON.parse(fromUtf8(fromBase64(statement.envelope.payload)))).success).toBe(true);
  });

  it('an export that selects no unit still proves its key records', async () => {
    const empty = join(dir, 'empty.ndjson');
    expect((await exportToFile(t.url, t.tokens.auditor, { serials: ['NO-SUCH-UNIT'] }, empty, () => undefined)).units).toBe(0);
    const report = await verifyExportFile(empty, key(), { workers: 1 });
    expect(report).toMatchObject({ units: 0, events: 0 });
    expect(report.steps.map((s) => s.step)).toEqual(['format', 'checkpoint', 'keys', 'units', 'statement']);
    const lines = readFileSync(empty, 'utf8').trimEnd().split('\n');
    const i = lines.findIndex((l) => l.startsWith('{"record":"station"'));
    const record = JSON.parse(lines[i] as string) as { proof: string[] };
    record.proof = record.proof.slice(1);
    lines[i] = JSON.stringify(record);
    writeFileSync(empty, lines.join('\n') + '\n');
    await expect(verifyExportFile(empty, key(), { workers: 1 })).rejects.toMatchObject({ code: 'INCLUSION_PROOF_ERROR' });
  });

  it('flashtrail verify recognises an export and reports it', async () => {
    const r = await run(process.execPath, [join(ROOT, 'bin', 'flashtrail.js'), 'verify', file, '--ledger-key', verifierKey, '--workers', '2']);
    expect(r.stdout).toMatch(/ok +statement/);
    expect(r.stdout).toMatch(/verified: 60 units/);
  });

  it('a changed byte in an event: SIGNATURE_ERROR, located by line, unit and event', async () => {
    const v = await tampered('data', (lines) =>
      mapUnit(lines, (u) => {
        const e = u.events[1]!;
        const payload = fromUtf8(fromBase64(e.envelope.payload)).replace('"operator":"op-sim"', '"operator":"op-sjm"');
        e.envelope = { ...e.envelope, payload: toBase64(utf8(payload)) };
      }),
    );
    expect(v).toMatch(/^SIGNATURE_ERROR unit .*"eventType":"IdentityRead".*"serial":"SN/);
    expect(v).toMatch(/"line":\d+/);
  });

  it('a changed signature: SIGNATURE_ERROR', async () => {
    expect(
      await tampered('sig', (lines) =>
        mapUnit(lines, (u) => {
          const e = u.events[2]!;
          const sig = fromBase64(e.envelope.signatures[0]!.sig);
          sig[7] = (sig[7] as number) ^ 4;
          e.envelope = { ...e.envelope, signatures: [{ keyid: e.envelope.signatures[0]!.keyid, sig: toBase64(sig) }] };
        }),
      ),
    ).toMatch(/^SIGNATURE_ERROR unit/);
  });

  it('a deleted event and two swapped events: CHAIN_BROKEN', async () => {
    expect(await tampered('deleted', (lines) => mapUnit(lines, (u) => u.events.splice(2, 1)))).toMatch(/^CHAIN_BROKEN unit/);
    expect(await tampered('swapped', (lines) => mapUnit(lines, (u) => ([u.events[2], u.events[3]] = [u.events[3]!, u.events[2]!])))).toMatch(/^CHAIN_BROKEN unit/);
  });

  it('a station key record replaced: KEY_UNKNOWN', async () => {
    const v = await tampered('key', (lines) =>
      lines.map((l) => {
        if (!l.startsWith('{"record":"station"')) return l;
        const r = JSON.parse(l) as { envelope: DsseEnvelope };
        const event = JSON.parse(fromUtf8(fromBase64(r.envelope.payload))) as { type: string; id: string; prev: string | null; data: { stationId: string } };
        if (event.type !== 'StationKeyRegistered') return l;
        const rogue = newSigner();
        const forged = new EventSigner(rogue, 'admin').sign('StationKeyRegistered', { stationId: event.data.stationId, keyId: rogue.keyId, publicKey: toHex(rogue.publicKey), algorithm: 'ed25519' }, { id: event.id, prev: event.prev });
        return JSON.stringify({ ...r, envelope: forged.envelope });
      }),
    );
    expect(v).toMatch(/^KEY_UNKNOWN stations/);
  });

  it('a checkpoint from another key: CHECKPOINT_SIGNATURE_ERROR; a forged statement: STATEMENT_SIGNATURE_ERROR', async () => {
    const other = newSigner();
    expect(
      await tampered('checkpoint', (lines) =>
        lines.map((l, i) => (i === 1 ? JSON.stringify({ record: 'checkpoint', note: signNote(parseNote((JSON.parse(l) as { note: string }).note).text, key().name, other.secretKey, other.publicKey) }) : l)),
      ),
    ).toMatch(/^CHECKPOINT_SIGNATURE_ERROR checkpoint/);
    expect(await tampered('statement', forgedStatement)).toMatch(/^STATEMENT_SIGNATURE_ERROR statement/);
  });

  it('a removed unit record: CONTENT_DIGEST_ERROR; a truncated file: FORMAT_ERROR', async () => {
    expect(await tampered('removed', (lines) => lines.filter((_l, i) => i !== unitLine(lines)))).toMatch(/^CONTENT_DIGEST_ERROR statement/);
    expect(await tampered('truncated', (lines) => lines.slice(0, -1))).toMatch(/^FORMAT_ERROR statement/);
  });

  it.skipIf(pythonSkip !== null)('the closing DSSE envelope verifies with python3-cryptography (a DSSE implementation we did not write)', async () => {
    const publicKey = toHex(key().publicKey);
    const ok = await run(python, [join(ROOT, 'test', 'interop', 'python', 'verify_dsse.py'), file, publicKey]);
    expect(ok.stdout).toMatch(/^https:\/\/flashtrail.dev\/attestation\/traceability-export\/v1 [0-9a-f]{64}/);
    const bad = join(dir, 'forged-statement-for-python.ndjson');
    writeFileSync(bad, forgedStatement(readFileSync(file, 'utf8').trimEnd().split('\n')).join('\n') + '\n');
    await expect(run(python, [join(ROOT, 'test', 'interop', 'python', 'verify_dsse.py'), bad, publicKey])).rejects.toMatchObject({ stderr: expect.stringMatching(/FAIL/) });
  });
});
