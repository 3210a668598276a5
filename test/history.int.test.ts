/**
 * Per-unit completeness through the CLI (issue 15's tamper cases, docs/format.md §15): a flashtrail.provenance.v3
 * document from a real ledger, verified by `flashtrail verify --map-key` in a real process.
 *   - genuine: complete as of its checkpoint size;
 *   - the unit's last event dropped: HISTORY_INCOMPLETE naming the unit, how many events the map holds and the
 *     leaf of the last one;
 *   - an older document, from before the unit's later events: still verifies, reported complete *as of* its older size, and
 *     refused with CHECKPOINT_STALE once the auditor knows the newer size;
 *   - a map root that is not the committed one (value and proof re-made for the shortened history under a
 *     rebuilt map): HISTORY_INCOMPLETE at the commitment.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
import type { ProvenanceDocument } from '../src/verify/index.ts';
import { UnitHistoryMap } from '../src/verify/history-map.ts';
import { canonicalBytes } from '../src/crypto/jcs.ts';
import { leafHash } from '../src/merkle/hash.ts';
import { nativeCrypto } from '../src/native/crypto.ts';
import { toBase64, toHex } from '../src/crypto/encoding.ts';
import type { HistoryEvidence } from '../schemas/history.ts';
import { readSecretKeyFile } from '../src/files/key-file.ts';
import { signNote } from '../src/tlog/note.ts';
import { missingPython, PYTHON } from './helpers/python.ts';

const ROOT = join(fileURLToPath(import.meta.url), '..', '..');
const run = promisify(execFile);
const cli = (args: string[]) => run(process.execPath, [join(ROOT, 'bin', 'flashtrail.js'), ...args]).then((r) => ({ code: 0, ...r }), (e: { code: number; stdout: string; stderr: string }) => e);

const INDEPENDENT = join(ROOT, 'test', 'interop', 'python', 'flashtrail_verify.py');
const pythonMissing = missingPython('cryptography');
if (pythonMissing) console.warn(`independent history check skipped: ${pythonMissing}`);
const independent = async (file: string, ...keys: string[]) => {
  const r = await run(PYTHON, [INDEPENDENT, '--ledger-key', ...keys.slice(0, 1), ...(keys[1] ? ['--map-key', keys[1]] : []), file], { timeout: 60_000 }).catch((e: { stdout: string }) => e);
  return JSON.parse((r as { stdout: string }).stdout.trim().split('\n').pop() as string) as { ok: boolean; code?: string; message?: string; history?: { asOfSize: number; events: number } };
};

const work = mkdtempSync(join(tmpdir(), 'flashtrail-history-'));
let t: TestLedger;
let ledgerKey: string;
let mapKey: string;
let before: ProvenanceDocument;
let after: ProvenanceDocument;

const write = (name: string, doc: unknown) => {
  const file = join(work, name);
  writeFileSync(file, JSON.stringify(doc));
  return file;
};
const sizeOf = (doc: ProvenanceDocument) => Number(doc.checkpoint.split('\n')[1]);

beforeAll(async () => {
  t = await startTestLedger();
  const auditor = new LedgerClient(t.url, t.tokens.auditor);
  const signer = new EventSigner(t.stationKeys['ST-01'], 'ST-01');
  const stationClient = new LedgerClient(t.url, t.tokens.station1);
  const station = new SimulatedStation(stationClient, signer, { stationId: 'ST-01', operator: 'op', batchId: t.batchId, hardwareRevision: 'rev-C' }, t.release);
  await station.flash('H-1', 'pass-unshipped');
  before = await auditor.get<ProvenanceDocument>('/v1/units/H-1/provenance');
  // An event after that document's checkpoint: the shipment.
  await stationClient.append([signer.sign('UnitShipped', { serial: 'H-1', customer: 'ACME Robotics', orderRef: 'PO-4711' }).envelope]);
  after = await auditor.get<ProvenanceDocument>('/v1/units/H-1/provenance');
  const key = async (path: string) => (await (await fetch(`${t.url}${path}`, { headers: { authorization: `Bearer ${t.tokens.auditor}` } })).text()).trim();
  ledgerKey = await key('/v1/ledger/key');
  mapKey = await key('/v1/unit-map/key');
}, 60_000);
afterAll(async () => {
  await t?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('flashtrail verify --map-key', () => {
  it('proves a genuine v3 document complete as of its checkpoint', async () => {
    expect(after.format).toBe('flashtrail.provenance.v3');
    const units = after.entries.filter((e) => e.role === 'unit');
    const r = await cli(['verify', write('genuine.json', after), '--ledger-key', ledgerKey, '--map-key', mapKey]);
    expect(r.stdout).toMatch(/ok +history +complete as of tree size \d+/);
    expect(r.stdout).toContain(`complete: all ${units.length} events of H-1 as of checkpoint size ${sizeOf(after)}, the last at leaf ${units[units.length - 1]!.leafIndex}`);
    expect(r.code).toBe(0);
    const json = JSON.parse((await cli(['verify', write('genuine.json', after), '--ledger-key', ledgerKey, '--map-key', mapKey, '--json'])).stdout) as { report: { history: { events: number; size: number }; notProven: string[] } };
    expect(json.report.history).toMatchObject({ events: units.length, size: sizeOf(after) });
    expect(json.report.notProven.join(' ')).not.toContain('that the document holds every event');
    // Without the key, the step says it did not check, and the caveat stays.
    const unpinned = await cli(['verify', write('genuine.json', after), '--ledger-key', ledgerKey]);
    expect(unpinned.code).toBe(0);
    expect(unpinned.stdout).toMatch(/history +not checked: pin the index log key/);
    expect(unpinned.stdout).toContain('not proven: that the document holds every event');
  });

  it('names the unit, the events the map holds and the last leaf when the last event is dropped', async () => {
    const units = after.entries.filter((e) => e.role === 'unit');
    const last = units[units.length - 1]!;
    const dropped = { ...after, entries: after.entries.filter((e) => e !== last) };
    const r = await cli(['verify', write('dropped.json', dropped), '--ledger-key', ledgerKey, '--map-key', mapKey]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('HISTORY_INCOMPLETE');
    expect(r.stdout).toContain(`unit H-1: the log's first ${sizeOf(after)} leaves hold ${units.length} event(s) of it up to leaf ${last.leafIndex}; the document holds ${units.length - 1} event(s) up to leaf ${units[units.length - 2]!.leafIndex}: 1 event(s) are missing, the last at leaf ${last.leafIndex}`);
  });

  it('reports an older document complete only as of its older checkpoint, and stale against the newer size', async () => {
    expect(sizeOf(before)).toBeLessThan(sizeOf(after));
    const file = write('before.json', before);
    const r = await cli(['verify', file, '--ledger-key', ledgerKey, '--map-key', mapKey]);
    expect(r.code).toBe(0);
    const held = before.entries.filter((e) => e.role === 'unit').length;
    expect(held).toBeLessThan(after.entries.filter((e) => e.role === 'unit').length);
    expect(r.stdout).toContain(`complete: all ${held} events of H-1 as of checkpoint size ${sizeOf(before)}`);
    const stale = await cli(['verify', file, '--ledger-key', ledgerKey, '--map-key', mapKey, '--at-least', String(sizeOf(after))]);
    expect(stale.code).toBe(1);
    expect(stale.stdout).toContain('CHECKPOINT_STALE');
    // The same, from a newer checkpoint the auditor holds (--checkpoint FILE): it is checked under the ledger key.
    const heldFile = join(work, 'newer.checkpoint');
    writeFileSync(heldFile, after.checkpoint);
    const newer = await cli(['verify', file, '--ledger-key', ledgerKey, '--map-key', mapKey, '--checkpoint', heldFile]);
    expect(newer.code).toBe(1);
    expect(newer.stdout).toContain('CHECKPOINT_STALE');
    const current = await cli(['verify', write('after.json', after), '--ledger-key', ledgerKey, '--map-key', mapKey, '--checkpoint', heldFile]);
    expect(current.code, current.stdout).toBe(0);
    // A checkpoint of the same size with another root, signed by the ledger key: a fork, both notes as evidence.
    const ledger = readSecretKeyFile(join(t.dataDir, 'ledger.key'));
    const [origin, size] = after.checkpoint.split('\n') as [string, string];
    const fork = join(work, 'fork.checkpoint');
    writeFileSync(fork, signNote(`${origin}\n${size}\n${toBase64(new Uint8Array(32).fill(9))}\n`, origin, ledger.secretKey, ledger.publicKey));
    const forked = await cli(['verify', write('after.json', after), '--ledger-key', ledgerKey, '--checkpoint', fork, '--json']);
    expect(forked.code).toBe(1);
    const report = JSON.parse(forked.stdout) as { error: { code: string; evidence: Record<string, string> } };
    expect(report.error.code).toBe('CONSISTENCY_PROOF_ERROR');
    expect(Object.keys(report.error.evidence).sort()).toEqual(['evidence', 'held']);
  });

  it('refuses a map root that is not the committed one, even with a value and proof that fit it', async () => {
    const units = after.entries.filter((e) => e.role === 'unit');
    const kept = after.entries.filter((e) => e !== units[units.length - 1]);
    // A map rebuilt without the last event: its own root, value and proof agree with each other.
    const forged = new UnitHistoryMap(nativeCrypto);
    const byLeaf = new Map(kept.filter((e) => e.role === 'unit').map((e) => [e.leafIndex, leafHash(canonicalBytes(e.envelope), nativeCrypto)]));
    for (let i = 0; i < sizeOf(after); i++) forged.append(byLeaf.get(i) ?? new Uint8Array(32), byLeaf.has(i) ? 'H-1' : null);
    const { value, proof } = forged.prove('H-1');
    const history: HistoryEvidence = { ...(after.history as HistoryEvidence), mapRoot: toHex(forged.root()), value: toBase64(value!), proof: toBase64(proof) };
    const r = await cli(['verify', write('forged-root.json', { ...after, entries: kept, history }), '--ledger-key', ledgerKey, '--map-key', mapKey]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('HISTORY_INCOMPLETE');
    expect(r.stdout).toContain('is not what the index log commits for checkpoint');
    // Another key pinned as the index log's: the index checkpoint is refused.
    const wrong = await cli(['verify', write('genuine2.json', after), '--ledger-key', ledgerKey, '--map-key', ledgerKey]);
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toContain('LEDGER_KEY_ERROR');
  });
});

describe.skipIf(pythonMissing !== null)('the independent verifier (test/interop/python, from docs/format.md §15 alone)', () => {
  it('proves the genuine history complete and refuses the shortened one and the foreign map root', async () => {
    const units = after.entries.filter((e) => e.role === 'unit');
    const genuine = await independent(write('py-genuine.json', after), ledgerKey, mapKey);
    expect(genuine).toMatchObject({ ok: true, history: { asOfSize: sizeOf(after), events: units.length } });
    const dropped = await independent(write('py-dropped.json', { ...after, entries: after.entries.filter((e) => e !== units[units.length - 1]) }), ledgerKey, mapKey);
    expect(dropped).toMatchObject({ ok: false, code: 'HISTORY_INCOMPLETE' });
    expect(dropped.message).toContain(`the last at leaf ${units[units.length - 1]!.leafIndex}`);
    const otherRoot = await independent(write('py-root.json', { ...after, history: { ...(after.history as HistoryEvidence), mapRoot: '00'.repeat(32) } }), ledgerKey, mapKey);
    expect(otherRoot).toMatchObject({ ok: false, code: 'HISTORY_INCOMPLETE' });
    // Without the index log key it verifies what v2 verifies and keeps the caveat.
    const unpinned = await independent(write('py-genuine.json', after), ledgerKey);
    expect(unpinned.ok).toBe(true);
    expect(unpinned.history).toBeUndefined();
  });
});
