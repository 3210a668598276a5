/**
 * The hybrid statement of flashtrail.export.v3 (docs/format.md §7.6.1), as a real ledger writes it (in a v4 export, §7.6.2, whose statement is v3's): the statement's DSSE envelope carries the
 * ledger's Ed25519 and ML-DSA-44 signatures over one PAE, and its predicate names the offline verifier page by
 * SHA-256. `flashtrail export` writes that very page next to the file; `flashtrail verify --page` compares it.
 * Under the hybrid policy a removed or corrupted ML-DSA-44 signature is STATEMENT_PQ_SIGNATURE_ERROR; a page
 * that is not the one named is VERIFIER_PAGE_MISMATCH; the classical policy accepts Ed25519 alone.
 */
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { fetchNode26 } from './helpers/node26.ts';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestLedger, type TestLedger } from './helpers/ledger-fixture.ts';
import { runCli } from './helpers/cli.ts';
import { SimulatedStation } from '../src/sim/simulated-station.ts';
import { LedgerClient } from '../src/client/ledger-client.ts';
import { EventSigner } from '../src/event/signer.ts';
import { nativeCrypto } from '../src/native/crypto.ts';
import { portableCrypto } from '../src/crypto/backend.ts';
import { pae } from '../src/crypto/dsse.ts';
import { fromBase64, fromUtf8, toBase64 } from '../src/crypto/encoding.ts';
import { keyIdOf } from '../src/crypto/ed25519.ts';
import { mlDsaKeyId, verifyMlDsa44Portable } from '../src/crypto/ml-dsa.ts';
import { inlineUnitVerifier, parseMlDsaVerifierKey, parseVerifierKey, verifyExportLines, VerificationError, type ExportReport, type SignaturePolicy } from '../src/verify/index.ts';

const work = mkdtempSync(join(tmpdir(), 'flashtrail-export-v3-'));
let t: TestLedger;
let exportText: string;
let page: Uint8Array;
let edKeyText: string;
let pqKeyText: string;

const text = async (path: string) => (await fetch(`${t.url}${path}`, { headers: { authorization: `Bearer ${t.tokens.auditor}` } })).text();
const sha = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');

beforeAll(async () => {
  t = await startTestLedger();
  const station = new SimulatedStation(new LedgerClient(t.url, t.tokens.station1), new EventSigner(t.stationKeys['ST-01'], 'ST-01'), { stationId: 'ST-01', operator: 'op', batchId: t.batchId, hardwareRevision: 'rev-C' }, t.release);
  await station.flash('V3-1', 'pass');
  await station.flash('V3-2', 'pass');
  edKeyText = (await text('/v1/ledger/key')).trim();
  pqKeyText = (await text('/v1/ledger/pq-key')).trim();
  const tokenFile = join(work, 'auditor.token');
  writeFileSync(tokenFile, t.tokens.auditor + '\n', { mode: 0o600 });
  const out = join(work, 'batch.ndjson');
  const r = await runCli(['export', '--out', out, '--batch', t.batchId, '--url', t.url, '--token-file', tokenFile], { timeoutMs: 60_000 });
  expect(r.stderr).not.toMatch(/not written/);
  expect(r.code).toBe(0);
  exportText = readFileSync(out, 'utf8');
  page = new Uint8Array(readFileSync(join(work, 'verify.html')));
}, 120_000);
afterAll(async () => {
  await t?.stop();
  rmSync(work, { recursive: true, force: true });
});

const statementOf = (lines: string[]) => JSON.parse(lines[lines.length - 1] as string) as { envelope: { payloadType: string; payload: string; signatures: { keyid: string; sig: string }[] } };
const withStatement = (edit: (s: ReturnType<typeof statementOf>) => void): string => {
  const lines = exportText.split('\n').slice(0, -1);
  const s = statementOf(lines);
  edit(s);
  return [...lines.slice(0, -1), JSON.stringify({ envelope: s.envelope, record: 'statement' })].join('\n') + '\n';
};
async function* linesOfText(body: string): AsyncGenerator<Uint8Array> {
  for (const l of body.split('\n').slice(0, -1)) yield new TextEncoder().encode(l + '\n');
}
const verify = (body: string, policy: SignaturePolicy, verifierPage?: Uint8Array, crypto = nativeCrypto): Promise<ExportReport> =>
  verifyExportLines(linesOfText(body), parseVerifierKey(edKeyText), { crypto, units: inlineUnitVerifier(crypto), signatures: policy, ...(verifierPage ? { verifierPage } : {}) });
const codeOf = async (p: Promise<unknown>) => {
  try {
    await p;
    return 'ok';
  } catch (error) {
    if (error instanceof VerificationError) return `${error.code} ${error.location.field ?? ''}`.trim();
    throw error;
  }
};
const flip = (b64: string) => {
  const bytes = fromBase64(b64);
  bytes[10] = (bytes[10] as number) ^ 1;
  return toBase64(bytes);
};

describe('export v3: hybrid statement and the verifier page', () => {
  it('signs the statement with Ed25519 and ML-DSA-44 over one PAE, and names the page the ledger serves and the CLI wrote', async () => {
    const lines = exportText.split('\n').slice(0, -1);
    expect(JSON.parse(lines[0] as string)).toMatchObject({ record: 'header', format: 'flashtrail.export.v4' });
    const { envelope } = statementOf(lines);
    const edKey = parseVerifierKey(edKeyText);
    const pqKey = parseMlDsaVerifierKey(pqKeyText);
    expect(envelope.signatures.map((s) => [s.keyid, fromBase64(s.sig).length])).toEqual([
      [keyIdOf(edKey.publicKey), 64],
      [mlDsaKeyId(pqKey.publicKey), 2420],
    ]);
    // The ML-DSA-44 signature is pure ML-DSA with the empty context over DSSE's PAE, the same bytes Ed25519 signs.
    const message = pae(envelope.payloadType, fromBase64(envelope.payload));
    expect(verifyMlDsa44Portable(fromBase64((envelope.signatures[1] as { sig: string }).sig), message, pqKey.publicKey)).toBe(true);
    expect(nativeCrypto.verifyEd25519(fromBase64((envelope.signatures[0] as { sig: string }).sig), message, edKey.publicKey)).toBe(true);

    const statement = JSON.parse(fromUtf8(fromBase64(envelope.payload))) as { predicateType: string; predicate: { format: string; verifierPage: { name: string; sha256: string } } };
    expect(statement.predicateType).toBe('https://flashtrail.dev/attestation/traceability-export/v4');
    const served = new Uint8Array(await (await fetch(`${t.url}/verify.html`)).arrayBuffer());
    expect(statement.predicate.verifierPage).toEqual({ name: 'verify.html', sha256: sha(served) });
    expect(sha(page)).toBe(sha(served));
  });

  it('verifies under the hybrid policy, with and without the page, on both crypto backends, and says which signatures verified', async () => {
    const policy = { mlDsaKey: parseMlDsaVerifierKey(pqKeyText) };
    for (const crypto of [nativeCrypto, portableCrypto]) {
      const withPage = await verify(exportText, policy, page, crypto);
      expect(withPage).toMatchObject({ format: 'flashtrail.export.v4', units: 2, signatures: ['Ed25519', 'ML-DSA-44'], statementSignatures: ['Ed25519', 'ML-DSA-44'], verifierPage: { sha256: sha(page), checked: true } });
      expect((await verify(exportText, policy, undefined, crypto)).verifierPage).toEqual({ sha256: sha(page), checked: false });
    }
    // A verifier that knows only the Ed25519 key accepts it as before, and says the ML-DSA-44 signature was not counted.
    expect((await verify(exportText, {})).statementSignatures).toEqual(['Ed25519']);
  });

  it('refuses a removed, corrupted or foreign ML-DSA-44 signature, a corrupted Ed25519 one and a page that is not the one named', async () => {
    const hybrid = { mlDsaKey: parseMlDsaVerifierKey(pqKeyText) };
    const classical = { ...hybrid, require: 'classical' as const };
    const removed = withStatement((s) => s.envelope.signatures.splice(1));
    const corrupted = withStatement((s) => ((s.envelope.signatures[1] as { sig: string }).sig = flip((s.envelope.signatures[1] as { sig: string }).sig)));
    const foreign = withStatement((s) => ((s.envelope.signatures[1] as { keyid: string }).keyid = sha('another key')));
    const edCorrupted = withStatement((s) => ((s.envelope.signatures[0] as { sig: string }).sig = flip((s.envelope.signatures[0] as { sig: string }).sig)));
    const swapped = withStatement((s) => s.envelope.signatures.reverse());
    expect(await codeOf(verify(removed, hybrid))).toBe('STATEMENT_PQ_SIGNATURE_ERROR envelope.signatures');
    expect(await codeOf(verify(corrupted, hybrid))).toBe('STATEMENT_PQ_SIGNATURE_ERROR envelope.signatures[1].sig');
    expect(await codeOf(verify(foreign, hybrid))).toBe('STATEMENT_PQ_SIGNATURE_ERROR envelope.signatures[1].keyid');
    // Classical: Ed25519 alone suffices, but a failing signature by the pinned ML-DSA-44 key still rejects.
    expect((await verify(removed, classical)).statementSignatures).toEqual(['Ed25519']);
    expect(await codeOf(verify(corrupted, classical))).toBe('STATEMENT_PQ_SIGNATURE_ERROR envelope.signatures[1].sig');
    expect(await codeOf(verify(edCorrupted, classical))).toBe('STATEMENT_SIGNATURE_ERROR envelope.signatures[0].sig');
    expect(await codeOf(verify(swapped, hybrid))).toMatch(/^FORMAT_ERROR/);

    const tampered = Uint8Array.from(page);
    tampered[tampered.length - 2] = 0x20;
    expect(await codeOf(verify(exportText, hybrid, tampered))).toBe('VERIFIER_PAGE_MISMATCH statement.predicate.verifierPage.sha256');
  });

  it('flashtrail verify reports the statement signatures and the page, and refuses another page in one line with its code', async () => {
    const exportFile = join(work, 'batch.ndjson');
    const ok = await runCli(['verify', exportFile, '--ledger-key', edKeyText, '--ledger-pq-key', pqKeyText, '--page', join(work, 'verify.html'), '--workers', '1']);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('statement signed with Ed25519 + ML-DSA-44');
    expect(ok.stdout).toContain(`verifier page sha256 ${sha(page)}: the page given matches`);
    const other = join(work, 'other.html');
    writeFileSync(other, '<!doctype html><title>not the verifier</title>\n');
    const refused = await runCli(['verify', exportFile, '--ledger-key', edKeyText, '--ledger-pq-key', pqKeyText, '--page', other, '--json', '--workers', '1']);
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stdout)).toMatchObject({ ok: false, error: { code: 'VERIFIER_PAGE_MISMATCH' } });
    const removedFile = join(work, 'removed.ndjson');
    writeFileSync(removedFile, withStatement((s) => s.envelope.signatures.splice(1)));
    const pqRefused = await runCli(['verify', removedFile, '--ledger-key', edKeyText, '--ledger-pq-key', pqKeyText, '--workers', '1']);
    expect(pqRefused.code).toBe(1);
    expect(pqRefused.stdout).toMatch(/STATEMENT_PQ_SIGNATURE_ERROR/);
    expect(pqRefused.stderr).not.toMatch(/^\s+at /m);
  });

  it('the independent Python verifier (docs/format.md alone) checks the Ed25519 statement signature and the page, and ML-DSA-44 through Node 26', async (ctx) => {
    const probe = spawnSync('/usr/bin/python3', ['-c', 'import cryptography.hazmat.primitives.asymmetric.ed25519'], { encoding: 'utf8' });
    if (probe.error || probe.status !== 0) {
      console.log(`skipped: the Python verifier needs /usr/bin/python3 with python3-cryptography (${probe.error?.message ?? probe.stderr.trim()})`);
      ctx.skip();
      return;
    }
    const script = join(fileURLToPath(new URL('.', import.meta.url)), 'interop', 'python', 'flashtrail_verify.py');
    const python = (file: string, ...args: string[]) => {
      const r = spawnSync('/usr/bin/python3', [script, '--ledger-key', edKeyText, ...args, file], { encoding: 'utf8', maxBuffer: 1 << 26, timeout: 120_000 });
      return JSON.parse(r.stdout.trim().split('\n').pop() as string) as { ok: boolean; code?: string; statementSignatures?: string[]; mlDsa?: string; verifierPage?: unknown };
    };
    const exportFile = join(work, 'batch.ndjson');
    const pageFile = join(work, 'verify.html');
    expect(python(exportFile, '--ledger-pq-key', pqKeyText, '--page', pageFile)).toMatchObject({ ok: true, statementSignatures: ['Ed25519'], mlDsa: expect.stringMatching(/^ML-DSA-44 signature not checked/), verifierPage: { sha256: sha(page), checked: true } });
    expect(python(exportFile, '--page', join(work, 'other.html'))).toMatchObject({ ok: false, code: 'VERIFIER_PAGE_MISMATCH' });
    const removedFile = join(work, 'removed.ndjson');
    expect(python(removedFile, '--ledger-pq-key', pqKeyText)).toMatchObject({ ok: false, code: 'STATEMENT_PQ_SIGNATURE_ERROR' });
    expect(python(removedFile)).toMatchObject({ ok: true, statementSignatures: ['Ed25519'] });
    const edFile = join(work, 'ed-corrupted.ndjson');
    writeFileSync(edFile, withStatement((s) => ((s.envelope.signatures[0] as { sig: string }).sig = flip((s.envelope.signatures[0] as { sig: string }).sig))));
    expect(python(edFile)).toMatchObject({ ok: false, code: 'STATEMENT_SIGNATURE_ERROR' });

    const node26 = fetchNode26(work);
    if ('reason' in node26) {
      console.log(`ML-DSA-44 in the Python verifier not checked: ${node26.reason}`);
      return;
    }
    expect(python(exportFile, '--ledger-pq-key', pqKeyText, '--ml-dsa-verifier', node26.binary)).toMatchObject({ ok: true, statementSignatures: ['Ed25519', 'ML-DSA-44'] });
    const corruptedFile = join(work, 'pq-corrupted.ndjson');
    writeFileSync(corruptedFile, withStatement((s) => ((s.envelope.signatures[1] as { sig: string }).sig = flip((s.envelope.signatures[1] as { sig: string }).sig))));
    expect(python(corruptedFile, '--ledger-pq-key', pqKeyText, '--ml-dsa-verifier', node26.binary)).toMatchObject({ ok: false, code: 'STATEMENT_PQ_SIGNATURE_ERROR' });
  }, 300_000);
});
