/**
 * The ledger as a SCITT Transparency Service, end to end on a real server and SQLite file: a COSE Receipt for
 * every entry of a unit's provenance, a Transparent Statement for a shipped unit, both verified by our
 * verifier and by an independent one written from RFC 9052/9942/9943 alone in Python (python3-cbor2,
 * python3-cryptography, test/interop/python-cose/verify_cose.py), and tampered copies refused by both.
 * The Python half is skipped, saying why, where /usr/bin/python3 lacks those packages.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestLedger, type TestLedger } from './helpers/ledger-fixture.ts';
import { SimulatedStation } from '../src/sim/simulated-station.ts';
import { LedgerClient } from '../src/client/ledger-client.ts';
import { EventSigner } from '../src/event/signer.ts';
import { canonicalBytes } from '../src/crypto/jcs.ts';
import { toHex } from '../src/crypto/encoding.ts';
import { nativeCrypto } from '../src/native/crypto.ts';
import { portableCrypto } from '../src/crypto/backend.ts';
import { decodeCbor } from '../src/scitt/cbor.ts';
import { decodeSign1, encodeSign1 } from '../src/scitt/cose.ts';
import { verifyReceipt, type ScittKey } from '../src/scitt/receipt.ts';
import { registeredForm, verifyTransparentStatement } from '../src/scitt/statement.ts';
import { ScittError } from '../src/scitt/errors.ts';
import { parseNote } from '../src/tlog/note.ts';
import type { ProvenanceDocument } from '../src/verify/index.ts';
import { verifyProvenance, parseVerifierKey } from '../src/verify/index.ts';
import { missingPython, PYTHON } from './helpers/python.ts';

const ROOT = join(fileURLToPath(import.meta.url), '..', '..');
const VERIFIER = join(ROOT, 'test', 'interop', 'python-cose', 'verify_cose.py');
const run = promisify(execFile);

const pythonSkip = missingPython('cbor2', 'cryptography');
if (pythonSkip) console.warn(`independent COSE verifier skipped: ${pythonSkip}`);

const work = mkdtempSync(join(tmpdir(), 'flashtrail-scitt-'));
let t: TestLedger;
let keySet: Uint8Array;
let ledgerKey: ScittKey;
let verifierKey: string;
let n = 0;

const get = async (path: string, token = t.tokens.auditor) => {
  const r = await fetch(`${t.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
  return { status: r.status, type: r.headers.get('content-type'), bytes: new Uint8Array(await r.arrayBuffer()) };
};
const file = (bytes: Uint8Array) => {
  const path = join(work, `f${n++}`);
  writeFileSync(path, bytes);
  return path;
};
async function python(args: string[]): Promise<{ ok: boolean; error?: string; [k: string]: unknown }> {
  const r = await run(PYTHON, [VERIFIER, ...args, '--keys', file(keySet)], { timeout: 60_000 }).catch((e: { stdout: string; stderr: string }) => e);
  const out = r.stdout.trim();
  try {
    return JSON.parse(out) as { ok: boolean };
  } catch {
    throw new Error(`verify_cose.py printed no JSON: ${out}\n${r.stderr}`);
  }
}
const codeOf = (run: () => unknown) => {
  try {
    run();
    return 'ok';
  } catch (error) {
    if (error instanceof ScittError) return error.code;
    throw error;
  }
};
const flipped = (bytes: Uint8Array, at: number) => {
  const copy = Uint8Array.from(bytes);
  copy[at] = (copy[at] as number) ^ 0x01;
  return copy;
};

beforeAll(async () => {
  t = await startTestLedger();
  const station = new SimulatedStation(new LedgerClient(t.url, t.tokens.station1), new EventSigner(t.stationKeys['ST-01'], 'ST-01'), { stationId: 'ST-01', operator: 'op', batchId: t.batchId, hardwareRevision: 'rev-C' }, t.release);
  await station.flash('U-1', 'pass');
  await station.flash('U-2', 'pass-unshipped');
  const keys = await fetch(`${t.url}/.well-known/scitt-keys`);
  expect(keys.headers.get('content-type')).toBe('application/cbor');
  keySet = new Uint8Array(await keys.arrayBuffer());
  const [key] = decodeCbor(keySet, 4096) as Map<number, Uint8Array>[];
  ledgerKey = { kid: key?.get(2) as Uint8Array, alg: -8, publicKey: key?.get(-2) as Uint8Array };
  verifierKey = new TextDecoder().decode((await get('/v1/ledger/key')).bytes).trim();
});
afterAll(async () => {
  await t?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('COSE Receipts from a real ledger', () => {
  it('serves the ledger key as a COSE_KeySet without a token: the key the checkpoints are signed with', () => {
    expect(toHex(ledgerKey.publicKey)).toBe(toHex(parseVerifierKey(verifierKey).publicKey));
    expect(toHex(ledgerKey.kid)).toBe(toHex(nativeCrypto.sha256(ledgerKey.publicKey)));
  });

  it('gives every entry of a provenance document a receipt that proves its envelope bytes (the leaf of §4)', async () => {
    const doc = JSON.parse(new TextDecoder().decode((await get('/v1/units/U-1/provenance')).bytes)) as ProvenanceDocument;
    verifyProvenance(doc, parseVerifierKey(verifierKey), nativeCrypto);
    const docSize = Number(parseNote(doc.checkpoint).text.split('\n')[1]);
    for (const entry of doc.entries) {
      const r = await get(`/entries/${entry.leafIndex}`);
      expect(r.status).toBe(200);
      expect(r.type).toBe('application/scitt-receipt+cose');
      const verified = verifyReceipt(r.bytes, canonicalBytes(entry.envelope), ledgerKey, portableCrypto);
      expect(verified.index).toBe(entry.leafIndex);
      expect(verified.size).toBeGreaterThanOrEqual(docSize);
    }
    // Stable: no new events, no new checkpoint, the same bytes.
    const first = doc.entries[0] as ProvenanceDocument['entries'][number];
    expect(toHex((await get(`/entries/${first.leafIndex}`)).bytes)).toBe(toHex((await get(`/entries/${first.leafIndex}`)).bytes));
  });

  it('answers problem documents for an entry the log does not hold, a bad id, and without a token', async () => {
    expect((await get('/entries/999999')).status).toBe(404);
    expect((await get('/entries/01')).status).toBe(404);
    expect((await get('/entries/0', 'not-a-token-at-all-xx')).status).toBe(401);
  });

  it.skipIf(pythonSkip !== null)('the independent Python verifier accepts genuine receipts and refuses tampered ones', async () => {
    const doc = JSON.parse(new TextDecoder().decode((await get('/v1/units/U-1/provenance')).bytes)) as ProvenanceDocument;
    const entries = [doc.entries[0], doc.entries[Math.floor(doc.entries.length / 2)], doc.entries[doc.entries.length - 1]] as ProvenanceDocument['entries'];
    for (const entry of entries) {
      const receipt = (await get(`/entries/${entry.leafIndex}`)).bytes;
      const entryFile = file(canonicalBytes(entry.envelope));
      expect(await python(['receipt', file(receipt), '--entry', entryFile])).toMatchObject({ ok: true, index: entry.leafIndex });
      const m = decodeSign1(receipt);
      const badSignature = encodeSign1({ ...m, signature: flipped(m.signature, 3) });
      expect(codeOf(() => verifyReceipt(badSignature, canonicalBytes(entry.envelope), ledgerKey))).toBe('RECEIPT_SIGNATURE_ERROR');
      expect(await python(['receipt', file(badSignature), '--entry', entryFile])).toMatchObject({ ok: false });
      const otherEntry = file(canonicalBytes({ ...entry.envelope, payload: entry.envelope.payload }).subarray(1));
      expect(await python(['receipt', file(receipt), '--entry', otherEntry])).toMatchObject({ ok: false });
    }
  });
});

describe('Transparent Statements from a real ledger', () => {
  it('registers one statement per shipped unit, served with its receipt, and verifies offline', async () => {
    const r = await get('/statements/U-1');
    expect(r.status).toBe(200);
    expect(r.type).toBe('application/scitt-statement+cose');
    const verified = verifyTransparentStatement(r.bytes, { issuer: ledgerKey, ledger: ledgerKey }, nativeCrypto);
    expect(verified.subject).toBe('U-1');
    // The payload is the SHA-256 of the provenance document it names, which verifies on its own.
    const provenance = await get('/statements/U-1/provenance');
    expect(toHex(nativeCrypto.sha256(provenance.bytes))).toBe(verified.provenanceSha256);
    const doc = JSON.parse(new TextDecoder().decode(provenance.bytes)) as ProvenanceDocument;
    expect(verifyProvenance(doc, parseVerifierKey(verifierKey), nativeCrypto)).toMatchObject({ serial: 'U-1' });
    // Registered once: asked again (after more events), the same statement, its document unchanged.
    const station = new SimulatedStation(new LedgerClient(t.url, t.tokens.station1), new EventSigner(t.stationKeys['ST-01'], 'ST-01'), { stationId: 'ST-01', operator: 'op', batchId: t.batchId, hardwareRevision: 'rev-C' }, t.release);
    await station.flash('U-3', 'pass');
    const again = await get('/statements/U-1');
    expect(toHex(registeredForm(again.bytes))).toBe(toHex(registeredForm(r.bytes)));
    expect(toHex((await get('/statements/U-1/provenance')).bytes)).toBe(toHex(provenance.bytes));
  });

  it('refuses a statement for a unit that has not shipped or does not exist', async () => {
    expect((await get('/statements/U-2')).status).toBe(404);
    expect((await get('/statements/U-404')).status).toBe(404);
    expect((await get('/statements/U-1', t.tokens.station1)).status).toBe(403);
  });

  it('refuses a changed payload, a receipt for another entry and a swapped entry, in both verifiers', async () => {
    const ts = (await get('/statements/U-1')).bytes;
    const other = (await get('/statements/U-3')).bytes;
    const m = decodeSign1(ts);
    const mo = decodeSign1(other);
    const keys = { issuer: ledgerKey, ledger: ledgerKey };
    const cases: [string, Uint8Array, string][] = [
      ['changed payload', encodeSign1({ ...m, payload: flipped(m.payload as Uint8Array, 0) }), 'STATEMENT_SIGNATURE_ERROR'],
      ['the receipt of another registration', encodeSign1({ ...m, unprotectedHeader: new Map([...m.unprotectedHeader, [394, mo.unprotectedHeader.get(394)]]) }), 'RECEIPT_PROOF_ERROR'],
      ['another unit\'s registration entry', encodeSign1({ ...m, unprotectedHeader: new Map([...mo.unprotectedHeader]) }), 'STATEMENT_NOT_REGISTERED'],
    ];
    for (const [, bytes, code] of cases) expect(codeOf(() => verifyTransparentStatement(bytes, keys, nativeCrypto))).toBe(code);
    if (pythonSkip) return;
    const provenance = file((await get('/statements/U-1/provenance')).bytes);
    expect(await python(['statement', file(ts), '--provenance', provenance])).toMatchObject({ ok: true, subject: 'U-1' });
    expect(await python(['statement', file(other), '--provenance', provenance])).toMatchObject({ ok: false });
    for (const [what, bytes] of cases) expect(await python(['statement', file(bytes)]), what).toMatchObject({ ok: false });
  });
});
