/**
 * Hybrid signatures on a real ledger: every checkpoint carries an Ed25519 and an ML-DSA-44 line; the verifiers
 * (the library and `flashtrail verify`, on provenance documents and exports) require both under the hybrid
 * policy and refuse a checkpoint whose ML-DSA-44 line is removed or corrupted with CHECKPOINT_PQ_SIGNATURE_ERROR;
 * a ledger from before hybrid signatures gets its ML-DSA-44 key (0600, named in ledger.json) and announces it
 * when it starts with them; a lost key file is refused. Evidence from before is renewed (flashtrail renew) by a
 * later hybrid checkpoint and its consistency proof, offline; a forged proof is refused.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { startTestLedger, type TestLedger } from './helpers/ledger-fixture.ts';
import { SimulatedStation } from '../src/sim/simulated-station.ts';
import { LedgerClient } from '../src/client/ledger-client.ts';
import { EventSigner } from '../src/event/signer.ts';
import { nativeCrypto } from '../src/native/crypto.ts';
import { portableCrypto } from '../src/crypto/backend.ts';
import { verifyProvenance, verifyRenewal, parseVerifierKey, parseMlDsaVerifierKey, type ProvenanceDocument, type RenewalBundle, type RenewalReport } from '../src/verify/index.ts';
import { verifyMlDsaLine } from '../src/tlog/ml-dsa-note.ts';
import { parseNote } from '../src/tlog/note.ts';
import { configFromEnv, ledgerIdentity } from '../src/server/main.ts';
import { verificationFailure } from './helpers/verification-failure.ts';

const ROOT = join(fileURLToPath(import.meta.url), '..', '..');
const run = promisify(execFile);
const work = mkdtempSync(join(tmpdir(), 'flashtrail-hybrid-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const text = async (t: TestLedger, path: string) => (await fetch(`${t.url}${path}`, { headers: { authorization: `Bearer ${t.tokens.auditor}` } })).text();
const flash = (t: TestLedger, serial: string, stationKey = t.stationKeys['ST-01']) =>
  new SimulatedStation(new LedgerClient(t.url, t.tokens.station1), new EventSigner(stationKey, 'ST-01'), { stationId: 'ST-01', operator: 'op', batchId: t.batchId, hardwareRevision: 'rev-C' }, t.release).flash(serial, 'pass');

/** The note without its ML-DSA-44 line, or with one character of that line's signature changed. */
const stripped = (note: string) => note.replace(/\n— \S+ [A-Za-z0-9+/=]{3000,}\n$/, '\n');
const corrupted = (note: string) => note.replace(/(\n— \S+ [A-Za-z0-9+/=]{100})([A-Za-z0-9+/])/, (_m, head: string, c: string) => head + (c === 'A' ? 'B' : 'A'));
/** A provenance document whose checkpoint (and every proof's copy of it) is changed alike. */
const withNote = (doc: ProvenanceDocument, edit: (note: string) => string): ProvenanceDocument => ({
  ...doc,
  checkpoint: edit(doc.checkpoint),
  entries: doc.entries.map((e) => ({ ...e, proof: e.proof.replace(doc.checkpoint, edit(doc.checkpoint)) })),
});
/** A v3 document as the v2 document it extends (format v2, no statement, no history). */
const unsignedV2 = (doc: ProvenanceDocument): ProvenanceDocument => {
  const { statement: _statement, history: _history, ...rest } = doc;
  return { ...rest, format: 'flashtrail.provenance.v2' };
};
const codeOf = (f: () => unknown): string => verificationFailure(f)?.code ?? 'ok';
const cli = (args: string[]) => run(process.execPath, [join(ROOT, 'bin', 'flashtrail.js'), ...args], { maxBuffer: 1 << 26 }).then((r) => ({ code: 0, ...r }), (e: { code: number; stdout: string; stderr: string }) => e);

describe('hybrid Ed25519 + ML-DSA-44 checkpoints', () => {
  it('signs every checkpoint with both; provenance and exports verify under the hybrid policy and refuse a removed or corrupted ML-DSA-44 line', async () => {
    const t = await startTestLedger();
    try {
      await flash(t, 'H-1');
      const edKey = parseVerifierKey((await text(t, '/v1/ledger/key')).trim());
      const pqText = (await text(t, '/v1/ledger/pq-key')).trim();
      const pqKey = parseMlDsaVerifierKey(pqText);
      const doc = JSON.parse(await text(t, '/v1/units/H-1/provenance')) as ProvenanceDocument;
      const lines = parseNote(doc.checkpoint).signatures;
      expect(lines.map((s) => [s.name, s.signature.length])).toEqual([[edKey.name, 64], [pqKey.name, 8 + 2420]]);
      expect(verifyMlDsaLine(doc.checkpoint, pqKey, portableCrypto)).toMatchObject({ found: true, valid: true });

      for (const crypto of [nativeCrypto, portableCrypto]) {
        expect(verifyProvenance(doc, edKey, crypto, { mlDsaKey: pqKey }).signatures).toEqual(['Ed25519', 'ML-DSA-44']);
        expect(codeOf(() => verifyProvenance(withNote(doc, stripped), edKey, crypto, { mlDsaKey: pqKey }))).toBe('CHECKPOINT_PQ_SIGNATURE_ERROR');
        expect(codeOf(() => verifyProvenance(withNote(doc, corrupted), edKey, crypto, { mlDsaKey: pqKey }))).toBe('CHECKPOINT_PQ_SIGNATURE_ERROR');
        // Classical: Ed25519 alone suffices, but a failing signature by the pinned ML-DSA-44 key still rejects.
        // (On the document as v2 without its statement: the v3 statement signs the checkpoint text too, lines included.)
        expect(verifyProvenance(unsignedV2(withNote(doc, stripped)), edKey, crypto, { mlDsaKey: pqKey, require: 'classical' }).signatures).toEqual(['Ed25519']);
        expect(codeOf(() => verifyProvenance(withNote(doc, stripped), edKey, crypto, { mlDsaKey: pqKey, require: 'classical' }))).toBe('CONTENT_DIGEST_ERROR');
        expect(codeOf(() => verifyProvenance(withNote(doc, corrupted), edKey, crypto, { mlDsaKey: pqKey, require: 'classical' }))).toBe('CHECKPOINT_PQ_SIGNATURE_ERROR');
      }
      // Verifiers that know only the Ed25519 key (every one before this) accept the hybrid checkpoint as before.
      expect(verifyProvenance(doc, edKey, nativeCrypto).signatures).toEqual(['Ed25519']);

      // flashtrail verify, on the provenance document and on an export.
      const docFile = join(work, 'h1.json');
      writeFileSync(docFile, JSON.stringify(doc));
      const ok = await cli(['verify', docFile, '--ledger-key', (await text(t, '/v1/ledger/key')).trim(), '--ledger-pq-key', pqText, '--json']);
      expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true, report: { signatures: ['Ed25519', 'ML-DSA-44'] } });
      const strippedFile = join(work, 'h1-stripped.json');
      writeFileSync(strippedFile, JSON.stringify(withNote(doc, stripped)));
      const refused = await cli(['verify', strippedFile, '--ledger-key', (await text(t, '/v1/ledger/key')).trim(), '--ledger-pq-key', pqText]);
      expect(refused.code).toBe(1);
      expect(refused.stdout).toMatch(/CHECKPOINT_PQ_SIGNATURE_ERROR/);

      const exported = await fetch(`${t.url}/v1/exports`, { method: 'POST', headers: { authorization: `Bearer ${t.tokens.auditor}`, 'content-type': 'application/json' }, body: JSON.stringify({ batchId: t.batchId }) });
      expect(exported.status).toBe(200);
      const exportText = await exported.text();
      const exportFile = join(work, 'export.ndjson');
      writeFileSync(exportFile, exportText);
      const key = (await text(t, '/v1/ledger/key')).trim();
      const exportOk = await cli(['verify', exportFile, '--ledger-key', key, '--ledger-pq-key', pqText, '--json', '--workers', '1']);
      expect(JSON.parse(exportOk.stdout)).toMatchObject({ ok: true, report: { signatures: ['Ed25519', 'ML-DSA-44'] } });
      const lines2 = exportText.split('\n');
      const record = JSON.parse(lines2[1] as string) as { note: string };
      lines2[1] = JSON.stringify({ ...record, note: stripped(record.note) });
      const strippedExport = join(work, 'export-stripped.ndjson');
      writeFileSync(strippedExport, lines2.join('\n'));
      const exportRefused = await cli(['verify', strippedExport, '--ledger-key', key, '--ledger-pq-key', pqText, '--json', '--workers', '1']);
      expect(JSON.parse(exportRefused.stdout)).toMatchObject({ ok: false, error: { code: 'CHECKPOINT_PQ_SIGNATURE_ERROR', location: { line: 2 } } });
    } finally {
      await t.stop();
    }
  });

  it('a ledger from before hybrid signatures gets its ML-DSA-44 key at the next start, announces it, and refuses to start without it', async () => {
    const dataDir = join(work, 'old-ledger');
    const before = await startTestLedger({ dataDir, pqSignatures: 'off' });
    let oldDoc: ProvenanceDocument;
    try {
      await flash(before, 'O-1');
      oldDoc = JSON.parse(await text(before, '/v1/units/O-1/provenance')) as ProvenanceDocument;
      expect(parseNote(oldDoc.checkpoint).signatures).toHaveLength(1);
      expect((await fetch(`${before.url}/v1/ledger/pq-key`, { headers: { authorization: `Bearer ${before.tokens.auditor}` } })).status).toBe(404);
    } finally {
      await before.stop();
    }
    const after = await startTestLedger({ dataDir, setup: false });
    try {
      const keyFile = join(dataDir, 'ledger-ml-dsa.key');
      expect(statSync(keyFile).mode & 0o777).toBe(0o600);
      const info = JSON.parse(readFileSync(join(dataDir, 'ledger.json'), 'utf8')) as { mlDsaKeyId?: string };
      const pqKey = parseMlDsaVerifierKey((await text(after, '/v1/ledger/pq-key')).trim());
      expect(info.mlDsaKeyId).toMatch(/^[0-9a-f]{64}$/);
      const edKey = parseVerifierKey((await text(after, '/v1/ledger/key')).trim());
      // The old document: classical only. Under the hybrid policy it is refused, naming the missing signature.
      expect(verifyProvenance(oldDoc, edKey, nativeCrypto, { mlDsaKey: pqKey, require: 'classical' }).signatures).toEqual(['Ed25519']);
      expect(codeOf(() => verifyProvenance(oldDoc, edKey, nativeCrypto, { mlDsaKey: pqKey }))).toBe('CHECKPOINT_PQ_SIGNATURE_ERROR');
      // The announcement is in the log, signed by the ledger key; the next checkpoint is hybrid.
      const announced = await after.running.store.readStream('ledger-keys');
      expect(announced.map((e) => e.type)).toEqual(['LedgerKeyAnnounced']);
      expect(JSON.parse(Buffer.from((JSON.parse(Buffer.from(announced[0]!.data).toString()) as { payload: string }).payload, 'base64').toString())).toMatchObject({ source: { kind: 'ledger' }, data: { keyId: info.mlDsaKeyId, verifierKey: (await text(after, '/v1/ledger/pq-key')).trim() } });
      await flash(after, 'O-2', before.stationKeys['ST-01']);
      const newDoc = JSON.parse(await text(after, '/v1/units/O-2/provenance')) as ProvenanceDocument;
      expect(verifyProvenance(newDoc, edKey, nativeCrypto, { mlDsaKey: pqKey }).signatures).toEqual(['Ed25519', 'ML-DSA-44']);

      // Renewal: flashtrail renew fetches the newest hybrid checkpoint and the consistency proof; the bundle
      // verifies offline and says what covers the old evidence. A forged proof is refused.
      const oldFile = join(work, 'o1.json');
      writeFileSync(oldFile, JSON.stringify(oldDoc));
      const tokenFile = join(work, 'auditor.token');
      writeFileSync(tokenFile, after.tokens.auditor + '\n', { mode: 0o600 });
      const renewed = await cli(['renew', oldFile, '--url', after.url, '--token-file', tokenFile]);
      expect(renewed.stdout).toMatch(/renewed by checkpoint \d+, Ed25519 \+ ML-DSA-44/);
      const bundleFile = join(work, 'o1.renewed.json');
      const bundle = JSON.parse(readFileSync(bundleFile, 'utf8')) as RenewalBundle;
      const edText = (await text(after, '/v1/ledger/key')).trim();
      const pqText = (await text(after, '/v1/ledger/pq-key')).trim();
      const verified = await cli(['verify', bundleFile, '--ledger-key', edText, '--ledger-pq-key', pqText, '--json']);
      expect(JSON.parse(verified.stdout)).toMatchObject({ ok: true, report: { evidence: { serial: 'O-1', signatures: ['Ed25519'] }, renewed: { signatures: ['Ed25519', 'ML-DSA-44'] } } });
      expect((JSON.parse(verified.stdout) as { report: RenewalReport }).report.renewed.statement).toMatch(/^covered by checkpoint \d+ of \d{4}-\d\d-\d\d, ML-DSA-44 \+ Ed25519$/);
      expect(verifyRenewal(bundle, edKey, pqKey, portableCrypto).renewed.size).toBeGreaterThan(verifyProvenance(oldDoc, edKey, portableCrypto).checkpoint.size);
      const forged = { ...bundle, consistency: bundle.consistency.map((h, i) => (i === 0 ? Buffer.from(portableCrypto.sha256(Buffer.from(h, 'base64'))).toString('base64') : h)) };
      expect(bundle.consistency.length).toBeGreaterThan(0);
      expect(codeOf(() => verifyRenewal(forged, edKey, pqKey, portableCrypto))).toBe('CONSISTENCY_PROOF_ERROR');
      const forgedFile = join(work, 'o1.forged.json');
      writeFileSync(forgedFile, JSON.stringify(forged));
      const refused = await cli(['verify', forgedFile, '--ledger-key', edText, '--ledger-pq-key', pqText, '--json']);
      expect(JSON.parse(refused.stdout)).toMatchObject({ ok: false, error: { code: 'CONSISTENCY_PROOF_ERROR' } });
      // v2 writes the (here empty) rotations; a v1 bundle, which has none, still verifies in the CLI; v1 with them is refused.
      expect(bundle).toMatchObject({ format: 'flashtrail.renewal.v2', rotations: [] });
      const { rotations: _none, ...v1 } = { ...bundle, format: 'flashtrail.renewal.v1' as const };
      const v1File = join(work, 'o1.v1.json');
      writeFileSync(v1File, JSON.stringify(v1));
      const v1Verified = await cli(['verify', v1File, '--ledger-key', edText, '--ledger-pq-key', pqText, '--json']);
      expect(JSON.parse(v1Verified.stdout)).toMatchObject({ ok: true, report: { format: 'flashtrail.renewal.v1', renewed: { signatures: ['Ed25519', 'ML-DSA-44'] } } });
      expect(codeOf(() => verifyRenewal({ ...v1, rotations: [] }, edKey, pqKey, portableCrypto))).toBe('FORMAT_ERROR');
      // The newer checkpoint without its ML-DSA-44 line renews nothing.
      expect(codeOf(() => verifyRenewal({ ...bundle, checkpoint: stripped(bundle.checkpoint) }, edKey, pqKey, portableCrypto))).toBe('CHECKPOINT_PQ_SIGNATURE_ERROR');
    } finally {
      await after.stop();
    }
    // Losing the key file is refused, not papered over with a new key.
    rmSync(join(dataDir, 'ledger-ml-dsa.key'));
    expect(() => ledgerIdentity(configFromEnv({}, { dataDir }))).toThrow(/ledger-ml-dsa.key is missing/);
  });
});
