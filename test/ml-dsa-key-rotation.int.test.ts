/**
 * ML-DSA-44 ledger key rotation across a real ledger process (docs/format.md §5.5): `flashtrail keys rotate
 * --ml-dsa` between two units, with the ledger stopped (refused while it runs); the next `flashtrail serve`
 * appends a LedgerKeyRotated record (version 2) whose data the old ML-DSA-44 key signs and whose envelope the
 * Ed25519 ledger key signs, then signs its checkpoints' ML-DSA-44 line and its statements with the new key.
 * Verifiers pinned to the old ML-DSA-44 key (library, CLI, @flashtrail/verify's dist, the page's code) follow
 * the link for evidence after it; evidence before still verifies with the old key; a forged link is refused
 * with LEDGER_KEY_ERROR naming the key ids. The new key's signatures are cross-checked with Node 26 (OpenSSL).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestLedger, type TestLedger } from './helpers/ledger-fixture.ts';
import { spawnLedger, type ServerProcess } from './helpers/server-process.ts';
import { runCli, ROOT } from './helpers/cli.ts';
import { fetchNode26 } from './helpers/node26.ts';
import { chromiumSkip, startBrowser } from './helpers/browser.ts';
import { SimulatedStation } from '../src/sim/simulated-station.ts';
import { LedgerClient } from '../src/client/ledger-client.ts';
import { EventSigner } from '../src/event/signer.ts';
import type { Signer } from '../src/crypto/ed25519.ts';
import { newMlDsaSigner } from '../src/crypto/ml-dsa.ts';
import { nativeCrypto } from '../src/native/crypto.ts';
import { portableCrypto } from '../src/crypto/backend.ts';
import { fromBase64, toBase64, toHex } from '../src/crypto/encoding.ts';
import { canonicalize } from '../src/crypto/jcs.ts';
import type * as VerifyApi from '../src/verify/index.ts';
import { verifyProvenance, parseVerifierKey, parseMlDsaVerifierKey, type ProvenanceDocument } from '../src/verify/index.ts';
import { cosignedMessage, formatMlDsaVerifierKey } from '../src/tlog/ml-dsa-note.ts';
import { mlDsaRotationData, mlDsaRotationMessage } from '../src/tlog/ml-dsa-rotation.ts';
import { parseCheckpointBody } from '../src/tlog/checkpoint.ts';
import { parseNote } from '../src/tlog/note.ts';
import { readSecretKeyFile } from '../src/files/key-file.ts';
import { readMlDsaKeyFile, replaceMlDsaKeyFile, writeMlDsaKeyFile } from '../src/files/ml-dsa-key-file.ts';
import { configFromEnv, ledgerIdentity } from '../src/server/main.ts';
import { verifyFile } from '../src/web/verifier/run.ts';
import { verificationFailure } from './helpers/verification-failure.ts';

const work = mkdtempSync(join(tmpdir(), 'flashtrail-mldsa-rotate-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let node26: string | null = null;
let node26Skip = '';
beforeAll(() => {
  const fetched = fetchNode26(work);
  if ('reason' in fetched) node26Skip = fetched.reason;
  else node26 = fetched.binary;
}, 200_000);

const get = async (url: string, token: string, path: string) => (await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${token}` } })).text();
const flash = (url: string, token: string, t: TestLedger, serial: string, stationKey: Signer) =>
  new SimulatedStation(new LedgerClient(url, token), new EventSigner(stationKey, 'ST-01'), { stationId: 'ST-01', operator: 'op', batchId: t.batchId, hardwareRevision: 'rev-C' }, t.release).flash(serial, 'pass');
const failureOf = verificationFailure;
type Envelope = { payload: string; signatures: { keyid: string; sig: string }[] };
const payloadOf = (envelope: Envelope) => JSON.parse(new TextDecoder().decode(fromBase64(envelope.payload))) as { type: string; schemaVersion: number; prev: string | null; data: Record<string, string> };
const mlDsaLines = (note: string) => parseNote(note).signatures.filter((s) => s.signature.length === 8 + 2420);
const short = (keyId: string) => `${keyId.slice(0, 16)}…`;

/** Node 26 (OpenSSL 3.5) verifies each case: raw public key, message and signature, hex. */
async function node26Verifies(cases: { publicKey: Uint8Array; message: Uint8Array; signature: Uint8Array }[]): Promise<boolean[]> {
  const script = `const c = require('crypto'); let s = ''; process.stdin.on('data', (d) => (s += d)).on('end', () => {
    console.log(JSON.stringify(JSON.parse(s).map((k) => c.verify(null, Buffer.from(k.msg, 'hex'), c.createPublicKey({ key: Buffer.from('30820532300b06096086480165030403110382052100' + k.pub, 'hex'), format: 'der', type: 'spki' }), Buffer.from(k.sig, 'hex')))));
  });`;
  const child = execFile(node26 as string, ['-e', script], { timeout: 60_000 });
  child.stdin?.end(JSON.stringify(cases.map((c) => ({ pub: toHex(c.publicKey), msg: toHex(c.message), sig: toHex(c.signature) }))));
  const out = await new Promise<string>((resolve, reject) => {
    let text = '';
    child.stdout?.on('data', (d: Buffer) => (text += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(text) : reject(new Error(`node 26 exited ${code}`))));
  });
  return JSON.parse(out) as boolean[];
}

describe('ML-DSA-44 ledger key rotation', () => {
  it('keys rotate --ml-dsa between two units; verifiers pinned to the old ML-DSA-44 key follow the signed link; a forged link is refused', async () => {
    const dataDir = join(work, 'ledger');
    const before = await startTestLedger({ dataDir });
    const { auditor, station1 } = before.tokens;
    let ledgerKeyText: string;
    let oldPqText: string;
    let oldDoc: ProvenanceDocument;
    try {
      await flash(before.url, station1, before, 'M-1', before.stationKeys['ST-01']);
      ledgerKeyText = (await get(before.url, auditor, '/v1/ledger/key')).trim();
      oldPqText = (await get(before.url, auditor, '/v1/ledger/pq-key')).trim();
      oldDoc = JSON.parse(await get(before.url, auditor, '/v1/units/M-1/provenance')) as ProvenanceDocument;
      const refused = await runCli(['keys', 'rotate', '--ml-dsa', '--data', dataDir]);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toMatch(/in use by another flashtrail process/);
      expect(refused.stderr).not.toMatch(/\n\s+at /);
    } finally {
      await before.stop();
    }
    const ledgerKey = parseVerifierKey(ledgerKeyText);
    const oldPq = parseMlDsaVerifierKey(oldPqText);
    const oldSecret = readMlDsaKeyFile(join(dataDir, 'ledger-ml-dsa.key'));
    const ed25519Before = readSecretKeyFile(join(dataDir, 'ledger.key')).keyId;

    const rotated = await runCli(['keys', 'rotate', '--ml-dsa', '--data', dataDir]);
    expect(rotated.stderr).toBe('');
    expect(rotated.code).toBe(0);
    const rotation = JSON.parse(rotated.stdout) as { algorithm: string; previousKeyId: string; keyId: string; verifierKey: string; archivedKeyFile: string };
    expect(rotation).toMatchObject({ algorithm: 'ml-dsa-44', previousKeyId: oldSecret.keyId, archivedKeyFile: join(dataDir, `ledger-ml-dsa.key.${oldSecret.keyId}`) });
    expect(rotation.keyId).not.toBe(oldSecret.keyId);
    for (const file of [join(dataDir, 'ledger-ml-dsa.key'), rotation.archivedKeyFile]) expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readMlDsaKeyFile(rotation.archivedKeyFile).keyId).toBe(oldSecret.keyId);
    expect(readMlDsaKeyFile(join(dataDir, 'ledger-ml-dsa.key')).keyId).toBe(rotation.keyId);
    // The Ed25519 key is not touched.
    expect(readSecretKeyFile(join(dataDir, 'ledger.key')).keyId).toBe(ed25519Before);
    expect(JSON.parse(readFileSync(join(dataDir, 'ledger.json'), 'utf8'))).toMatchObject({ keyId: ed25519Before, mlDsaKeyId: rotation.keyId, mlDsaRotatedFrom: oldSecret.keyId });
    const again = await runCli(['keys', 'rotate', '--ml-dsa', '--data', dataDir]);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/not in the log yet/);
    // keys backup copies the archived ML-DSA-44 key under its name.
    const backupDir = join(work, 'backup');
    const backup = await runCli(['keys', 'backup', '--to', backupDir, '--data', dataDir]);
    expect(backup.code).toBe(0);
    expect(readMlDsaKeyFile(join(backupDir, `ledger-ml-dsa.key.${oldSecret.keyId}`)).keyId).toBe(oldSecret.keyId);

    // The ledger as a real process, started on the rotated data directory.
    let server: ServerProcess | null = await spawnLedger(dataDir);
    try {
      const url = server.url;
      const newPqText = (await get(url, auditor, '/v1/ledger/pq-key')).trim();
      expect(newPqText).toBe(rotation.verifierKey);
      const newPq = parseMlDsaVerifierKey(newPqText);
      expect(newPq.name).toBe(oldPq.name);
      expect(newPq.id).not.toBe(oldPq.id);
      expect((await get(url, auditor, '/v1/ledger/key')).trim()).toBe(ledgerKeyText);
      expect(JSON.parse(readFileSync(join(dataDir, 'ledger.json'), 'utf8'))).not.toHaveProperty('mlDsaRotatedFrom');
      expect(server.output()).toMatch(/ML-DSA-44 ledger key rotation announced in the log/);
      expect(server.output()).not.toContain(toHex(oldSecret.seed));

      await flash(url, station1, before, 'M-2', before.stationKeys['ST-01']);
      const doc = JSON.parse(await get(url, auditor, '/v1/units/M-2/provenance')) as ProvenanceDocument;
      expect(doc.format).toBe('flashtrail.provenance.v3');
      // The link is a trust entry: version 2, envelope by the Ed25519 ledger key, data signed by the old ML-DSA-44 key.
      const linkAt = doc.entries.findIndex((e) => e.role === 'trust' && payloadOf(e.envelope as Envelope).type === 'LedgerKeyRotated');
      expect(linkAt).toBeGreaterThanOrEqual(0);
      const linkEnvelope = doc.entries[linkAt]!.envelope as Envelope;
      const link = payloadOf(linkEnvelope);
      expect(link).toMatchObject({ schemaVersion: 2, data: { algorithm: 'ml-dsa-44', previousKeyId: oldSecret.keyId, keyId: rotation.keyId, verifierKey: newPqText } });
      expect(linkEnvelope.signatures.map((s) => s.keyid)).toEqual([ed25519Before]);
      // The checkpoint after it carries the new key's ML-DSA-44 line, not the old one's.
      expect(mlDsaLines(doc.checkpoint).map((s) => s.id)).toEqual([newPq.id]);

      for (const crypto of [nativeCrypto, portableCrypto]) {
        const viaLink = verifyProvenance(doc, ledgerKey, crypto, { mlDsaKey: oldPq });
        expect(viaLink.signatures).toEqual(['Ed25519', 'ML-DSA-44']);
        expect(viaLink.statementSignatures).toEqual(['Ed25519', 'ML-DSA-44']);
        expect(viaLink.steps.find((s) => s.step === 'ledger-keys')?.detail).toContain(`${short(oldSecret.keyId)} → ${short(rotation.keyId)}`);
        expect(verifyProvenance(doc, ledgerKey, crypto, { mlDsaKey: newPq }).signatures).toEqual(['Ed25519', 'ML-DSA-44']);
        // Evidence from before the rotation: the old ML-DSA-44 key, as before.
        expect(verifyProvenance(oldDoc, ledgerKey, crypto, { mlDsaKey: oldPq }).signatures).toEqual(['Ed25519', 'ML-DSA-44']);
      }

      // The CLI, the @flashtrail/verify package as built, and the page's code, pinned to the old ML-DSA-44 key.
      const docFile = join(work, 'm2.json');
      writeFileSync(docFile, JSON.stringify(doc));
      const cliOk = await runCli(['verify', docFile, '--ledger-key', ledgerKeyText, '--ledger-pq-key', oldPqText, '--json']);
      expect(JSON.parse(cliOk.stdout)).toMatchObject({ ok: true, report: { signatures: ['Ed25519', 'ML-DSA-44'], statementSignatures: ['Ed25519', 'ML-DSA-44'] } });
      const pkg = (await import(join(ROOT, 'packages', 'verify', 'dist', 'index.js'))) as typeof VerifyApi;
      expect(pkg.verifyProvenance(doc, pkg.parseVerifierKey(ledgerKeyText), pkg.portableCrypto, { mlDsaKey: pkg.parseMlDsaVerifierKey(oldPqText) }).signatures).toEqual(['Ed25519', 'ML-DSA-44']);
      const page = await verifyFile(new File([JSON.stringify(doc)], 'm2.json'), { ledgerKey: ledgerKeyText, pqKey: oldPqText, signatures: '' }, { startWorker: () => { throw new Error('no worker for a provenance document'); }, workers: 1 });
      expect(page).toMatchObject({ ok: true, signatures: { policy: 'hybrid', verified: ['Ed25519', 'ML-DSA-44'] } });

      // An export after the rotation: its checkpoint line and statement are the new key's; followed from the old.
      const exported = await fetch(`${url}/v1/exports`, { method: 'POST', headers: { authorization: `Bearer ${auditor}`, 'content-type': 'application/json' }, body: JSON.stringify({ batchId: before.batchId }) });
      expect(exported.status).toBe(200);
      const exportText = await exported.text();
      const exportFile = join(work, 'rotated-export.ndjson');
      writeFileSync(exportFile, exportText);
      for (const pq of [oldPqText, newPqText]) {
        const verified = await runCli(['verify', exportFile, '--ledger-key', ledgerKeyText, '--ledger-pq-key', pq, '--json', '--workers', '1']);
        const out = JSON.parse(verified.stdout) as { ok: boolean; report: { units: number; signatures: string[]; statementSignatures: string[]; steps: { step: string; detail: string }[] } };
        expect(out).toMatchObject({ ok: true, report: { units: 2, signatures: ['Ed25519', 'ML-DSA-44'], statementSignatures: ['Ed25519', 'ML-DSA-44'] } });
        expect(out.report.steps.find((s) => s.step === 'ledger-keys')?.detail).toContain(`from the pinned ${oldPq.name} (${pq === oldPqText ? oldPq.id : newPq.id}) to ${newPq.id}`);
      }

      // Node 26 (OpenSSL) checks the new key's checkpoint line, and the old key's signature over the new one.
      if (node26) {
        const line = mlDsaLines(doc.checkpoint)[0]!;
        const timestamp = Number(new DataView(line.signature.buffer, line.signature.byteOffset, 8).getBigUint64(0));
        const checkpointMessage = cosignedMessage(newPq.name, timestamp, parseCheckpointBody(parseNote(doc.checkpoint).text));
        const linkMessage = mlDsaRotationMessage(newPq.name, oldPq.publicKey, newPq.publicKey);
        const linkSignature = fromBase64(link.data.previousKeySignature as string);
        expect(await node26Verifies([
          { publicKey: newPq.publicKey, message: checkpointMessage, signature: line.signature.subarray(8) },
          { publicKey: oldPq.publicKey, message: linkMessage, signature: linkSignature },
          { publicKey: newPq.publicKey, message: linkMessage, signature: linkSignature },
        ])).toEqual([true, true, false]);
      } else {
        console.warn(`Node 26 cross-check skipped: ${node26Skip}`);
      }

      // A forged link: a stranger's ML-DSA-44 key announced as the successor, the envelope even signed by the real
      // Ed25519 ledger key (what a quantum adversary could forge), the link signed by the stranger, not the old key.
      const ed25519 = readSecretKeyFile(join(dataDir, 'ledger.key'));
      const stranger = newMlDsaSigner();
      const forgedData = { ...mlDsaRotationData(oldPq.name, stranger, stranger), previousKeyId: oldSecret.keyId, previousPublicKey: toBase64(oldPq.publicKey) };
      const forgedEnvelope = new EventSigner(ed25519, 'ledger').sign('LedgerKeyRotated', forgedData, { prev: link.prev }).envelope;
      const forged = { ...doc, entries: doc.entries.map((e, i) => (i === linkAt ? { ...e, envelope: forgedEnvelope } : e)) };
      const forgedFailure = failureOf(() => verifyProvenance(forged, ledgerKey, nativeCrypto, { mlDsaKey: oldPq }));
      expect(forgedFailure?.code).toBe('LEDGER_KEY_ERROR');
      expect(forgedFailure?.step).toBe('ledger-keys');
      expect(forgedFailure?.message).toContain(short(oldSecret.keyId));
      expect(forgedFailure?.message).toContain(short(stranger.keyId));
      expect(forgedFailure?.location).toMatchObject({ field: `entries[${linkAt}]` });
      const forgedFile = join(work, 'm2-forged.json');
      writeFileSync(forgedFile, JSON.stringify(forged));
      const cliRefused = await runCli(['verify', forgedFile, '--ledger-key', ledgerKeyText, '--ledger-pq-key', oldPqText, '--json']);
      expect(cliRefused.code).not.toBe(0);
      expect(JSON.parse(cliRefused.stdout)).toMatchObject({ ok: false, error: { code: 'LEDGER_KEY_ERROR' } });
      const pageRefused = await verifyFile(new File([JSON.stringify(forged)], 'm2-forged.json'), { ledgerKey: ledgerKeyText, pqKey: oldPqText, signatures: '' }, { startWorker: () => { throw new Error('no worker'); }, workers: 1 });
      expect(pageRefused).toMatchObject({ ok: false, error: { code: 'LEDGER_KEY_ERROR' } });
      // The same forged link in the export, where it precedes the units.
      const forgedExport = exportText
        .split('\n')
        .map((line) => (line.includes(linkEnvelope.payload) ? canonicalize({ ...(JSON.parse(line) as object), envelope: forgedEnvelope }) : line))
        .join('\n');
      expect(forgedExport).not.toBe(exportText);
      const forgedExportFile = join(work, 'rotated-export-forged.ndjson');
      writeFileSync(forgedExportFile, forgedExport);
      const exportRefused = await runCli(['verify', forgedExportFile, '--ledger-key', ledgerKeyText, '--ledger-pq-key', oldPqText, '--json', '--workers', '1']);
      expect(JSON.parse(exportRefused.stdout)).toMatchObject({ ok: false, error: { code: 'LEDGER_KEY_ERROR' } });

      // The page itself, in headless Chromium from file:// with no network: the same verdicts.
      if (chromiumSkip) console.warn(`verifier page check skipped: ${chromiumSkip}`);
      else {
        const browser = await startBrowser();
        try {
          const page = await browser.newPage();
          const onPage = async (file: string) => {
            await page.goto(pathToFileURL(join(ROOT, 'dist', 'web', 'verify.html')).href);
            await page.getByLabel(/Ledger verifier key/).fill(ledgerKeyText);
            await page.getByLabel(/ML-DSA-44 verifier key/).fill(oldPqText);
            await page.locator('#file').setInputFiles(file);
            const verdict = page.locator('#verdict[data-state="verified"], #verdict[data-state="failed"], #verdict[data-state="error"]');
            await verdict.waitFor({ timeout: 120_000 });
            return { state: await verdict.getAttribute('data-state'), code: await verdict.getAttribute('data-code'), signatures: await verdict.getAttribute('data-signatures') };
          };
          for (const file of [docFile, exportFile]) expect(await onPage(file)).toMatchObject({ state: 'verified', signatures: expect.stringContaining('ML-DSA-44') });
          for (const file of [forgedFile, forgedExportFile]) expect(await onPage(file)).toMatchObject({ state: 'failed', code: 'LEDGER_KEY_ERROR' });
          expect(browser.refused).toEqual([]);
        } finally {
          await browser.close();
        }
      }

      // Without the link, the new key's line does not verify under the old key: the hybrid policy refuses.
      const unlinked = { ...doc, entries: doc.entries.filter((_e, i) => i !== linkAt) };
      expect(failureOf(() => verifyProvenance(unlinked, ledgerKey, nativeCrypto, { mlDsaKey: oldPq }))?.code).toBe('CHECKPOINT_PQ_SIGNATURE_ERROR');
      // A same-origin ML-DSA-44 key that is not in the chain: refused, naming the chain.
      const outsider = parseMlDsaVerifierKey(formatMlDsaVerifierKey(oldPq.name, newMlDsaSigner().publicKey));
      const outside = failureOf(() => verifyProvenance(doc, ledgerKey, nativeCrypto, { mlDsaKey: outsider }));
      expect(outside?.code).toBe('LEDGER_KEY_ERROR');
      expect(outside?.message).toContain(`${short(oldSecret.keyId)} → ${short(rotation.keyId)}`);

      // Restarted again: the rotation is not announced twice.
      expect(await server.kill('SIGTERM')).toBe(0);
      server = await spawnLedger(dataDir);
      await flash(server.url, station1, before, 'M-3', before.stationKeys['ST-01']);
      const doc3 = JSON.parse(await get(server.url, auditor, '/v1/units/M-3/provenance')) as ProvenanceDocument;
      expect(doc3.entries.filter((e) => e.role === 'trust' && payloadOf(e.envelope as Envelope).type === 'LedgerKeyRotated')).toHaveLength(1);
      expect(verifyProvenance(doc3, ledgerKey, nativeCrypto, { mlDsaKey: oldPq }).signatures).toEqual(['Ed25519', 'ML-DSA-44']);
    } finally {
      await server?.kill('SIGTERM');
    }
  }, 300_000);

  it('both keys rotated at one stop, then the ML-DSA-44 key again: verifiers pinned to the first keys follow both chains', async () => {
    const dataDir = join(work, 'both');
    const first = await startTestLedger({ dataDir });
    const { auditor, station1 } = first.tokens;
    let ledgerKeyText: string;
    let pqText: string;
    try {
      await flash(first.url, station1, first, 'B-1', first.stationKeys['ST-01']);
      ledgerKeyText = (await get(first.url, auditor, '/v1/ledger/key')).trim();
      pqText = (await get(first.url, auditor, '/v1/ledger/pq-key')).trim();
    } finally {
      await first.stop();
    }
    for (const args of [['keys', 'rotate'], ['keys', 'rotate', '--ml-dsa']]) expect((await runCli([...args, '--data', dataDir])).code).toBe(0);
    const second = await startTestLedger({ dataDir, setup: false });
    try {
      await flash(second.url, station1, first, 'B-2', first.stationKeys['ST-01']);
    } finally {
      await second.stop();
    }
    expect((await runCli(['keys', 'rotate', '--ml-dsa', '--data', dataDir])).code).toBe(0);
    const third = await startTestLedger({ dataDir, setup: false });
    try {
      await flash(third.url, station1, first, 'B-3', first.stationKeys['ST-01']);
      const stream = await third.running.store.readStream('ledger-key-rotations');
      const records = stream.map((r) => {
        const envelope = JSON.parse(new TextDecoder().decode(r.data)) as Envelope;
        return { ...payloadOf(envelope), keyid: envelope.signatures[0]!.keyid };
      });
      // The Ed25519 link first, signed by the old Ed25519 key; the ML-DSA-44 links' envelopes by the new one.
      expect(records.map((r) => [r.schemaVersion, r.data.algorithm])).toEqual([[1, 'ed25519'], [2, 'ml-dsa-44'], [2, 'ml-dsa-44']]);
      const newEd25519 = records[0]!.data.keyId;
      expect(records.map((r) => r.keyid)).toEqual([records[0]!.data.previousKeyId, newEd25519, newEd25519]);
      expect(records[2]!.data.previousKeyId).toBe(records[1]!.data.keyId);
      const currentPq = parseMlDsaVerifierKey((await get(third.url, auditor, '/v1/ledger/pq-key')).trim());
      expect(currentPq.publicKey).toEqual(fromBase64(records[2]!.data.publicKey as string));

      const doc = JSON.parse(await get(third.url, auditor, '/v1/units/B-3/provenance')) as ProvenanceDocument;
      const report = verifyProvenance(doc, parseVerifierKey(ledgerKeyText), nativeCrypto, { mlDsaKey: parseMlDsaVerifierKey(pqText) });
      expect(report.statementSignatures).toEqual(['Ed25519', 'ML-DSA-44']);
      const chains = report.steps.find((s) => s.step === 'ledger-keys')?.detail ?? '';
      expect(chains).toContain('1 rotation(s) of the ledger key');
      expect(chains).toContain('2 rotation(s) of the ML-DSA-44 ledger key');
      // An export whose checkpoint neither pinned key signed: verified once both chains are followed.
      const exported = await fetch(`${third.url}/v1/exports`, { method: 'POST', headers: { authorization: `Bearer ${auditor}`, 'content-type': 'application/json' }, body: JSON.stringify({ batchId: first.batchId }) });
      const exportFile = join(work, 'both-export.ndjson');
      writeFileSync(exportFile, await exported.text());
      const verified = await runCli(['verify', exportFile, '--ledger-key', ledgerKeyText, '--ledger-pq-key', pqText, '--json', '--workers', '1']);
      expect(JSON.parse(verified.stdout)).toMatchObject({ ok: true, report: { units: 3, signatures: ['Ed25519', 'ML-DSA-44'], statementSignatures: ['Ed25519', 'ML-DSA-44'] } });
    } finally {
      await third.stop();
    }
  }, 300_000);

  it('an ML-DSA-44 rotation stopped between replacing the key file and writing ledger.json is finished at the next start', () => {
    const dataDir = mkdtempSync(join(work, 'interrupted-'));
    const config = configFromEnv({}, { dataDir });
    const first = ledgerIdentity(config);
    expect(first.mlDsaRotatedFrom).toBeNull();
    const old = first.mlDsaKey!;
    // What `keys rotate --ml-dsa` does before its last step: the old key archived, the key file replaced.
    const next = newMlDsaSigner();
    writeMlDsaKeyFile(join(dataDir, `ledger-ml-dsa.key.${old.keyId}`), old);
    replaceMlDsaKeyFile(join(dataDir, 'ledger-ml-dsa.key'), next);
    const resumed = ledgerIdentity(config);
    expect(resumed.mlDsaKey?.keyId).toBe(next.keyId);
    expect(resumed.mlDsaRotatedFrom?.keyId).toBe(old.keyId);
    expect(JSON.parse(readFileSync(join(dataDir, 'ledger.json'), 'utf8'))).toMatchObject({ mlDsaKeyId: next.keyId, mlDsaRotatedFrom: old.keyId });
    // A swapped key file with no archived key named by ledger.json is still refused.
    const other = mkdtempSync(join(work, 'swapped-'));
    const otherConfig = configFromEnv({}, { dataDir: other });
    ledgerIdentity(otherConfig);
    replaceMlDsaKeyFile(join(other, 'ledger-ml-dsa.key'), newMlDsaSigner());
    expect(() => ledgerIdentity(otherConfig)).toThrow(/restore the matching pair from your backup/);
  });
});
