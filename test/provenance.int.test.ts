/**
 * Per-unit provenance end to end: produced by the real server from a real SQLite file, verified offline
 * with only the pinned ledger key. Then the tamper cases: each edit of the files is detected and located.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestLedger } from './helpers/ledger-fixture.ts';
import { SimulatedStation } from '../src/sim/simulated-station.ts';
import { LedgerClient } from '../src/client/ledger-client.ts';
import { EventSigner } from '../src/event/signer.ts';
import { verifyProvenance, verifyCheckpointConsistency, VerificationError, parseVerifierKey, type ProvenanceDocument } from '../src/verify/index.ts';
import { nativeCrypto } from '../src/native/crypto.ts';
import { portableCrypto } from '../src/crypto/backend.ts';
import { fromBase64, toBase64, toHex, utf8, fromUtf8 } from '../src/crypto/encoding.ts';
import { writeSecretKeyFile } from '../src/files/key-file.ts';
import { newSigner, type Signer } from '../src/crypto/ed25519.ts';
import { canonicalBytes } from '../src/crypto/jcs.ts';
import type { DsseEnvelope } from '../src/crypto/dsse.ts';
import { formatVerifierKey, parseNote, signNote } from '../src/tlog/note.ts';

const ROOT = join(fileURLToPath(import.meta.url), '..', '..');
const run = promisify(execFile);

let baseline: string;
let verifierKey: string;
let stationKey: Signer;
let oldCheckpoint: string;
const work = mkdtempSync(join(tmpdir(), 'flashtrail-prov-'));

/**
 * A ledger on a copy of the baseline. It is started without comparing the newest Merkle leaves with the event
 * store (FLASHTRAIL_START_CHECK_LEAVES=0): the insider's ledger, serving what they edited, so that these tests
 * show what the offline verifier catches on its own. (test/start-checks.int.test.ts: a ledger started as
 * shipped refuses these directories.)
 */
async function withLedger<T>(dataDir: string, fn: (t: Awaited<ReturnType<typeof startTestLedger>>) => Promise<T>): Promise<T> {
  const t = await startTestLedger({ dataDir, setup: false, startCheckLeaves: 0 });
  try {
    return await fn(t);
  } finally {
    await t.stop();
  }
}

const provenanceOf = (dataDir: string, serial: string) =>
  withLedger(dataDir, (t) => new LedgerClient(t.url, t.tokens.auditor).get<ProvenanceDocument>(`/v1/units/${serial}/provenance`));

function copyBaseline(name: string): string {
  const dir = join(work, name);
  cpSync(baseline, dir, { recursive: true });
  return dir;
}

/** Opens the event store as an attacker with database access would: triggers dropped. */
function tamper(dataDir: string, edit: (db: Database.Database) => void): void {
  const db = new Database(join(dataDir, 'events.sqlite'));
  db.exec('DROP TRIGGER IF EXISTS events_append_only_update; DROP TRIGGER IF EXISTS events_append_only_delete;');
  edit(db);
  db.close();
}

function unitRows(db: Database.Database, serial: string) {
  return db.prepare('SELECT position, revision, id, data FROM events WHERE stream = ? ORDER BY revision').all(`unit-${serial}`) as { position: number; revision: number; id: string; data: Buffer }[];
}

function expectFailure(doc: unknown, code: string, where: { eventId?: string; step?: string } = {}) {
  let error: unknown;
  try {
    verifyProvenance(doc, parseVerifierKey(verifierKey), nativeCrypto);
  } catch (e) {
    error = e;
  }
  expect(error, `expected ${code}`).toBeInstanceOf(VerificationError);
  const v = error as VerificationError;
  expect(v.code, v.message).toBe(code);
  if (where.eventId) expect(v.location.eventId).toBe(where.eventId);
  if (where.step) expect(v.step).toBe(where.step);
  return v;
}

beforeAll(async () => {
  baseline = join(work, 'baseline');
  const t = await startTestLedger({ dataDir: baseline });
  stationKey = t.stationKeys['ST-01'];
  try {
    const station = new SimulatedStation(new LedgerClient(t.url, t.tokens.station1), new EventSigner(t.stationKeys['ST-01'], 'ST-01'), { stationId: 'ST-01', operator: 'op', batchId: t.batchId, hardwareRevision: 'rev-C' }, t.release);
    await station.flash('U-1', 'app-mismatch-then-rework');
    await station.flash('U-2', 'pass');
    verifierKey = (await (await fetch(`${t.url}/v1/ledger/key`, { headers: { authorization: `Bearer ${t.tokens.auditor}` } })).text()).trim();
    oldCheckpoint = await (await fetch(`${t.url}/v1/checkpoint`, { method: 'POST', headers: { authorization: `Bearer ${t.tokens.admin}` } })).text();
  } finally {
    await t.stop();
  }
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('provenance', () => {
  it('verifies offline with only the pinned ledger key, step by step', async () => {
    const doc = await provenanceOf(copyBaseline('ok'), 'U-1');
    const report = verifyProvenance(doc, parseVerifierKey(verifierKey), nativeCrypto);
    expect(report.events).toBe(9);
    expect(report.stations).toEqual(['ST-01']);
    // v3: the history step says it was not checked without the index log key (test/history.int.test.ts checks it).
    expect(report.steps.map((s) => s.step)).toEqual(['format', 'checkpoint', 'envelopes', 'inclusion', 'keys', 'unit', 'history', 'statement']);
    expect(report).toMatchObject({ format: 'flashtrail.provenance.v3', batchId: 'B-1', releaseId: 'R-1', matchesRelease: true });
    // Entries in log order, each leaf once, with the batch and release records the unit depends on.
    const leaves = doc.entries.map((e) => e.leafIndex);
    expect(leaves).toEqual([...leaves].sort((a, b) => a - b));
    expect(new Set(doc.entries.map((e) => e.role))).toEqual(new Set(['trust', 'station', 'batch', 'release', 'unit']));
    expect(report.firmware.application).toHaveLength(1);
    // The portable (browser) path agrees.
    expect(verifyProvenance(doc, parseVerifierKey(verifierKey), portableCrypto)).toEqual(report);
    // Every proof is a C2SP tlog-proof against the document's checkpoint.
    for (const e of doc.entries) expect(e.proof.startsWith('c2sp.org/tlog-proof@v1\nindex ')).toBe(true);
  });

  it('flashtrail verify prints each step and exits 0; --json for machines; non-zero with the code on failure', async () => {
    const doc = await provenanceOf(copyBaseline('cli'), 'U-1');
    const file = join(work, 'u1.json');
    writeFileSync(file, JSON.stringify(doc));
    const cli = (args: string[]) => run(process.execPath, [join(ROOT, 'bin', 'flashtrail.js'), ...args]).then((r) => ({ code: 0, ...r }), (e: { code: number; stdout: string; stderr: string }) => e);
    const ok = await cli(['verify', file, '--ledger-key', verifierKey]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/ok +inclusion/);
    expect(ok.stdout).toMatch(/verified: 9 events by ST-01/);
    const json = await cli(['verify', file, '--ledger-key', verifierKey, '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: true, report: { serial: 'U-1', events: 9 } });
    // Pinning another ledger key (same origin, its own key id) fails at the checkpoint step.
    const other = newSigner();
    const otherKey = formatVerifierKey(verifierKey.split('+')[0]!, other.publicKey);
    const bad = await cli(['verify', file, '--ledger-key', otherKey, '--json']);
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stdout)).toMatchObject({ ok: false, error: { code: 'CHECKPOINT_SIGNATURE_ERROR', step: 'checkpoint' } });
  });
  it('--json gives a coded error for a garbage --ledger-key, a malformed --proof file and a missing document, never a stack trace', async () => {
    const doc = await provenanceOf(copyBaseline('cli-json'), 'U-1');
    const file = join(work, 'u1-json.json');
    writeFileSync(file, JSON.stringify(doc));
    const cli = (args: string[]) => run(process.execPath, [join(ROOT, 'bin', 'flashtrail.js'), ...args]).then((r) => ({ code: 0, ...r }), (e: { code: number; stdout: string; stderr: string }) => e);
    const garbage = await cli(['verify', file, '--ledger-key', 'garbage', '--json']);
    expect(garbage.code).toBe(1);
    expect(JSON.parse(garbage.stdout)).toMatchObject({ ok: false, error: { code: 'LEDGER_KEY_ERROR' } });
    const missing = await cli(['verify', join(work, 'nope.json'), '--ledger-key', verifierKey, '--json']);
    expect(JSON.parse(missing.stdout)).toMatchObject({ ok: false, error: { code: 'FORMAT_ERROR', location: { file: join(work, 'nope.json') } } });
    const note = join(work, 'json-old.note');
    writeFileSync(note, oldCheckpoint);
    const proof = join(work, 'bad-proof.json');
    writeFileSync(proof, JSON.stringify({ proof: [7] }));
    const bad = await cli(['verify-consistency', note, note, '--ledger-key', verifierKey, '--proof', proof, '--json']);
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stdout)).toMatchObject({ ok: false, error: { code: 'FORMAT_ERROR', location: { file: proof, field: 'proof[0]' } } });
    for (const r of [garbage, missing, bad]) expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('tamper cases on the real SQLite file', () => {
  it('a changed byte in an event\'s data: SIGNATURE_ERROR at that event', async () => {
    const dir = copyBaseline('data');
    let victim = '';
    tamper(dir, (db) => {
      const row = unitRows(db, 'U-1')[4]!;
      victim = row.id;
      const envelope = JSON.parse(row.data.toString()) as DsseEnvelope;
      const original = fromUtf8(fromBase64(envelope.payload));
      // One hex digit of the written image's hash: the kind of edit that would hide a wrong image.
      const payload = original.replace(/("imageSha256":"[0-9a-f]{63})([0-9a-f])/, (_m, head: string, last: string) => head + (last === '0' ? '1' : '0'));
      expect(payload).not.toBe(original);
      const forged = { ...envelope, payload: toBase64(utf8(payload)) };
      db.prepare('UPDATE events SET data = ? WHERE id = ?').run(Buffer.from(canonicalBytes(forged)), row.id);
    });
    expectFailure(await provenanceOf(dir, 'U-1'), 'SIGNATURE_ERROR', { eventId: victim, step: 'inclusion' });
  });

  it('a changed signature: SIGNATURE_ERROR at that event', async () => {
    const dir = copyBaseline('sig');
    let victim = '';
    tamper(dir, (db) => {
      const row = unitRows(db, 'U-1')[2]!;
      victim = row.id;
      const envelope = JSON.parse(row.data.toString()) as DsseEnvelope;
      const sig = fromBase64(envelope.signatures[0]!.sig);
      sig[10] = (sig[10] as number) ^ 0x40;
      db.prepare('UPDATE events SET data = ? WHERE id = ?').run(Buffer.from(canonicalBytes({ ...envelope, signatures: [{ keyid: envelope.signatures[0]!.keyid, sig: toBase64(sig) }] })), row.id);
    });
    expectFailure(await provenanceOf(dir, 'U-1'), 'SIGNATURE_ERROR', { eventId: victim });
  });

  it('a deleted event: CHAIN_BROKEN at the event after it', async () => {
    const dir = copyBaseline('deleted');
    let next = '';
    tamper(dir, (db) => {
      const rows = unitRows(db, 'U-1');
      next = rows[4]!.id;
      db.prepare('DELETE FROM events WHERE id = ?').run(rows[3]!.id);
    });
    expectFailure(await provenanceOf(dir, 'U-1'), 'CHAIN_BROKEN', { eventId: next });
  });

  it('two events swapped in the event store: INCLUSION_PROOF_ERROR at the first misplaced one', async () => {
    const dir = copyBaseline('swapped');
    tamper(dir, (db) => {
      const rows = unitRows(db, 'U-1');
      const [a, b] = [rows[5]!, rows[6]!];
      db.prepare('UPDATE events SET data = ?, id = ? WHERE position = ?').run(b.data, `tmp-${b.id}`, a.position);
      db.prepare('UPDATE events SET data = ?, id = ? WHERE position = ?').run(a.data, a.id, b.position);
      db.prepare('UPDATE events SET id = ? WHERE position = ?').run(b.id, a.position);
    });
    expectFailure(await provenanceOf(dir, 'U-1'), 'INCLUSION_PROOF_ERROR', { step: 'inclusion' });
  });

  it('a station key row replaced: KEY_UNKNOWN at the forged registration', async () => {
    const dir = copyBaseline('key');
    tamper(dir, (db) => {
      const row = db.prepare("SELECT id, data FROM events WHERE stream = 'station-ST-01' AND type = 'StationKeyRegistered'").get() as { id: string; data: Buffer };
      const envelope = JSON.parse(row.data.toString()) as DsseEnvelope;
      const event = JSON.parse(fromUtf8(fromBase64(envelope.payload))) as { data: { publicKey: string; keyId: string } };
      const rogue = newSigner();
      const forger = new EventSigner(rogue, 'admin');
      const forged = forger.sign('StationKeyRegistered', { ...event.data, algorithm: 'ed25519', stationId: 'ST-01', publicKey: toHex(rogue.publicKey), keyId: rogue.keyId } as never, { id: row.id, prev: (event as unknown as { prev: string }).prev });
      db.prepare('UPDATE events SET data = ? WHERE id = ?').run(Buffer.from(canonicalBytes(forged.envelope)), row.id);
    });
    expectFailure(await provenanceOf(dir, 'U-1'), 'KEY_UNKNOWN', { step: 'inclusion' });
  });

  it('an edited stored leaf hash in merkle.sqlite is reported at that leaf, not at its neighbour', async () => {
    const dir = copyBaseline('leafhash');
    const doc0 = await provenanceOf(copyBaseline('leafhash-ref'), 'U-1');
    const unitLeaves = doc0.entries.filter((e) => e.role === 'unit').map((e) => e.leafIndex);
    // A leaf of U-1 whose sibling (the leaf its neighbour's proof names first) is also one of U-1's events.
    const victim = unitLeaves.find((k) => k % 2 === 1 && unitLeaves.includes(k - 1)) as number;
    expect(victim).toBeGreaterThan(0);
    const db = new Database(join(dir, 'merkle.sqlite'));
    db.prepare('UPDATE merkle_nodes SET hash = ? WHERE level = 0 AND idx = ?').run(Buffer.alloc(32, 7), victim);
    db.close();
    const doc = await provenanceOf(dir, 'U-1');
    const v = expectFailure(doc, 'INCLUSION_PROOF_ERROR', { step: 'inclusion' });
    expect(v.location.leafIndex).toBe(victim);
    // The document's proofs are made together (src/evidence/shared-proofs.ts): the one naming the edited hash is
    // that of the block's first leaf (a node over the victim), or of its neighbour (the victim's hash itself).
    expect(v.message).toMatch(new RegExp(`the proof of leaf \\d+ .* gives (leaf ${victim}|leaves \\[\\d+, \\d+\\)) the hash .* stored hash of leaf ${victim}`));
  });

  it('two leaf indices swapped in merkle.sqlite: INCLUSION_PROOF_ERROR names the first event whose leaf index is wrong', async () => {
    const dir = copyBaseline('leafswap');
    const doc0 = await provenanceOf(copyBaseline('leafswap-ref'), 'U-1');
    const units = doc0.entries.filter((e) => e.role === 'unit');
    const [a, b] = [units[2]!, units[3]!];
    const db = new Database(join(dir, 'merkle.sqlite'));
    const pa = (db.prepare('SELECT position FROM merkle_leaves WHERE idx = ?').get(a.leafIndex) as { position: number }).position;
    const pb = (db.prepare('SELECT position FROM merkle_leaves WHERE idx = ?').get(b.leafIndex) as { position: number }).position;
    db.prepare('UPDATE merkle_leaves SET position = -1 WHERE idx = ?').run(a.leafIndex);
    db.prepare('UPDATE merkle_leaves SET position = ? WHERE idx = ?').run(pa, b.leafIndex);
    db.prepare('UPDATE merkle_leaves SET position = ? WHERE idx = ?').run(pb, a.leafIndex);
    db.close();
    const v = expectFailure(await provenanceOf(dir, 'U-1'), 'INCLUSION_PROOF_ERROR', { step: 'inclusion' });
    const eventOf = (e: { envelope: DsseEnvelope }) => (JSON.parse(fromUtf8(fromBase64(e.envelope.payload))) as { id: string }).id;
    // The document now claims leaf a for event b: the first entry in log order, and it is one of the two moved.
    expect([eventOf(a), eventOf(b)]).toContain(v.location.eventId);
    expect(v.location.leafIndex).toBe(a.leafIndex);
  });

  it('never a stack trace: malformed documents, proofs and keys are coded errors with their place', () => {
    const key = parseVerifierKey(verifierKey);
    const codeOf = (doc: unknown) => {
      try {
        verifyProvenance(doc, key, nativeCrypto);
        return 'ok';
      } catch (e) {
        if (!(e instanceof VerificationError)) throw e;
        return `${e.code} ${e.location.field ?? ''}`;
      }
    };
    expect(codeOf(null)).toBe('FORMAT_ERROR format');
    expect(codeOf({ format: 'flashtrail.provenance.v2', serial: 'U-1', checkpoint: 'x', entries: [{ role: 'unit', leafIndex: 1, envelope: {}, proof: 7 }] })).toBe('FORMAT_ERROR entries[0].proof');
    expect(codeOf({ format: 'flashtrail.provenance.v2', serial: 'U-1', checkpoint: 'x', entries: [], extra: 1 })).toMatch(/^FORMAT_ERROR /);
  });

  it('a checkpoint from another key: CHECKPOINT_SIGNATURE_ERROR', async () => {
    const dir = copyBaseline('ledgerkey');
    rmSync(join(dir, 'ledger.key'));
    const substitute = newSigner();
    writeSecretKeyFile(join(dir, 'ledger.key'), substitute);
    // A key swapped under ledger.json is refused at start…
    await expect(startTestLedger({ dataDir: dir, setup: false })).rejects.toThrow(/holds key .* but .*ledger\.json names/);
    // …so the insider rewrites ledger.json too; the checkpoints recorded under the old key are then refused at
    // start, so they erase those records and the Merkle log as well; the ledger then signs with the substitute,
    // and verifiers notice.
    const info = JSON.parse(readFileSync(join(dir, 'ledger.json'), 'utf8')) as { origin: string };
    writeFileSync(join(dir, 'ledger.json'), JSON.stringify({ origin: info.origin, keyId: substitute.keyId }), { mode: 0o600 });
    await expect(startTestLedger({ dataDir: dir, setup: false })).rejects.toThrow(/the newest recorded checkpoint .* is not a note signed by the ledger key/);
    tamper(dir, (db) => db.prepare("DELETE FROM events WHERE stream = 'ledger-checkpoints'").run());
    rmSync(join(dir, 'merkle.sqlite'));
    const doc = await withLedger(dir, async (t) => {
      await fetch(`${t.url}/v1/checkpoint`, { method: 'POST', headers: { authorization: `Bearer ${t.tokens.admin}` } });
      return new LedgerClient(t.url, t.tokens.auditor).get<ProvenanceDocument>('/v1/units/U-1/provenance');
    });
    // Perhaps the same tree as before (the erased records were the only difference), but signed with the substitute.
    expect(doc.checkpoint).not.toBe(oldCheckpoint);
    expectFailure(doc, 'CHECKPOINT_SIGNATURE_ERROR', { step: 'checkpoint' });
    // And a checkpoint note signed by another key, pasted into a good document, fails the same way.
    const good = await provenanceOf(copyBaseline('ledgerkey2'), 'U-1');
    const other = newSigner();
    const origin = verifierKey.split('+')[0]!;
    const forged = signNote(parseNote(good.checkpoint).text, origin, other.secretKey, other.publicKey);
    expectFailure({ ...good, checkpoint: forged }, 'CHECKPOINT_SIGNATURE_ERROR');
  });

  it('a truncated log presented with an old checkpoint: INCLUSION_PROOF_ERROR, and verify-consistency fails', async () => {
    const dir = copyBaseline('truncated');
    const oldSize = Number(parseNote(oldCheckpoint).text.split('\n')[1]);
    tamper(dir, (db) => {
      db.prepare('DELETE FROM events WHERE position > (SELECT MAX(position) - 8 FROM events)').run();
    });
    rmSync(join(dir, 'merkle.sqlite'));
    // The attacker's server now signs a smaller tree.
    const newCheckpoint = await withLedger(dir, async (t) => (await fetch(`${t.url}/v1/checkpoint`, { method: 'POST', headers: { authorization: `Bearer ${t.tokens.admin}` } })).text());
    expect(Number(parseNote(newCheckpoint).text.split('\n')[1])).toBeLessThan(oldSize);
    expect(() => verifyCheckpointConsistency(oldCheckpoint, newCheckpoint, [], parseVerifierKey(verifierKey), nativeCrypto)).toThrow(/shrank/);
    const err = (() => {
      try {
        verifyCheckpointConsistency(oldCheckpoint, newCheckpoint, [], parseVerifierKey(verifierKey), nativeCrypto);
      } catch (e) {
        return e as VerificationError;
      }
      return null;
    })();
    expect(err?.code).toBe('CONSISTENCY_PROOF_ERROR');

    // A unit flashed after the old checkpoint, presented against it: its events are not in that tree.
    const doc = await withLedger(copyBaseline('late'), async (t) => {
      const station = new SimulatedStation(new LedgerClient(t.url, t.tokens.station1), new EventSigner(stationKey, 'ST-01'), { stationId: 'ST-01', operator: 'op', batchId: 'B-1', hardwareRevision: 'rev-C' }, t.release);
      await station.flash('U-4', 'pass');
      return new LedgerClient(t.url, t.tokens.auditor).get<ProvenanceDocument>('/v1/units/U-4/provenance');
    });
    const stale = { ...doc, checkpoint: oldCheckpoint, entries: doc.entries.map((e) => ({ ...e, proof: e.proof.replace(doc.checkpoint, oldCheckpoint) })) };
    const v = expectFailure(stale, 'INCLUSION_PROOF_ERROR', { step: 'inclusion' });
    expect(v.location.leafIndex).toEqual(expect.any(Number));
  });

  it('verify-consistency accepts an honest extension, from a proof file or fetched from the ledger', async () => {
    const dir = copyBaseline('extend');
    const { note, proofFile } = await withLedger(dir, async (t) => {
      const station = new SimulatedStation(new LedgerClient(t.url, t.tokens.station1), new EventSigner(stationKey, 'ST-01'), { stationId: 'ST-01', operator: 'op', batchId: 'B-1', hardwareRevision: 'rev-C' }, t.release);
      await station.flash('U-3', 'pass');
      const note = await (await fetch(`${t.url}/v1/checkpoint`, { method: 'POST', headers: { authorization: `Bearer ${t.tokens.admin}` } })).text();
      const from = Number(parseNote(oldCheckpoint).text.split('\n')[1]);
      const to = Number(parseNote(note).text.split('\n')[1]);
      const proof = await new LedgerClient(t.url, t.tokens.auditor).get<{ proof: string[] }>(`/v1/proofs/consistency?from=${from}&to=${to}`);
      const proofFile = join(work, 'consistency.json');
      writeFileSync(proofFile, JSON.stringify(proof));
      const report = verifyCheckpointConsistency(oldCheckpoint, note, proof.proof.map(fromBase64), parseVerifierKey(verifierKey), nativeCrypto);
      expect(report.to.size).toBe(to);
      // The CLI fetches the proof from the ledger itself when given its URL and a token.
      writeFileSync(join(work, 'old-url.note'), oldCheckpoint);
      writeFileSync(join(work, 'new-url.note'), note);
      writeFileSync(join(work, 'auditor.token'), t.tokens.auditor, { mode: 0o600 });
      const fetched = await run(process.execPath, [join(ROOT, 'bin', 'flashtrail.js'), 'verify-consistency', join(work, 'old-url.note'), join(work, 'new-url.note'), '--ledger-key', verifierKey, '--url', t.url, '--token-file', join(work, 'auditor.token')]);
      expect(fetched.stdout).toMatch(/verified: append-only/);
      return { note, proofFile };
    });
    writeFileSync(join(work, 'old.note'), oldCheckpoint);
    writeFileSync(join(work, 'new.note'), note);
    const r = await run(process.execPath, [join(ROOT, 'bin', 'flashtrail.js'), 'verify-consistency', join(work, 'old.note'), join(work, 'new.note'), '--ledger-key', verifierKey, '--proof', proofFile]);
    expect(r.stdout).toMatch(/verified: append-only/);
    const reversed = await run(process.execPath, [join(ROOT, 'bin', 'flashtrail.js'), 'verify-consistency', join(work, 'new.note'), join(work, 'old.note'), '--ledger-key', verifierKey, '--proof', proofFile, '--json']).catch((e: { code: number; stdout: string }) => e);
    expect((reversed as { code: number }).code).toBe(1);
    expect(JSON.parse((reversed as { stdout: string }).stdout).error.code).toBe('CONSISTENCY_PROOF_ERROR');
    expect(readFileSync(join(work, 'old.note'), 'utf8')).toBe(oldCheckpoint);
  });
});
