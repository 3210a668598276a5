/**
 * Ledger key rotation on a real ledger (docs/format.md §5.4): `flashtrail keys rotate` between two batches of
 * units, with the ledger stopped (refused while it runs); the next start announces the new key by a
 * LedgerKeyRotated record signed with the old one and signs later checkpoints with the new key, same origin.
 * A provenance document made after the rotation verifies with the old key pinned (following the chain) and
 * with the new; one from before still verifies with the old key; a forged announcement is refused.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { startTestLedger, type TestLedger } from './helpers/ledger-fixture.ts';
import { SimulatedStation } from '../src/sim/simulated-station.ts';
import { LedgerClient } from '../src/client/ledger-client.ts';
import { EventSigner } from '../src/event/signer.ts';
import { newSigner, type Signer } from '../src/crypto/ed25519.ts';
import { nativeCrypto } from '../src/native/crypto.ts';
import { portableCrypto } from '../src/crypto/backend.ts';
import { fromBase64 } from '../src/crypto/encoding.ts';
import { verifyProvenance, verifyRenewal, parseVerifierKey, type ProvenanceDocument, type RenewalBundle } from '../src/verify/index.ts';
import { parseMlDsaVerifierKey } from '../src/tlog/ml-dsa-note.ts';
import { formatVerifierKey, parseNote } from '../src/tlog/note.ts';
import { readSecretKeyFile, replaceSecretKeyFile, writeSecretKeyFile } from '../src/files/key-file.ts';
import { configFromEnv, ledgerIdentity } from '../src/server/main.ts';
import { verificationFailure } from './helpers/verification-failure.ts';

const ROOT = join(fileURLToPath(import.meta.url), '..', '..');
const run = promisify(execFile);
const work = mkdtempSync(join(tmpdir(), 'flashtrail-rotate-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const text = async (t: TestLedger, path: string) => (await fetch(`${t.url}${path}`, { headers: { authorization: `Bearer ${t.tokens.auditor}` } })).text();
const flash = (t: TestLedger, serial: string, stationKey: Signer) =>
  new SimulatedStation(new LedgerClient(t.url, t.tokens.station1), new EventSigner(stationKey, 'ST-01'), { stationId: 'ST-01', operator: 'op', batchId: t.batchId, hardwareRevision: 'rev-C' }, t.release).flash(serial, 'pass');
const cli = (args: string[]) => run(process.execPath, [join(ROOT, 'bin', 'flashtrail.js'), ...args], { maxBuffer: 1 << 26 }).then((r) => ({ code: 0, ...r }), (e: { code: number; stdout: string; stderr: string }) => e);
const failureOf = verificationFailure;
const payloadOf = (envelope: { payload: string }) => JSON.parse(new TextDecoder().decode(fromBase64(envelope.payload))) as { type: string; data: Record<string, string>; source: { kind: string } };

describe('ledger key rotation', () => {
  it('keys rotate between two batches; the chain of ledger keys is followed from the old pinned key; a forged announcement is refused', async () => {
    const dataDir = join(work, 'ledger');
    const before = await startTestLedger({ dataDir });
    let oldKeyText: string;
    let oldDoc: ProvenanceDocument;
    try {
      await flash(before, 'K-1', before.stationKeys['ST-01']);
      oldKeyText = (await text(before, '/v1/ledger/key')).trim();
      oldDoc = JSON.parse(await text(before, '/v1/units/K-1/provenance')) as ProvenanceDocument;
      // The running ledger holds the data directory: rotating under it is refused, in one line.
      const refused = await cli(['keys', 'rotate', '--data', dataDir]);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toMatch(/in use by another flashtrail process/);
      expect(refused.stderr).not.toMatch(/\n\s+at /);
    } finally {
      await before.stop();
    }
    const oldKey = parseVerifierKey(oldKeyText);
    const oldSecret = readSecretKeyFile(join(dataDir, 'ledger.key'));

    const rotated = await cli(['keys', 'rotate', '--data', dataDir]);
    expect(rotated.code).toBe(0);
    const rotation = JSON.parse(rotated.stdout) as { previousKeyId: string; keyId: string; verifierKey: string; archivedKeyFile: string };
    expect(rotation.previousKeyId).toBe(oldSecret.keyId);
    expect(rotation.keyId).not.toBe(oldSecret.keyId);
    expect(rotation.archivedKeyFile).toBe(join(dataDir, `ledger.key.${oldSecret.keyId}`));
    for (const file of [join(dataDir, 'ledger.key'), rotation.archivedKeyFile]) expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readSecretKeyFile(rotation.archivedKeyFile).keyId).toBe(oldSecret.keyId);
    expect(readSecretKeyFile(join(dataDir, 'ledger.key')).keyId).toBe(rotation.keyId);
    expect(JSON.parse(readFileSync(join(dataDir, 'ledger.json'), 'utf8'))).toMatchObject({ keyId: rotation.keyId, rotatedFrom: oldSecret.keyId });
    // A second rotation before the first is in the log would break the chain: refused.
    const again = await cli(['keys', 'rotate', '--data', dataDir]);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/not in the log yet/);

    const after = await startTestLedger({ dataDir, setup: false });
    try {
      const newKeyText = (await text(after, '/v1/ledger/key')).trim();
      expect(newKeyText).toBe(rotation.verifierKey);
      const newKey = parseVerifierKey(newKeyText);
      expect(newKey.name).toBe(oldKey.name);
      expect(newKey.id).not.toBe(oldKey.id);
      expect(JSON.parse(readFileSync(join(dataDir, 'ledger.json'), 'utf8'))).not.toHaveProperty('rotatedFrom');
      expect(existsSync(rotation.archivedKeyFile)).toBe(true);

      // The announcement is in the log, signed by the old key, naming the new one.
      const announced = await after.running.store.readStream('ledger-key-rotations');
      expect(announced.map((e) => e.type)).toEqual(['LedgerKeyRotated']);
      const envelope = JSON.parse(new TextDecoder().decode(announced[0]!.data)) as { payload: string; signatures: { keyid: string }[] };
      expect(envelope.signatures.map((s) => s.keyid)).toEqual([oldSecret.keyId]);
      expect(payloadOf(envelope)).toMatchObject({ type: 'LedgerKeyRotated', source: { kind: 'ledger' }, data: { previousKeyId: oldSecret.keyId, keyId: rotation.keyId, verifierKey: newKeyText } });

      // The second batch of units, after the rotation: its checkpoint is the new key's alone.
      await flash(after, 'K-2', before.stationKeys['ST-01']);
      const doc = JSON.parse(await text(after, '/v1/units/K-2/provenance')) as ProvenanceDocument;
      const ed25519Lines = parseNote(doc.checkpoint).signatures.filter((s) => s.signature.length === 64);
      expect(ed25519Lines.map((s) => s.id)).toEqual([newKey.id]);
      expect(doc.entries.filter((e) => e.role === 'trust').map((e) => payloadOf(e.envelope as { payload: string }).type)).toEqual(['AdminKeysTrusted', 'LedgerKeyRotated']);

      for (const crypto of [nativeCrypto, portableCrypto]) {
        const viaChain = verifyProvenance(doc, oldKey, crypto);
        expect(viaChain.serial).toBe('K-2');
        expect(viaChain.steps.map((s) => s.step)).toContain('ledger-keys');
        expect(verifyProvenance(doc, newKey, crypto).serial).toBe('K-2');
        // Evidence from before the rotation: the old key, as before.
        expect(verifyProvenance(oldDoc, oldKey, crypto).serial).toBe('K-1');
      }
      // The first batch's unit, served again after the rotation, carries the chain too.
      const k1Again = JSON.parse(await text(after, '/v1/units/K-1/provenance')) as ProvenanceDocument;
      expect(verifyProvenance(k1Again, oldKey, nativeCrypto).serial).toBe('K-1');

      // flashtrail verify with the old key pinned follows the chain.
      const docFile = join(work, 'k2.json');
      writeFileSync(docFile, JSON.stringify(doc));
      const ok = await cli(['verify', docFile, '--ledger-key', oldKeyText, '--json']);
      expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true });
      // A witness policy names the log by its key: one written before the rotation (the old key) or after it (the
      // new key) names the same log; a policy naming another log's key is refused, for documents and exports alike.
      const policyFile = (name: string, logKey: string) => {
        const file = join(work, `${name}.policy`);
        writeFileSync(file, `log ${logKey}\nquorum none\n`);
        return file;
      };
      const strangerKeyText = formatVerifierKey(oldKey.name, newSigner().publicKey);
      const exportedForPolicy = await fetch(`${after.url}/v1/exports`, { method: 'POST', headers: { authorization: `Bearer ${after.tokens.auditor}`, 'content-type': 'application/json' }, body: JSON.stringify({ batchId: after.batchId }) });
      const policyExportFile = join(work, 'policy-export.ndjson');
      writeFileSync(policyExportFile, await exportedForPolicy.text());
      for (const evidence of [docFile, policyExportFile]) {
        for (const [name, logKey] of [['old', oldKeyText], ['new', newKeyText]] as const) {
          const withPolicy = await cli(['verify', evidence, '--ledger-key', oldKeyText, '--policy', policyFile(name, logKey), '--json', '--workers', '1']);
          expect(JSON.parse(withPolicy.stdout), `${evidence}, policy naming the ${name} key`).toMatchObject({ ok: true });
        }
        const strangerPolicy = await cli(['verify', evidence, '--ledger-key', oldKeyText, '--policy', policyFile('stranger', strangerKeyText), '--json', '--workers', '1']);
        expect(JSON.parse(strangerPolicy.stdout)).toMatchObject({ ok: false, error: { code: 'LEDGER_KEY_ERROR', step: expect.stringMatching(/witnesses/) } });
        expect(JSON.parse(strangerPolicy.stdout).error.message).toMatch(/any of the 2 keys of its chain/);
      }

      // An export after the rotation carries the chain too: it verifies with the old key pinned and with the new.
      const exported = await fetch(`${after.url}/v1/exports`, { method: 'POST', headers: { authorization: `Bearer ${after.tokens.auditor}`, 'content-type': 'application/json' }, body: JSON.stringify({ batchId: after.batchId }) });
      expect(exported.status).toBe(200);
      const exportFile = join(work, 'rotated-export.ndjson');
      writeFileSync(exportFile, await exported.text());
      for (const key of [oldKeyText, newKeyText]) {
        const verified = await cli(['verify', exportFile, '--ledger-key', key, '--json', '--workers', '1']);
        expect(JSON.parse(verified.stdout)).toMatchObject({ ok: true, report: { units: 2 } });
        expect(JSON.parse(verified.stdout).report.steps.map((s: { step: string }) => s.step)).toContain('ledger-keys');
      }
      const strangerExport = await cli(['verify', exportFile, '--ledger-key', formatVerifierKey(oldKey.name, newSigner().publicKey), '--json', '--workers', '1']);
      expect(JSON.parse(strangerExport.stdout)).toMatchObject({ ok: false, error: { code: 'LEDGER_KEY_ERROR' } });

      // A forged announcement: the same rotation re-signed by a stranger (who does not hold the old key).
      const rotationAt = doc.entries.findIndex((e) => e.role === 'trust' && payloadOf(e.envelope as { payload: string }).type === 'LedgerKeyRotated');
      const stranger = newSigner();
      const rotationData = payloadOf(doc.entries[rotationAt]!.envelope as { payload: string }).data;
      const forgedEnvelope = new EventSigner(stranger, 'ledger').sign('LedgerKeyRotated', rotationData as never, { prev: null }).envelope;
      const forged = { ...doc, entries: doc.entries.map((e, i) => (i === rotationAt ? { ...e, envelope: forgedEnvelope } : e)) };
      const forgedFailure = failureOf(() => verifyProvenance(forged, oldKey, nativeCrypto));
      expect(forgedFailure?.code).toBe('LEDGER_KEY_ERROR');
      expect(forgedFailure?.message).toContain(oldSecret.keyId.slice(0, 16));
      expect(forgedFailure?.message).toContain(stranger.keyId.slice(0, 16));
      const forgedFile = join(work, 'k2-forged.json');
      writeFileSync(forgedFile, JSON.stringify(forged));
      const refused = await cli(['verify', forgedFile, '--ledger-key', oldKeyText, '--json']);
      expect(JSON.parse(refused.stdout)).toMatchObject({ ok: false, error: { code: 'LEDGER_KEY_ERROR' } });

      // Renewal across the rotation (§14): the document made under the old key is covered by the newest
      // checkpoint, signed by the new key; the bundle carries the rotation with its inclusion proof, and a
      // verifier pinned to the old key follows it. A forged link is refused.
      const pqKeyText = (await text(after, '/v1/ledger/pq-key')).trim();
      const oldDocFile = join(work, 'k1-old.json');
      writeFileSync(oldDocFile, JSON.stringify(oldDoc));
      const tokenFile = join(work, 'auditor.token');
      writeFileSync(tokenFile, after.tokens.auditor + '\n', { mode: 0o600 });
      const renewedRun = await cli(['renew', oldDocFile, '--url', after.url, '--token-file', tokenFile]);
      expect(renewedRun.stderr).toBe('');
      expect(renewedRun.stdout).toMatch(/across 1 ledger key rotation/);
      const bundleFile = join(work, 'k1-old.renewed.json');
      const bundle = JSON.parse(readFileSync(bundleFile, 'utf8')) as Omit<RenewalBundle, 'rotations'> & { rotations: { leafIndex: number; envelope: { payload: string }; proof: string }[] };
      expect(bundle.format).toBe('flashtrail.renewal.v2');
      expect(bundle.rotations.map((r) => payloadOf(r.envelope).type)).toEqual(['LedgerKeyRotated']);
      const pqKey = parseMlDsaVerifierKey(pqKeyText);
      for (const crypto of [nativeCrypto, portableCrypto]) {
        const report = verifyRenewal(bundle, oldKey, pqKey, crypto);
        expect(report.evidence.serial).toBe('K-1');
        expect(report.steps.find((s) => s.step === 'ledger-keys')?.detail).toContain(`${oldSecret.keyId.slice(0, 16)}… → ${rotation.keyId.slice(0, 16)}…`);
        expect(report.renewed.signatures).toEqual(['Ed25519', 'ML-DSA-44']);
        expect(report.renewed.size).toBeGreaterThan(verifyProvenance(oldDoc, oldKey, crypto).checkpoint.size);
      }
      const renewedOk = await cli(['verify', bundleFile, '--ledger-key', oldKeyText, '--ledger-pq-key', pqKeyText, '--json']);
      expect(JSON.parse(renewedOk.stdout)).toMatchObject({ ok: true, report: { format: 'flashtrail.renewal.v2', renewed: { signatures: ['Ed25519', 'ML-DSA-44'] } } });
      // The rotation re-signed by a stranger: LEDGER_KEY_ERROR, in the library and the CLI.
      const forgedBundle = { ...bundle, rotations: [{ ...bundle.rotations[0]!, envelope: forgedEnvelope }] };
      const forgedRenewal = failureOf(() => verifyRenewal(forgedBundle, oldKey, pqKey, nativeCrypto));
      expect(forgedRenewal?.code).toBe('LEDGER_KEY_ERROR');
      expect(forgedRenewal?.message).toContain(stranger.keyId.slice(0, 16));
      const forgedBundleFile = join(work, 'k1-forged.renewed.json');
      writeFileSync(forgedBundleFile, JSON.stringify(forgedBundle));
      const forgedCli = await cli(['verify', forgedBundleFile, '--ledger-key', oldKeyText, '--ledger-pq-key', pqKeyText, '--json']);
      expect(JSON.parse(forgedCli.stdout)).toMatchObject({ ok: false, error: { code: 'LEDGER_KEY_ERROR' } });
      // Without the link, the new key's checkpoint does not verify under the old key.
      expect(failureOf(() => verifyRenewal({ ...bundle, rotations: [] }, oldKey, pqKey, nativeCrypto))?.code).toBe('CHECKPOINT_SIGNATURE_ERROR');
      // The link moved to another leaf: its inclusion proof no longer holds.
      const moved = { ...bundle, rotations: [{ ...bundle.rotations[0]!, leafIndex: bundle.rotations[0]!.leafIndex + 1 }] };
      expect(failureOf(() => verifyRenewal(moved, oldKey, pqKey, nativeCrypto))?.code).toBe('INCLUSION_PROOF_ERROR');

      // A key of the same origin that is not in the chain: refused, naming the chain.
      const outsider = parseVerifierKey(formatVerifierKey(oldKey.name, newSigner().publicKey));
      const outside = failureOf(() => verifyProvenance(doc, outsider, nativeCrypto));
      expect(outside?.code).toBe('LEDGER_KEY_ERROR');
      expect(outside?.message).toContain(`${oldSecret.keyId.slice(0, 16)}… → ${rotation.keyId.slice(0, 16)}…`);
      // The chain without its link: the new key's checkpoint does not verify under the old key.
      const unlinked = { ...doc, entries: doc.entries.filter((_e, i) => i !== rotationAt) };
      expect(failureOf(() => verifyProvenance(unlinked, oldKey, nativeCrypto))?.code).toBe('CHECKPOINT_SIGNATURE_ERROR');
    } finally {
      await after.stop();
    }
  });

  it('a rotation stopped between replacing ledger.key and writing ledger.json is finished at the next start, not refused', () => {
    const dataDir = mkdtempSync(join(work, 'interrupted-'));
    const config = configFromEnv({}, { dataDir, pqSignatures: 'off' });
    const first = ledgerIdentity(config);
    expect(first.rotatedFrom).toBeNull();
    // What `keys rotate` does before its last step: the old key archived, ledger.key replaced.
    const next = newSigner();
    writeSecretKeyFile(join(dataDir, `ledger.key.${first.key.keyId}`), first.key);
    replaceSecretKeyFile(join(dataDir, 'ledger.key'), next);
    const resumed = ledgerIdentity(config);
    expect(resumed.key.keyId).toBe(next.keyId);
    expect(resumed.rotatedFrom?.keyId).toBe(first.key.keyId);
    expect(resumed.verifierKey).toBe(formatVerifierKey(first.origin, next.publicKey));
    expect(JSON.parse(readFileSync(join(dataDir, 'ledger.json'), 'utf8'))).toMatchObject({ origin: first.origin, keyId: next.keyId, rotatedFrom: first.key.keyId });
    // A swapped ledger.key with no archived key named by ledger.json is still refused, as before.
    const other = mkdtempSync(join(work, 'swapped-'));
    const otherConfig = configFromEnv({}, { dataDir: other, pqSignatures: 'off' });
    ledgerIdentity(otherConfig);
    replaceSecretKeyFile(join(other, 'ledger.key'), newSigner());
    expect(() => ledgerIdentity(otherConfig)).toThrow(/restore the matching pair from your backup/);
  });
});
