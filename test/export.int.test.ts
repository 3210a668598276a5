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
import { canonicalBytes, canonicalize } from '../src/crypto/jcs.ts';
import { signEnvelope } from '../src/crypto/dsse.ts';
import { createHash } from 'node:crypto';
import type { Signer } from '../src/crypto/ed25519.ts';
import { fromBase64, fromUtf8, toBase64, toHex, utf8 } from '../src/crypto/encoding.ts';
import { newSigner } from '../src/crypto/ed25519.ts';
import { EventSigner } from '../src/event/signer.ts';
import { SimulatedStation } from '../src/sim/simulated-station.ts';
import { LedgerClient } from '../src/client/ledger-client.ts';
import { signNote, parseNote } from '../src/tlog/note.ts';
import type { DsseEnvelope } from '../src/crypto/dsse.ts';
import { ExportRecordSchema, ExportRecordV3Schema, InTotoStatementSchema, InTotoStatementV3Schema } from '../schemas/export.ts';

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
let ledgerSigner: Signer;
/** An export of units flashed with the fixture's own station keys, for the cases that re-sign as a station. */
let ownFile: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'flashtrail-export-'));
  t = await startTestLedger();
  const sim = await runSimulation({
    units: 60, stations: 2, seed: 5, failureRates: { 'read-back-images': 0.1, 'write-nvs': 0.05 }, maxRetriesPerStep: 1, maxReworks: 1, defectRate: 0.02,
    drift: { station: 'ST-02', fromMinute: 0, minutes: 10 }, cycleSeconds: 60, dataDir: t.dataDir, url: t.url, json: false, out: () => undefined, progress: () => undefined,
  });
  batchId = sim.batchId;
  ledgerSigner = t.running.identity.key;
  const station = new SimulatedStation(new LedgerClient(t.url, t.tokens.station1), new EventSigner(t.stationKeys['ST-01'], 'ST-01'), { stationId: 'ST-01', operator: 'op', batchId: t.batchId, hardwareRevision: 'rev-C' }, t.release);
  await station.flash('SN-OWN-1', 'pass');
  await station.flash('SN-OWN-2', 'app-mismatch-then-rework');
  ownFile = join(dir, 'own.ndjson');
  await exportToFile(t.url, t.tokens.auditor, { batchId: t.batchId }, ownFile, () => undefined);
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
    return `${error.code} ${error.step} ${canonicalize(error.location)}`;
  }
}

/** Rewrites the export, line by line, and returns both verifiers' verdicts, which must agree. */
async function tampered(name: string, edit: (lines: string[]) => string[], source = file): Promise<string> {
  const lines = readFileSync(source, 'utf8').trimEnd().split('\n');
  const path = join(dir, `${name}.ndjson`);
  writeFileSync(path, edit(lines).join('\n') + '\n');
  const [native, portable] = [await verdict(path, false), await verdict(path, true)];
  expect(portable, 'native and portable verdicts differ').toBe(native);
  return native;
}

const unitLine = (lines: string[]) => lines.findIndex((l) => (JSON.parse(l) as { record: string }).record === 'unit' && (JSON.parse(l) as { events: unknown[] }).events.length >= 5);
const mapUnit = (lines: string[], f: (u: { serial: string; events: { leafIndex: number; envelope: DsseEnvelope; proof: string[] }[] }) => void) => {
  const i = unitLine(lines);
  const u = JSON.parse(lines[i] as string) as Parameters<typeof f>[0];
  f(u);
  return lines.map((l, j) => (j === i ? canonicalize(u) : l));
};

/** The closing statement with its subjects removed and its signature kept: a forgery of the ledger's statement. */
const forgedStatement = (lines: string[]) =>
  lines.map((l, i) => {
    if (i !== lines.length - 1) return l;
    const r = JSON.parse(l) as { envelope: DsseEnvelope };
    const statement = JSON.parse(fromUtf8(fromBase64(r.envelope.payload))) as Record<string, unknown>;
    const resigned = { ...r.envelope, payload: toBase64(canonicalBytes({ ...statement, subject: [] })) };
    return canonicalize({ record: 'statement', envelope: resigned });
  });

/**
 * What a holder of the ledger key can do: edit records, then sign a fresh statement that commits to the edited
 * file (digest and counts recomputed), optionally changing the statement itself too.
 */
function forge(lines: string[], editStatement: (s: Record<string, unknown> & { subject: { name: string; digest: { sha256: string } }[]; predicate: Record<string, unknown> }) => void = () => undefined): string[] {
  const body = lines.slice(0, -1);
  const old = JSON.parse(lines[lines.length - 1] as string) as { envelope: DsseEnvelope };
  const statement = JSON.parse(fromUtf8(fromBase64(old.envelope.payload))) as Parameters<typeof editStatement>[0];
  const records = body.map((l) => JSON.parse(l) as { record: string; events?: unknown[] });
  statement.predicate['content'] = {
    sha256: createHash('sha256').update(body.map((l) => l + '\n').join('')).digest('hex'),
    records: body.length,
    units: records.filter((r) => r.record === 'unit').length,
    events: records.reduce((n, r) => n + (r.record === 'unit' ? (r.events?.length ?? 0) : 0), 0),
  };
  editStatement(statement);
  const envelope = signEnvelope('application/vnd.in-toto+json', canonicalBytes(statement), ledgerSigner);
  return [...body, canonicalize({ record: 'statement', envelope })];
}

/** A unit event re-signed by its station's key after an edit of its payload text: what a compromised station can make. */
function resignedByStation(envelope: DsseEnvelope, payloadText: string): DsseEnvelope {
  const keyId = envelope.signatures[0]!.keyid;
  const station = Object.values(t.stationKeys).find((k) => k.keyId === keyId)!;
  return signEnvelope(envelope.payloadType, utf8(payloadText), station);
}

describe('signed exports', () => {
  it('round trip: everything verifies, with identical reports from the native and portable paths, and a CSV for people', async () => {
    const native = await verifyExportFile(file, key(), { workers: 2 });
    const portable = await verifyExportFile(file, key(), { portable: true, workers: 1 });
    expect(native.units).toBe(60);
    expect(native.events).toBeGreaterThan(300);
    expect(strip(portable)).toEqual(strip(native));
    expect(native.steps.map((s) => s.step)).toEqual(['format', 'checkpoint', 'keys', 'history', 'units', 'statement']);
    // The images the units' read-backs verified, each named by its kind and the units' release (docs/format.md
    // §7.6; the drifted image never verified).
    expect(native.firmware.map((f) => f.name).sort()).toEqual(['application fw-3.0.0', 'bootloader fw-3.0.0', 'partition-table fw-3.0.0']);
    const csv = readFileSync(join(dir, 'batch.csv'), 'utf8').trim().split('\r\n');
    expect(csv).toHaveLength(61);
    expect(csv[0]).toBe('serial,batch_id,release_id,status,bootloader_sha256,application_sha256,first_event_at,efuse_burned_at,shipped_at,customer');
  });

  it('is v4 where the ledger keeps the unit history map and v3 where it keeps none or its map is out of service, and flashtrail export says which', async () => {
    const expected = t.running.unitMap ? 'flashtrail.export.v4' : 'flashtrail.export.v3';
    const header = JSON.parse(readFileSync(file, 'utf8').split('\n')[0] as string) as { format: string };
    expect(header.format).toBe(expected);
    const tokenFile = join(dir, 'auditor.token');
    writeFileSync(tokenFile, t.tokens.auditor + '\n', { mode: 0o600 });
    const out = join(dir, 'cli-format.ndjson');
    const r = await run(process.execPath, [join(ROOT, 'bin', 'flashtrail.js'), 'export', '--url', t.url, '--token-file', tokenFile, '--batch', batchId, '--out', out]);
    expect(r.stdout).toContain(t.running.unitMap ? 'flashtrail.export.v4: every unit carries its map proof' : 'flashtrail.export.v3: the ledger keeps no unit history map (or it is out of service), so the export does not prove');
    const report = await verifyExportFile(out, key(), { workers: 1 });
    expect(report.format).toBe(expected);
    expect(report.steps.find((s) => s.step === 'history')?.detail).toMatch(/^not checked: /);
  });

  it('every record, and the statement, match the published schemas', () => {
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    // The current schemas (v4) where the ledger keeps the unit history map, v3's where it keeps none.
    const [records, statements] = t.running.unitMap ? [ExportRecordSchema, InTotoStatementSchema] : [ExportRecordV3Schema, InTotoStatementV3Schema];
    for (const [i, line] of lines.entries()) {
      const parsed = records.safeParse(JSON.parse(line));
      expect(parsed.success, `line ${i + 1}: ${parsed.success ? '' : JSON.stringify(parsed.error.issues[0])}`).toBe(true);
    }
    const statement = JSON.parse(lines[lines.length - 1] as string) as { envelope: DsseEnvelope };
    expect(statements.safeParse(JSON.parse(fromUtf8(fromBase64(statement.envelope.payload)))).success).toBe(true);
  });

  it('an export that selects no unit still proves its key records', async () => {
    const empty = join(dir, 'empty.ndjson');
    expect((await exportToFile(t.url, t.tokens.auditor, { serials: ['NO-SUCH-UNIT'] }, empty, () => undefined)).units).toBe(0);
    const report = await verifyExportFile(empty, key(), { workers: 1 });
    expect(report).toMatchObject({ units: 0, events: 0 });
    expect(report.steps.map((s) => s.step)).toEqual(['format', 'checkpoint', 'keys', 'history', 'units', 'statement']);
    const lines = readFileSync(empty, 'utf8').trimEnd().split('\n');
    const i = lines.findIndex((l) => (JSON.parse(l) as { record: string }).record === 'station');
    const record = JSON.parse(lines[i] as string) as { proof: string[] };
    record.proof = record.proof.slice(1);
    lines[i] = canonicalize(record);
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
    expect(v).toMatch(/^SIGNATURE_ERROR inclusion .*"eventType":"IdentityRead".*"serial":"SN/);
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
    ).toMatch(/^SIGNATURE_ERROR inclusion .*"serial":"SN/);
  });

  it('a deleted event and two swapped events: CHAIN_BROKEN', async () => {
    expect(await tampered('deleted', (lines) => mapUnit(lines, (u) => u.events.splice(2, 1)))).toMatch(/^CHAIN_BROKEN unit/);
    expect(await tampered('swapped', (lines) => mapUnit(lines, (u) => ([u.events[2], u.events[3]] = [u.events[3]!, u.events[2]!])))).toMatch(/^CHAIN_BROKEN unit/);
  });

  it('a station key record replaced: KEY_UNKNOWN', async () => {
    const v = await tampered('key', (lines) =>
      lines.map((l) => {
        if ((JSON.parse(l) as { record: string }).record !== 'station') return l;
        const r = JSON.parse(l) as { envelope: DsseEnvelope };
        const event = JSON.parse(fromUtf8(fromBase64(r.envelope.payload))) as { type: string; id: string; prev: string | null; data: { stationId: string } };
        if (event.type !== 'StationKeyRegistered') return l;
        const rogue = newSigner();
        const forged = new EventSigner(rogue, 'admin').sign('StationKeyRegistered', { stationId: event.data.stationId, keyId: rogue.keyId, publicKey: toHex(rogue.publicKey), algorithm: 'ed25519' }, { id: event.id, prev: event.prev });
        return canonicalize({ ...r, envelope: forged.envelope });
      }),
    );
    expect(v).toMatch(/^KEY_UNKNOWN keys .*"eventType":"StationKeyRegistered"/);
  });

  it('a checkpoint from another key: CHECKPOINT_SIGNATURE_ERROR; a forged statement: STATEMENT_SIGNATURE_ERROR', async () => {
    const other = newSigner();
    expect(
      await tampered('checkpoint', (lines) =>
        lines.map((l, i) => (i === 1 ? canonicalize({ record: 'checkpoint', note: signNote(parseNote((JSON.parse(l) as { note: string }).note).text, key().name, other.secretKey, other.publicKey) }) : l)),
      ),
    ).toMatch(/^CHECKPOINT_SIGNATURE_ERROR checkpoint/);
    expect(await tampered('statement', forgedStatement)).toMatch(/^STATEMENT_SIGNATURE_ERROR statement/);
  });

  it('a removed unit record: CONTENT_DIGEST_ERROR; a truncated file: FORMAT_ERROR', async () => {
    expect(await tampered('removed', (lines) => lines.filter((_l, i) => i !== unitLine(lines)))).toMatch(/^CONTENT_DIGEST_ERROR statement/);
    expect(await tampered('truncated', (lines) => lines.slice(0, -1))).toMatch(/^FORMAT_ERROR statement/);
  });

  describe('the seven leniencies of issue 12, each refused where the ledger would refuse it', () => {
    it('1. a unit event whose payload is not RFC 8785 canonical (re-signed by its station): PAYLOAD_NOT_CANONICAL at that event', async () => {
      const v = await tampered('noncanonical', (lines) =>
        forge(
          mapUnit(lines, (u) => {
            const e = u.events[1]!;
            e.envelope = resignedByStation(e.envelope, JSON.stringify(JSON.parse(fromUtf8(fromBase64(e.envelope.payload))), null, 1));
          }),
        ),
      ownFile,
      );
      expect(v).toMatch(/^PAYLOAD_NOT_CANONICAL envelopes .*"field":"events\[1\]\.envelope\.payload".*"leafIndex":\d+.*"serial":"SN/);
    });

    it('2. duplicate members in a payload, and a wrong payloadType (both re-signed): PAYLOAD_NOT_CANONICAL and ENVELOPE_ERROR', async () => {
      const dup = await tampered('duplicate-keys', (lines) =>
        forge(
          mapUnit(lines, (u) => {
            const e = u.events[0]!;
            const text = fromUtf8(fromBase64(e.envelope.payload));
            e.envelope = resignedByStation(e.envelope, text.replace('"data":{', '"data":{"serial":"OTHER"},"data":{'));
          }),
        ),
      ownFile,
      );
      expect(dup).toMatch(/^PAYLOAD_NOT_CANONICAL envelopes .*"field":"events\[0\]\.envelope\.payload"/);
      const type = await tampered('payload-type', (lines) =>
        forge(
          mapUnit(lines, (u) => {
            const e = u.events[0]!;
            const station = Object.values(t.stationKeys).find((k) => k.keyId === e.envelope.signatures[0]!.keyid)!;
            e.envelope = signEnvelope('application/json', fromBase64(e.envelope.payload), station);
          }),
        ),
      ownFile,
      );
      expect(type).toMatch(/^ENVELOPE_ERROR envelopes .*"field":"events\[0\]\.envelope\.payloadType"/);
    });

    for (const [field, value] of [['chipId', 'chip-forged'], ['mac', 'de:ad:be:ef:00:01'], ['batchId', 'B-OTHER'], ['releaseId', 'R-OTHER']] as const) {
      it(`3. an unsigned summary field (${field}) that the signed events do not say: SUMMARY_MISMATCH naming the field and the unit`, async () => {
        const v = await tampered(`summary-${field}`, (lines) => forge(mapUnit(lines, (u) => void ((u as unknown as Record<string, unknown>)[field] = value))));
        expect(v).toMatch(new RegExp(`^SUMMARY_MISMATCH unit .*"field":"${field}".*"line":\\d+.*"serial":"SN`));
      });
    }

    it('4. an extra firmware subject that no unit supports, and a missing one: SUBJECT_MISMATCH', async () => {
      const extra = await tampered('extra-subject', (lines) => forge(lines, (st) => st.subject.push({ name: 'application 9.9.9', digest: { sha256: 'f'.repeat(64) } })));
      expect(extra).toMatch(/^SUBJECT_MISMATCH statement .*"field":"statement\.subject\[\d+\]"/);
      const missing = await tampered('missing-subject', (lines) => forge(lines, (st) => st.subject.splice(0, 1)));
      expect(missing).toMatch(/^SUBJECT_MISMATCH statement/);
    });

    it('5. predicate selection, origin and createdAt that differ from the header: PREDICATE_MISMATCH', async () => {
      const selection = await tampered('predicate-selection', (lines) => forge(lines, (st) => void (st.predicate['selection'] = { batchId: 'B-OTHER' })));
      expect(selection).toMatch(/^PREDICATE_MISMATCH statement .*"field":"statement\.predicate\.selection"/);
      const origin = await tampered('predicate-origin', (lines) => forge(lines, (st) => void (st.predicate['origin'] = 'other.example/log')));
      expect(origin).toMatch(/^PREDICATE_MISMATCH statement .*"field":"statement\.predicate\.origin"/);
      const created = await tampered('predicate-created', (lines) => forge(lines, (st) => void (st.predicate['createdAt'] = '2020-01-01T00:00:00.000Z')));
      expect(created).toMatch(/^PREDICATE_MISMATCH statement .*"field":"statement\.predicate\.createdAt"/);
    });

    it('6. a duplicated unit record (counts recomputed, statement re-signed): DUPLICATE_ENTRY at the second copy', async () => {
      const v = await tampered('duplicate-unit', (lines) => {
        const i = unitLine(lines);
        return forge([...lines.slice(0, i + 1), lines[i] as string, ...lines.slice(i + 1)]);
      });
      expect(v).toMatch(/^DUPLICATE_ENTRY units .*"line":\d+.*"serial":"SN/);
    });

    it('7. a last line without its newline, and a CRLF line: FORMAT_ERROR naming the line', async () => {
      const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
      const path = join(dir, 'no-final-newline.ndjson');
      writeFileSync(path, lines.join('\n'));
      expect(await verdict(path, false)).toMatch(new RegExp(`^FORMAT_ERROR format .*"line":${lines.length}`));
      writeFileSync(path, lines.map((l, i) => (i === 3 ? `${l}\r` : l)).join('\n') + '\n');
      expect(await verdict(path, false)).toMatch(/^FORMAT_ERROR format .*"line":4/);
    });
  });

  it('a unit outside the selection (statement re-signed): SELECTION_MISMATCH; a record not in RFC 8785 form: RECORD_NOT_CANONICAL', async () => {
    const other = await tampered('selection', (lines) => forge(lines.map((l, i) => (i === 0 ? canonicalize({ ...(JSON.parse(l) as object), selection: { batchId, customer: 'NOBODY' } }) : l)), (st) => void (st.predicate['selection'] = { batchId, customer: 'NOBODY' })));
    expect(other).toMatch(/^SELECTION_MISMATCH unit .*"serial":"SN/);
    const spaced = await tampered('spaced', (lines) => lines.map((l, i) => (i === 2 ? JSON.stringify(JSON.parse(l), null, 0).replace('{', '{ ') : l)));
    expect(spaced).toMatch(/^RECORD_NOT_CANONICAL format .*"line":3/);
  });

  it('a batch record removed (re-signed): the release of each of its units is unsupported, SUMMARY_MISMATCH', async () => {
    const v = await tampered('no-batch', (lines) => forge(lines.filter((l) => (JSON.parse(l) as { record: string }).record !== 'batch')));
    expect(v).toMatch(/^SUMMARY_MISMATCH unit .*"field":"releaseId"/);
  });

  it('never a stack trace: a null line, a proof that is a number or not base64, a statement without signatures, a payload without source', async () => {
    expect(await tampered('null-line', (lines) => lines.map((l, i) => (i === 3 ? 'null' : l)))).toMatch(/^FORMAT_ERROR format .*"line":4/);
    expect(await tampered('proof-number', (lines) => mapUnit(lines, (u) => void ((u.events[0]!.proof as unknown[])[0] = 7)))).toMatch(/^FORMAT_ERROR format .*"field":"events\[0\]\.proof\[0\]"/);
    expect(await tampered('proof-text', (lines) => mapUnit(lines, (u) => void (u.events[0]!.proof[0] = 'not base64!')))).toMatch(/^FORMAT_ERROR format .*"field":"events\[0\]\.proof\[0\]"/);
    const unsigned = await tampered('no-signatures', (lines) => lines.map((l, i) => (i === lines.length - 1 ? canonicalize({ record: 'statement', envelope: { ...(JSON.parse(l) as { envelope: object }).envelope, signatures: undefined } }) : l)));
    expect(unsigned).toMatch(/^FORMAT_ERROR format .*"field":"envelope\.signatures"/);
    const sourceless = await tampered('no-source', (lines) =>
      mapUnit(lines, (u) => {
        const e = u.events[0]!;
        const { source: _source, ...rest } = JSON.parse(fromUtf8(fromBase64(e.envelope.payload))) as Record<string, unknown>;
        e.envelope = resignedByStation(e.envelope, canonicalize(rest));
      }),
    ownFile,
    );
    expect(sourceless).toMatch(/^SCHEMA_ERROR envelopes .*"field":"events\[0\]\.envelope\.payload\.source"/);
  });

  it('a line longer than the limit is refused before more is read', async () => {
    const path = join(dir, 'long-line.ndjson');
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    writeFileSync(path, [lines[0], lines[1], 'x'.repeat(5 * 1024 * 1024)].join('\n') + '\n');
    expect(await verdict(path, false)).toMatch(/^FORMAT_ERROR format .*"line":3/);
  });

  it.skipIf(pythonSkip !== null)('the closing DSSE envelope verifies with python3-cryptography (a DSSE implementation we did not write)', async () => {
    const publicKey = toHex(key().publicKey);
    const ok = await run(python, [join(ROOT, 'test', 'interop', 'python', 'verify_dsse.py'), file, publicKey]);
    expect(ok.stdout).toMatch(new RegExp(`^https://flashtrail.dev/attestation/traceability-export/${t.running.unitMap ? 'v4' : 'v3'} [0-9a-f]{64}`));
    const bad = join(dir, 'forged-statement-for-python.ndjson');
    writeFileSync(bad, forgedStatement(readFileSync(file, 'utf8').trimEnd().split('\n')).join('\n') + '\n');
    await expect(run(python, [join(ROOT, 'test', 'interop', 'python', 'verify_dsse.py'), bad, publicKey])).rejects.toMatchObject({ stderr: expect.stringMatching(/FAIL/) });
  });
});
