/**
 * Signed provenance documents, flashtrail.provenance.v3 (docs/format.md §6.7), from a real ledger: the document's
 * `statement` is the ledger's DSSE envelope (Ed25519 + ML-DSA-44) of an in-toto Statement whose subject is the unit
 * and whose digest is SHA-256 of the RFC 8785 text of the rest of the document. The tamper case of the issue —
 * the last five events of a shipped unit deleted from its document — verified before; now it is refused, by the
 * library and by `flashtrail verify`, as are a missing, re-signed or half-signed statement.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestLedger, type TestLedger } from './helpers/ledger-fixture.ts';
import { runCli } from './helpers/cli.ts';
import { SimulatedStation } from '../src/sim/simulated-station.ts';
import { LedgerClient } from '../src/client/ledger-client.ts';
import { EventSigner } from '../src/event/signer.ts';
import { nativeCrypto } from '../src/native/crypto.ts';
import { portableCrypto } from '../src/crypto/backend.ts';
import { newSigner } from '../src/crypto/ed25519.ts';
import { fromBase64, fromUtf8 } from '../src/crypto/encoding.ts';
import { canonicalBytes, canonicalize } from '../src/crypto/jcs.ts';
import { signEnvelopeHybrid } from '../src/crypto/dsse-hybrid.ts';
import { parseMlDsaVerifierKey, parseVerifierKey, verifyProvenance, VerificationError, type ProvenanceDocument } from '../src/verify/index.ts';

const work = mkdtempSync(join(tmpdir(), 'flashtrail-provenance-v3-'));
let t: TestLedger;
let doc: ProvenanceDocument & { statement: { payloadType: string; payload: string; signatures: { keyid: string; sig: string }[] } };
let served: string;
let edKeyText: string;
let pqKeyText: string;

beforeAll(async () => {
  t = await startTestLedger();
  const station = new SimulatedStation(new LedgerClient(t.url, t.tokens.station1), new EventSigner(t.stationKeys['ST-01'], 'ST-01'), { stationId: 'ST-01', operator: 'op', batchId: t.batchId, hardwareRevision: 'rev-C' }, t.release);
  await station.flash('P3-1', 'app-mismatch-then-rework');
  const auditor = new LedgerClient(t.url, t.tokens.auditor);
  doc = await auditor.get('/v1/units/P3-1/provenance');
  served = await auditor.getText('/v1/units/P3-1/provenance');
  edKeyText = (await auditor.getText('/v1/ledger/key')).trim();
  pqKeyText = (await auditor.getText('/v1/ledger/pq-key')).trim();
}, 120_000);
afterAll(async () => {
  await t?.stop();
  rmSync(work, { recursive: true, force: true });
});

const codeOf = (d: unknown, policy: Parameters<typeof verifyProvenance>[3] = { mlDsaKey: parseMlDsaVerifierKey(pqKeyText) }, crypto = nativeCrypto) => {
  try {
    verifyProvenance(d, parseVerifierKey(edKeyText), crypto, policy);
    return 'ok';
  } catch (error) {
    if (error instanceof VerificationError) return `${error.code} ${error.step} ${error.location.field ?? ''}`.trim();
    throw error;
  }
};
const unitPositions = (d: ProvenanceDocument) => d.entries.map((e, i) => [i, e.role] as const).filter(([, r]) => r === 'unit').map(([i]) => i);

describe('provenance v3: the ledger signs the document', () => {
  it('serves flashtrail.provenance.v3 with a hybrid statement about the unit over the rest of the document', () => {
    expect(doc.format).toBe('flashtrail.provenance.v3');
    expect(doc.statement.signatures.map((s) => fromBase64(s.sig).length)).toEqual([64, 2420]);
    const statement = JSON.parse(fromUtf8(fromBase64(doc.statement.payload))) as { subject: { name: string; digest: { sha256: string } }[]; predicateType: string; predicate: { unitEvents: number; entries: number } };
    const { statement: _s, ...rest } = doc;
    expect(statement.predicateType).toBe('https://flashtrail.dev/attestation/provenance/v3');
    expect(statement.subject).toEqual([{ name: 'P3-1', digest: { sha256: Buffer.from(nativeCrypto.sha256(canonicalBytes(rest))).toString('hex') } }]);
    expect(statement.predicate).toMatchObject({ entries: doc.entries.length, unitEvents: unitPositions(doc).length });
    // Served as its own RFC 8785 text (serialized once: the digest above is of that text without the statement).
    const { statement: _again, ...servedRest } = JSON.parse(served) as typeof doc;
    expect(served).toBe(canonicalize(JSON.parse(served)));
    expect(served.startsWith(canonicalize(servedRest).slice(0, -1) + ',"statement":{')).toBe(true);
    for (const crypto of [nativeCrypto, portableCrypto]) {
      const report = verifyProvenance(doc, parseVerifierKey(edKeyText), crypto, { mlDsaKey: parseMlDsaVerifierKey(pqKeyText) });
      expect(report).toMatchObject({ format: 'flashtrail.provenance.v3', signatures: ['Ed25519', 'ML-DSA-44'], statementSignatures: ['Ed25519', 'ML-DSA-44'] });
      // history: not checked without the index log key (test/history.int.test.ts checks it).
      expect(report.steps.map((s) => s.step)).toEqual(['format', 'checkpoint', 'envelopes', 'inclusion', 'keys', 'unit', 'history', 'statement']);
    }
    // A verifier that knows only the Ed25519 key: the statement verifies by its Ed25519 signature.
    expect(verifyProvenance(doc, parseVerifierKey(edKeyText), nativeCrypto).statementSignatures).toEqual(['Ed25519']);
  });

  it('refuses the document with its last five unit events deleted (a valid prefix, which v2 accepted), and every statement that is not the ledger\'s', () => {
    const units = unitPositions(doc);
    expect(units.length).toBeGreaterThan(5);
    const cut = { ...doc, entries: doc.entries.filter((_e, i) => !units.slice(-5).includes(i)) };
    expect(codeOf(cut)).toBe('CONTENT_DIGEST_ERROR statement statement.subject[0].digest.sha256');
    // The same prefix as v2, unsigned, still verifies: what the statement adds.
    const { statement: _s, ...unsigned } = cut;
    const { history: _h, ...v2 } = unsigned;
    expect(codeOf({ ...v2, format: 'flashtrail.provenance.v2' })).toBe('ok');
    expect(codeOf(unsigned)).toMatch(/^FORMAT_ERROR format statement/);
    expect(codeOf({ ...doc, comment: 'x' })).toMatch(/^FORMAT_ERROR format/);

    const pq = doc.statement.signatures[1] as { keyid: string; sig: string };
    expect(codeOf({ ...doc, statement: { ...doc.statement, signatures: [doc.statement.signatures[0]] } })).toBe('STATEMENT_PQ_SIGNATURE_ERROR statement envelope.signatures');
    expect(codeOf({ ...doc, statement: { ...doc.statement, signatures: [doc.statement.signatures[0]] } }, { mlDsaKey: parseMlDsaVerifierKey(pqKeyText), require: 'classical' })).toBe('ok');
    const flipped = fromBase64(pq.sig);
    flipped[9] = (flipped[9] as number) ^ 1;
    expect(codeOf({ ...doc, statement: { ...doc.statement, signatures: [doc.statement.signatures[0], { keyid: pq.keyid, sig: Buffer.from(flipped).toString('base64') }] } })).toBe('STATEMENT_PQ_SIGNATURE_ERROR statement envelope.signatures[1].sig');
    // Re-signed by someone else over the cut document: not the ledger key.
    const stranger = newSigner();
    const { statement: _t, ...cutRest } = cut;
    const forged = signEnvelopeHybrid(doc.statement.payloadType, fromBase64(doc.statement.payload), stranger, null);
    expect(codeOf({ ...cutRest, statement: forged })).toBe('STATEMENT_SIGNATURE_ERROR statement envelope.signatures[0].keyid');
  });

  it('flashtrail verify says the document is signed, and refuses the cut one in one line with its code', async () => {
    const good = join(work, 'p3-1.json');
    writeFileSync(good, JSON.stringify(doc));
    const ok = await runCli(['verify', good, '--ledger-key', edKeyText, '--ledger-pq-key', pqKeyText]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/statement.*the ledger signed this document .* with Ed25519 \+ ML-DSA-44/);
    const units = unitPositions(doc);
    const cutFile = join(work, 'p3-1-cut.json');
    writeFileSync(cutFile, JSON.stringify({ ...doc, entries: doc.entries.filter((_e, i) => !units.slice(-5).includes(i)) }));
    const refused = await runCli(['verify', cutFile, '--ledger-key', edKeyText, '--ledger-pq-key', pqKeyText]);
    expect(refused.code).toBe(1);
    expect(refused.stdout + refused.stderr).toMatch(/CONTENT_DIGEST_ERROR/);
    expect(refused.stdout).not.toMatch(/^verified/m);
    expect(refused.stderr).not.toMatch(/^\s+at /m);
  });

  it('the independent Python verifier (docs/format.md alone) checks the statement by its Ed25519 signature and refuses the cut document', (ctx) => {
    const probe = spawnSync('/usr/bin/python3', ['-c', 'import cryptography.hazmat.primitives.asymmetric.ed25519'], { encoding: 'utf8' });
    if (probe.error || probe.status !== 0) {
      console.log(`skipped: the Python verifier needs /usr/bin/python3 with python3-cryptography (${probe.error?.message ?? probe.stderr.trim()})`);
      ctx.skip();
      return;
    }
    const script = join(fileURLToPath(new URL('.', import.meta.url)), 'interop', 'python', 'flashtrail_verify.py');
    const python = (file: string, ...args: string[]) => JSON.parse(spawnSync('/usr/bin/python3', [script, '--ledger-key', edKeyText, ...args, file], { encoding: 'utf8', timeout: 120_000 }).stdout.trim().split('\n').pop() as string) as { ok: boolean; code?: string; statementSignatures?: string[] };
    expect(python(join(work, 'p3-1.json'))).toMatchObject({ ok: true, format: 'flashtrail.provenance.v3', statementSignatures: ['Ed25519'] });
    expect(python(join(work, 'p3-1-cut.json'))).toMatchObject({ ok: false, code: 'CONTENT_DIGEST_ERROR' });
    const halfSigned = join(work, 'p3-1-half.json');
    writeFileSync(halfSigned, JSON.stringify({ ...doc, statement: { ...doc.statement, signatures: [doc.statement.signatures[0]] } }));
    expect(python(halfSigned, '--ledger-pq-key', pqKeyText)).toMatchObject({ ok: false, code: 'STATEMENT_PQ_SIGNATURE_ERROR' });
  });
});
