/**
 * The firmware answer (docs/format.md §15.6.1) judged by two verifiers that share no code: ours
 * (verifyFirmwareEvidence) and the independent one written from the specification alone
 * (test/interop/python/flashtrail_verify.py). On a real ledger (real HTTP server, real SQLite), each genuine answer
 * must be accepted by both and each tampered one refused by both with the same code: a serial removed, added,
 * listed twice or moved now→formerly, a count changed, another digest's proof, another checkpoint's map root, and
 * a commitment by a v1 index log leaf (signed with the ledger's real index log key). Then the independent map
 * rebuild (flashtrail_map.py) rebuilds every committed root from GET /v1/log/entries.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestLedger, type TestLedger } from './helpers/ledger-fixture.ts';
import { SimulatedStation } from '../src/sim/simulated-station.ts';
import { LedgerClient } from '../src/client/ledger-client.ts';
import { EventSigner } from '../src/event/signer.ts';
import { parseVerifierKey, verifyFirmwareEvidence } from '../src/verify/index.ts';
import { nativeCrypto } from '../src/native/crypto.ts';
import { readSecretKeyFile } from '../src/files/key-file.ts';
import { signNote, type NoteKey } from '../src/tlog/note.ts';
import { leafHash } from '../src/merkle/hash.ts';
import { fromBase64, toBase64 } from '../src/crypto/encoding.ts';
import type { FirmwareUnitsAnswer } from '../schemas/history.ts';
import { verificationFailure } from './helpers/verification-failure.ts';
import { missingPython, PYTHON } from './helpers/python.ts';

const ROOT = join(fileURLToPath(import.meta.url), '..', '..');
const run = promisify(execFile);
const INTEROP = join(ROOT, 'test', 'interop', 'python');
const pythonMissing = missingPython('cryptography');
if (pythonMissing) console.warn(`independent firmware answer check skipped: ${pythonMissing}`);

interface PythonVerdict {
  ok: boolean;
  code?: string;
  message?: string;
  firmware?: { now: number; formerly: number; asOfSize: number };
  mapRoots?: { size: number; version: number; mapRoot: string }[];
}
const lastLine = (stdout: string) => JSON.parse(stdout.trim().split('\n').pop() as string) as PythonVerdict;
const python = async (script: string, args: string[]): Promise<PythonVerdict> => {
  const r = await run(PYTHON, [join(INTEROP, script), ...args], { timeout: 120_000 }).catch((e: { stdout: string }) => e);
  return lastLine((r as { stdout: string }).stdout);
};

const work = mkdtempSync(join(tmpdir(), 'flashtrail-fw-independent-'));
const dataDir = join(work, 'data');
let t: TestLedger;
let ledgerKey: NoteKey;
let mapKey: NoteKey;
let ledgerKeyText: string;
let mapKeyText: string;
let app: FirmwareUnitsAnswer;
let former: FirmwareUnitsAnswer;
let first: FirmwareUnitsAnswer;

const get = async (path: string) => {
  const r = await fetch(`${t.url}${path}`, { headers: { authorization: `Bearer ${t.tokens.auditor}` } });
  if (r.status !== 200) throw new Error(`GET ${path}: ${r.status} ${await r.text()}`);
  return r.text();
};
const issue = async () => {
  const r = await fetch(`${t.url}/v1/checkpoint`, { method: 'POST', headers: { authorization: `Bearer ${t.tokens.admin}` } });
  if (!r.ok) throw new Error(`POST /v1/checkpoint: ${r.status}`);
};
const answerOf = async (sha256: string) => JSON.parse(await get(`/v1/unit-map/firmware/${sha256}`)) as FirmwareUnitsAnswer;

/** Both verdicts on one answer: ours (null when accepted, else the code) and the independent verifier's. */
async function bothVerdicts(name: string, answer: unknown): Promise<{ ours: string | null; theirs: PythonVerdict }> {
  const file = join(work, `${name.replace(/[^a-z0-9]+/gi, '-')}.json`);
  writeFileSync(file, JSON.stringify(answer));
  const ours = verificationFailure(() => verifyFirmwareEvidence(answer, ledgerKey, mapKey, nativeCrypto))?.code ?? null;
  const theirs = await python('flashtrail_verify.py', ['--ledger-key', ledgerKeyText, '--map-key', mapKeyText, file]);
  return { ours, theirs };
}

beforeAll(async () => {
  t = await startTestLedger({ dataDir });
  const station = new SimulatedStation(new LedgerClient(t.url, t.tokens.station1), new EventSigner(t.stationKeys['ST-01'], 'ST-01'), { stationId: 'ST-01', operator: 'op', batchId: t.batchId, hardwareRevision: 'rev-C' }, t.release);
  await issue();
  first = await answerOf(t.release.application.sha256); // as of a checkpoint before any unit
  await station.flash('F-1', 'pass');
  await station.flash('F-2', 'app-mismatch-then-rework');
  await station.flash('F-3', 'pass');
  await issue();
  ledgerKeyText = (await get('/v1/ledger/key')).trim();
  mapKeyText = (await get('/v1/unit-map/key')).trim();
  ledgerKey = parseVerifierKey(ledgerKeyText);
  mapKey = parseVerifierKey(mapKeyText);
  app = await answerOf(t.release.application.sha256);
  // The digest F-2's device reported before its rework: the map's only "formerly" entry.
  const candidates = await Promise.all(
    (JSON.parse(await get('/v1/units/F-2/provenance')) as { entries: { envelope: { payload: string } }[] }).entries
      .map((e) => JSON.parse(new TextDecoder().decode(fromBase64(e.envelope.payload))) as { type: string; data: { reportedSha256?: string } })
      .filter((ev) => ev.type === 'AppVerified' && ev.data.reportedSha256 !== t.release.application.sha256)
      .map((ev) => answerOf(ev.data.reportedSha256 as string)),
  );
  former = candidates[0] as FirmwareUnitsAnswer;
}, 120_000);
afterAll(async () => {
  await t?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe.skipIf(pythonMissing !== null)('firmware answers: our verifier and the independent one agree', () => {
  it('accepts the genuine answers, complete as of their checkpoint', async () => {
    expect(app.now).toEqual(['F-1', 'F-2', 'F-3']);
    expect(former).toMatchObject({ now: [], formerly: ['F-2'] });
    for (const [name, answer] of [['approved image', app], ['formerly', former], ['before any unit', first]] as const) {
      const { ours, theirs } = await bothVerdicts(name, answer);
      expect({ name, ours, ok: theirs.ok }).toEqual({ name, ours: null, ok: true });
      expect(theirs.firmware).toMatchObject({ now: answer.now.length, formerly: answer.formerly.length, asOfSize: parseInt(answer.checkpoint.split('\n')[1] as string, 10) });
    }
  });

  it('refuses each tampered answer with the same code', async () => {
    const value = fromBase64(app.firmware.value as string);
    const fewer = new Uint8Array(value);
    fewer[7] = (fewer[7] as number) - 1; // the "now" count, u64 BE, one less
    const cases: [string, unknown, string][] = [
      ['serial removed', { ...app, now: ['F-1', 'F-3'] }, 'FIRMWARE_UNITS_INCOMPLETE'],
      ['serial added', { ...app, now: ['F-1', 'F-2', 'F-3', 'F-9'] }, 'FIRMWARE_UNITS_INCOMPLETE'],
      ['serial replaced', { ...app, now: ['F-1', 'F-2', 'F-4'] }, 'FIRMWARE_UNITS_INCOMPLETE'],
      ['listed twice in one list', { ...app, now: ['F-1', 'F-1', 'F-3'] }, 'FORMAT_ERROR'],
      ['out of order', { ...app, now: ['F-2', 'F-1', 'F-3'] }, 'FORMAT_ERROR'],
      ['in both lists', { ...app, formerly: ['F-2'] }, 'FIRMWARE_UNITS_INCOMPLETE'],
      ['moved now to formerly', { ...app, now: ['F-1', 'F-3'], formerly: ['F-2'] }, 'FIRMWARE_UNITS_INCOMPLETE'],
      ['moved formerly to now', { ...former, now: ['F-2'], formerly: [] }, 'FIRMWARE_UNITS_INCOMPLETE'],
      ['count changed', { ...app, now: ['F-1', 'F-3'], firmware: { ...app.firmware, value: toBase64(fewer) } }, 'FIRMWARE_UNITS_INCOMPLETE'],
      ['proof from another digest', { ...app, now: former.now, formerly: former.formerly, firmware: { ...app.firmware, value: former.firmware.value, proof: former.firmware.proof } }, 'FIRMWARE_UNITS_INCOMPLETE'],
      ['a unit claimed under an absence proof', { ...first, now: ['F-1'] }, 'FIRMWARE_UNITS_INCOMPLETE'],
      ["another checkpoint's map root", { ...app, firmware: { ...app.firmware, mapRoot: first.firmware.mapRoot } }, 'HISTORY_INCOMPLETE'],
      ['an unknown member', { ...app, extra: true }, 'FORMAT_ERROR'],
    ];
    for (const [name, answer, code] of cases) {
      const { ours, theirs } = await bothVerdicts(name, answer);
      expect({ name, ours, theirs: theirs.code }).toEqual({ name, ours: code, theirs: code });
    }
  });

  it('refuses a commitment by a v1 index log leaf, signed with the real index log key', async () => {
    const indexKey = readSecretKeyFile(join(dataDir, 'unit-map.key'));
    const [origin, size, root] = app.checkpoint.split('\n') as [string, string, string];
    const forge = (version: 1 | 2) => {
      const text = `flashtrail/map-commitment/v${version}\n${origin}\n${size}\n${root}\nunit-map ${app.firmware.mapRoot}\n`;
      const leaf = leafHash(new TextEncoder().encode(text));
      const note = signNote(`${origin}/unit-map\n1\n${toBase64(leaf)}\n`, `${origin}/unit-map`, indexKey.secretKey, indexKey.publicKey);
      return { ...app, firmware: { ...app.firmware, commitment: { index: 0, proof: [], checkpoint: note } } };
    };
    const v2 = await bothVerdicts('forged v2 leaf', forge(2));
    expect({ ours: v2.ours, ok: v2.theirs.ok }).toEqual({ ours: null, ok: true }); // the forger is right
    const v1 = await bothVerdicts('forged v1 leaf', forge(1));
    expect({ ours: v1.ours, theirs: v1.theirs.code }).toEqual({ ours: 'FIRMWARE_UNITS_INCOMPLETE', theirs: 'FIRMWARE_UNITS_INCOMPLETE' });
  });

  it('rebuilds every committed map root from the log (flashtrail_map.py)', async () => {
    const tokenFile = join(work, 'auditor.token');
    writeFileSync(tokenFile, t.tokens.auditor, { mode: 0o600 });
    const report = await python('flashtrail_map.py', ['--ledger-key', ledgerKeyText, '--map-key', mapKeyText, '--url', t.url, '--token-file', tokenFile]);
    expect(report.ok).toBe(true);
    const size = parseInt(app.checkpoint.split('\n')[1] as string, 10);
    expect(report.mapRoots).toContainEqual({ size, version: 2, mapRoot: app.firmware.mapRoot });
    expect(readFileSync(tokenFile, 'utf8')).toBe(t.tokens.auditor);
  });
});
