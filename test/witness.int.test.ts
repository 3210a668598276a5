/**
 * Witnesses end to end: a real `flashtrail witness serve` process, a real ledger (SQLite, HTTP on loopback)
 * that submits each checkpoint to it, the compiled CLI verifying with a policy, and a split view: the
 * ledger's data directory copied and made to sign another tree of the same size, which the witness refuses
 * and `verify-consistency` reports as a fork with both signed notes.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestLedger, type TestLedger } from './helpers/ledger-fixture.ts';
import { runCli } from './helpers/cli.ts';
import { spawnWitness, type WitnessProcess } from './helpers/witness-process.ts';
import { configFromEnv, initDataDir, ledgerIdentity } from '../src/server/main.ts';
import { SimulatedStation } from '../src/sim/simulated-station.ts';
import { LedgerClient } from '../src/client/ledger-client.ts';
import { EventSigner } from '../src/event/signer.ts';
import { parseCosignerKey, verifyCosignatures } from '../src/tlog/cosignature.ts';
import { parseNote, signNote } from '../src/tlog/note.ts';
import { formatCheckpointBody, parseCheckpointBody } from '../src/tlog/checkpoint.ts';
import { readSecretKeyFile } from '../src/files/key-file.ts';
import { formatAddCheckpoint, MAX_ADD_CHECKPOINT_BYTES } from '../src/tlog/witness.ts';
import { newSigner, type Signer } from '../src/crypto/ed25519.ts';
import { formatCosignerKey } from '../src/tlog/cosignature.ts';

const work = mkdtempSync(join(tmpdir(), 'flashtrail-witness-'));
const ledgerDir = join(work, 'ledger');
const witnessDir = join(work, 'witness');
let ledgerKey: string;
let witness: WitnessProcess;
let policyFile: string;

/** The station key registered when the ledger was set up (a restarted fixture makes new, unregistered ones). */
let stationKey: Signer;

async function flash(t: TestLedger, serial: string): Promise<void> {
  const station = new SimulatedStation(new LedgerClient(t.url, t.tokens.station1), new EventSigner(stationKey, 'ST-01'), { stationId: 'ST-01', operator: 'op', batchId: t.batchId, hardwareRevision: 'rev-C' }, t.release);
  await station.flash(serial, 'pass');
}

async function checkpointOf(t: TestLedger): Promise<string> {
  const response = await fetch(`${t.url}/v1/checkpoint`, { method: 'POST', headers: { authorization: `Bearer ${t.tokens.admin}` } });
  expect(response.status).toBe(201);
  return response.text();
}

const sizeOf = (note: string) => parseCheckpointBody(parseNote(note).text).size;

beforeAll(async () => {
  // The ledger's identity first: the witness must know the log's key before it cosigns for it.
  const config = configFromEnv({}, { dataDir: ledgerDir, port: 0, logLevel: 'silent' });
  initDataDir(config);
  ledgerKey = ledgerIdentity(config).verifierKey;
  const init = await runCli(['witness', 'init', '--dir', witnessDir, '--name', 'witness.test/w1', '--log', ledgerKey]);
  expect(init.code, init.stderr).toBe(0);
  witness = await spawnWitness(witnessDir);
  expect(witness.verifierKey).toBe((JSON.parse(init.stdout) as { verifierKey: string }).verifierKey);
  policyFile = join(work, 'policy.txt');
  writeFileSync(policyFile, `# the plant's own witness\nlog ${ledgerKey}\nwitness W1 ${witness.verifierKey} ${witness.url}\nquorum W1\n`);
});

afterAll(async () => {
  await witness?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('witnesses', () => {
  let forkedNote: string;
  let honestNote: string;

  it('cosigns every checkpoint the ledger issues; verifiers holding the policy accept it, and refuse one below quorum', async () => {
    const t = await startTestLedger({ dataDir: ledgerDir, witnessPolicyFile: policyFile });
    stationKey = t.stationKeys['ST-01'];
    try {
      await flash(t, 'U-1');
      const note = await checkpointOf(t);
      const cosignatures = verifyCosignatures(note, [parseCosignerKey(witness.verifierKey)]);
      expect(cosignatures.map((c) => c.name)).toEqual(['witness.test/w1']);
      expect(Math.abs(cosignatures[0]!.timestamp - Date.now() / 1000)).toBeLessThan(120);
      // GET serves the same cosigned note; the witness serves its latest for the log on its monitoring path.
      const served = await (await fetch(`${t.url}/v1/checkpoint`, { headers: { authorization: `Bearer ${t.tokens.auditor}` } })).text();
      expect(served).toBe(note);
      const origin = parseNote(note).text.split('\n')[0] as string;
      const originHash = (await import('node:crypto')).createHash('sha256').update(origin).digest('hex');
      const monitored = await (await fetch(`${witness.url}/${originHash}/checkpoint`)).text();
      expect(sizeOf(monitored)).toBe(sizeOf(note));
      expect(verifyCosignatures(monitored, [parseCosignerKey(witness.verifierKey)])).toHaveLength(1);

      const response = await fetch(`${t.url}/v1/units/U-1/provenance`, { headers: { authorization: `Bearer ${t.tokens.auditor}` } });
      const doc = await response.text();
      expect(response.status, doc).toBe(200);
      const docFile = join(work, 'U-1.json');
      writeFileSync(docFile, doc);
      const ok = await runCli(['verify', docFile, '--ledger-key', ledgerKey, '--policy', policyFile]);
      expect(ok.code, ok.stdout + ok.stderr).toBe(0);
      expect(ok.stdout).toMatch(/ok {2}witnesses +quorum W1 met: cosigned by W1 at 20/);
      expect(ok.stdout).toMatch(/witnessed: quorum W1; W1 \(witness\.test\/w1\) at /);
      expect(ok.stdout).toMatch(new RegExp(`ok {2}freshness +complete as of tree size ${sizeOf(note)}; as of 20\\S+, \\d+ s old`));

      // Freshness: the auditor knows the log has grown past this document's checkpoint.
      const stale = await runCli(['verify', docFile, '--ledger-key', ledgerKey, '--at-least', String(sizeOf(note) + 1), '--json']);
      expect(stale.code).toBe(1);
      expect(JSON.parse(stale.stdout)).toMatchObject({ ok: false, error: { code: 'CHECKPOINT_STALE', step: 'freshness' } });
      const fresh = await runCli(['verify', docFile, '--ledger-key', ledgerKey, '--at-least', String(sizeOf(note))]);
      expect(fresh.code, fresh.stdout).toBe(0);
      expect(fresh.stdout).toMatch(/age unknown \(no witness cosignature time\)/);

      // The same document, its cosignature stripped everywhere the checkpoint appears.
      const witnessLine = note.split('\n').find((l) => l.startsWith('— witness.test/w1 ')) as string;
      const stripped = doc.split(JSON.stringify(witnessLine + '\n').slice(1, -1)).join('');
      expect(stripped).not.toBe(doc);
      const strippedFile = join(work, 'U-1.stripped.json');
      writeFileSync(strippedFile, stripped);
      const below = await runCli(['verify', strippedFile, '--ledger-key', ledgerKey, '--policy', policyFile, '--json']);
      expect(below.code).toBe(1);
      expect(JSON.parse(below.stdout)).toMatchObject({ ok: false, error: { code: 'WITNESS_QUORUM_NOT_MET', step: 'witnesses', location: { field: 'checkpoint' } } });
      // Without a policy the stripped checkpoint still passes on the ledger's own signature, but the document is no
      // longer the one the ledger signed (its v3 statement covers the note as served, cosignatures included).
      const noPolicy = await runCli(['verify', strippedFile, '--ledger-key', ledgerKey, '--json']);
      expect(noPolicy.code).toBe(1);
      expect(JSON.parse(noPolicy.stdout)).toMatchObject({ ok: false, error: { code: 'CONTENT_DIGEST_ERROR', step: 'statement' } });

      // A policy asking for two witnesses, of which only one cosigned.
      const second = formatCosignerKey('witness.test/w2', newSigner().publicKey);
      const twoFile = join(work, 'policy-2.txt');
      writeFileSync(twoFile, `witness W1 ${witness.verifierKey}\nwitness W2 ${second}\ngroup both all W1 W2\nquorum both\n`);
      const two = await runCli(['verify', docFile, '--ledger-key', ledgerKey, '--policy', twoFile]);
      expect(two.code).toBe(1);
      expect(two.stdout).toMatch(/WITNESS_QUORUM_NOT_MET: the checkpoint is cosigned by W1; the policy requires all of \[W1, W2\] \(no valid cosignature by W2\)/);

      // An export carries the cosigned checkpoint, and its verifier applies the policy too.
      const exportFile = join(work, 'export.ndjson');
      const tokenFile = join(work, 'auditor.token');
      writeFileSync(tokenFile, `${t.tokens.auditor}\n`, { mode: 0o600 });
      const exported = await runCli(['export', '--url', t.url, '--batch', t.batchId, '--token-file', tokenFile, '--out', exportFile]);
      expect(exported.code, exported.stderr).toBe(0);
      const verifiedExport = await runCli(['verify', exportFile, '--ledger-key', ledgerKey, '--policy', policyFile]);
      expect(verifiedExport.code, verifiedExport.stdout + verifiedExport.stderr).toBe(0);
      expect(verifiedExport.stdout).toMatch(/ok {2}witnesses +quorum W1 met/);
      expect((await runCli(['verify', exportFile, '--ledger-key', ledgerKey, '--policy', twoFile, '--json'])).stdout).toMatch(/"code": "WITNESS_QUORUM_NOT_MET"/);
    } finally {
      await t.stop();
    }
  });

  it('refuses a copied data directory that signs another tree of the same size, and the fork is reported with both notes', async () => {
    // The copy is taken while the ledger is stopped: both start from the same signed, witnessed history.
    const copyDir = join(work, 'ledger-copy');
    cpSync(ledgerDir, copyDir, { recursive: true });

    const honest = await startTestLedger({ dataDir: ledgerDir, setup: false, witnessPolicyFile: policyFile });
    try {
      await flash(honest, 'U-2');
      honestNote = await checkpointOf(honest);
      expect(verifyCosignatures(honestNote, [parseCosignerKey(witness.verifierKey)])).toHaveLength(1);
    } finally {
      await honest.stop();
    }

    const copy = await startTestLedger({ dataDir: copyDir, setup: false, witnessPolicyFile: policyFile });
    try {
      await flash(copy, 'U-3'); // the same number of events as U-2, other content
      forkedNote = await checkpointOf(copy);
      expect(sizeOf(forkedNote)).toBe(sizeOf(honestNote));
      expect(parseNote(forkedNote).text).not.toBe(parseNote(honestNote).text);
      // Served with the ledger's signature alone: the witness refused to cosign it.
      expect(verifyCosignatures(forkedNote, [parseCosignerKey(witness.verifierKey)])).toEqual([]);
      expect(copy.logs()).toMatch(/witness W1 refused checkpoint \d+ with 422: checkpoint \d+ of .* has another root than the checkpoint of the same size this witness cosigned: a split view/);
    } finally {
      await copy.stop();
    }
    // The witness logged the refusal (its stdout reaches this process a moment after the answer).
    for (let i = 0; i < 50 && !/"status":422.*a split view/.test(witness.output()); i++) await new Promise((r) => setTimeout(r, 100));
    expect(witness.output()).toMatch(/"status":422.*a split view/);

    // The spec's answer, asked directly: same size, other root → 422; an older size → 409 with the witness's size.
    const size = sizeOf(forkedNote);
    const direct = await fetch(`${witness.url}/add-checkpoint`, { method: 'POST', body: formatAddCheckpoint({ oldSize: size, proof: [], checkpoint: forkedNote }) });
    expect(direct.status).toBe(422);
    const stale = await fetch(`${witness.url}/add-checkpoint`, { method: 'POST', body: formatAddCheckpoint({ oldSize: 1, proof: [], checkpoint: forkedNote }) });
    expect(stale.status).toBe(409);
    expect(stale.headers.get('content-type')).toBe('text/x.tlog.size');
    expect(await stale.text()).toBe(`${size}\n`);

    // A verifier holding both notes: a fork, both as evidence; no proof is needed for two notes of one size.
    const a = join(work, 'honest.note');
    const b = join(work, 'forked.note');
    writeFileSync(a, honestNote);
    writeFileSync(b, forkedNote);
    const text = await runCli(['verify-consistency', a, b, '--ledger-key', ledgerKey]);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(new RegExp(`CONSISTENCY_PROOF_ERROR: fork: \\S+ signed two different trees of size ${size}`));
    expect(text.stdout).toContain(`evidence olderCheckpoint:\n    ${parseNote(honestNote).text.split('\n')[0]}`);
    const json = await runCli(['verify-consistency', a, b, '--ledger-key', ledgerKey, '--json']);
    const report = JSON.parse(json.stdout) as { ok: boolean; error: { code: string; evidence: { olderCheckpoint: string; newerCheckpoint: string } } };
    expect(report).toMatchObject({ ok: false, error: { code: 'CONSISTENCY_PROOF_ERROR' } });
    expect(report.error.evidence).toEqual({ olderCheckpoint: honestNote, newerCheckpoint: forkedNote });
    // The witnessed note is the honest one: with the policy, only it counts as published.
    expect((await runCli(['verify-consistency', b, a, '--ledger-key', ledgerKey, '--policy', policyFile])).code).toBe(1);
  });

  it('keeps what it cosigned across a restart, and refuses to start on a damaged state file', async () => {
    await witness.stop();
    witness = await spawnWitness(witnessDir);
    const size = sizeOf(honestNote);
    const again = await fetch(`${witness.url}/add-checkpoint`, { method: 'POST', body: formatAddCheckpoint({ oldSize: 0, proof: [], checkpoint: honestNote }) });
    expect(again.status).toBe(409);
    expect(await again.text()).toBe(`${size}\n`);
    const same = await fetch(`${witness.url}/add-checkpoint`, { method: 'POST', body: formatAddCheckpoint({ oldSize: size, proof: [], checkpoint: honestNote }) });
    expect(same.status).toBe(200);
    expect(await same.text()).toMatch(/^— witness\.test\/w1 [A-Za-z0-9+/]{102}==\n$/);
    await witness.stop();

    const logs = join(witnessDir, 'logs');
    const [file] = (await import('node:fs')).readdirSync(logs);
    const saved = readFileSync(join(logs, file as string), 'utf8');
    writeFileSync(join(logs, file as string), saved.slice(0, 20));
    const refused = await runCli(['witness', 'serve', '--dir', witnessDir, '--port', '0']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/is damaged: restore it from a backup \(starting without it would let this witness cosign a forked tree\)/);
    expect(refused.stderr).not.toMatch(/\n\s+at /);
    writeFileSync(join(logs, file as string), saved);
    witness = await spawnWitness(witnessDir);
  });

  it('refuses a body over its bound, declared or chunked, with 413, and one that is not UTF-8 with 400, in plain text', async () => {
    const oversized = 'x'.repeat(MAX_ADD_CHECKPOINT_BYTES + 1);
    const declared = await fetch(`${witness.url}/add-checkpoint`, { method: 'POST', body: oversized });
    expect([declared.status, declared.headers.get('content-type')]).toEqual([413, 'text/plain; charset=utf-8']);
    expect(await declared.text()).toBe(`the request body is larger than ${MAX_ADD_CHECKPOINT_BYTES} bytes\n`);
    const chunks = [oversized.slice(0, 1000), oversized.slice(1000)];
    const chunked = await fetch(`${witness.url}/add-checkpoint`, {
      method: 'POST',
      body: new ReadableStream({ pull: (controller) => (chunks.length > 0 ? controller.enqueue(new TextEncoder().encode(chunks.shift())) : controller.close()) }),
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).toBe(413);
    const notUtf8 = await fetch(`${witness.url}/add-checkpoint`, { method: 'POST', body: new Uint8Array([0x6f, 0x6c, 0x64, 0xff, 0x0a]) });
    expect([notUtf8.status, await notUtf8.text()]).toEqual([400, 'the request body is not UTF-8\n']);
    // The witness still answers afterwards: the refused bodies left nothing behind.
    const same = await fetch(`${witness.url}/add-checkpoint`, { method: 'POST', body: formatAddCheckpoint({ oldSize: sizeOf(honestNote), proof: [], checkpoint: honestNote }) });
    expect(same.status).toBe(200);
  });

  it('a witness that cannot be reached leaves the checkpoint served with the ledger signature alone, and logged; a policy for another log does not start', async () => {
    const dir = join(work, 'unreachable');
    const config = configFromEnv({}, { dataDir: dir, port: 0, logLevel: 'silent' });
    initDataDir(config);
    const key = ledgerIdentity(config).verifierKey;
    const unreachable = join(work, 'unreachable.policy');
    // Port 1 on loopback: nothing listens there, the connection is refused at once.
    writeFileSync(unreachable, `log ${key}\nwitness W1 ${witness.verifierKey} http://127.0.0.1:1/\nquorum W1\n`);
    const t = await startTestLedger({ dataDir: dir, witnessPolicyFile: unreachable });
    try {
      const note = await checkpointOf(t);
      expect(verifyCosignatures(note, [parseCosignerKey(witness.verifierKey)])).toEqual([]);
      // The ledger's own lines only (Ed25519, and ML-DSA-44 of the hybrid signature): no cosignature.
      expect(parseNote(note).signatures.map((sig) => sig.name)).toEqual([key.split('+')[0], key.split('+')[0]]);
      expect(t.logs()).toMatch(/"witness":"W1".*witness W1 at http:\/\/127\.0\.0\.1:1\/ could not be reached/);
      expect(t.logs()).toMatch(/checkpoint below witness quorum/);
    } finally {
      await t.stop();
    }
    const other = join(work, 'other.policy');
    writeFileSync(other, `log ${ledgerKey}\nwitness W1 ${witness.verifierKey} ${witness.url}\nquorum W1\n`);
    await expect(startTestLedger({ dataDir: dir, setup: false, witnessPolicyFile: other })).rejects.toThrow(/FLASHTRAIL_WITNESS_POLICY: .* names the logs .*, not this ledger/);
  });

  it('flashtrail monitor follows the checkpoints, verifies each extends the last, and reports a fork with both notes', async () => {
    const dir = join(work, 'monitored');
    const t = await startTestLedger({ dataDir: dir });
    stationKey = t.stationKeys['ST-01'];
    try {
      const key = (await (await fetch(`${t.url}/v1/ledger/key`, { headers: { authorization: `Bearer ${t.tokens.auditor}` } })).text()).trim();
      const tokenFile = join(work, 'monitor.token');
      writeFileSync(tokenFile, `${t.tokens.auditor}\n`, { mode: 0o600 });
      const state = join(work, 'monitor.state');
      const monitor = () => runCli(['monitor', '--ledger', t.url, '--ledger-key', key, '--state', state, '--token-file', tokenFile, '--once']);
      await flash(t, 'M-1');
      const first = await checkpointOf(t);
      const r1 = await monitor();
      expect(r1.code, r1.stderr).toBe(0);
      expect(JSON.parse(r1.stdout)).toMatchObject({ kind: 'checkpoint', size: sizeOf(first) });
      await flash(t, 'M-2');
      const second = await checkpointOf(t);
      const r2 = await monitor();
      expect(r2.code, r2.stderr).toBe(0);
      expect(JSON.parse(r2.stdout)).toMatchObject({ kind: 'checkpoint', size: sizeOf(second), consistentWith: sizeOf(first) });
      // The monitor had been shown another tree of the current size, signed by the same key: a fork.
      const ledgerSigner = readSecretKeyFile(join(dir, 'ledger.key'));
      const origin = parseNote(second).text.split('\n')[0] as string;
      const forged = signNote(formatCheckpointBody({ origin, size: sizeOf(second), root: new Uint8Array(32).fill(7) }), origin, ledgerSigner.secretKey, ledgerSigner.publicKey);
      writeFileSync(state, JSON.stringify({ checkpoint: forged }));
      const r3 = await monitor();
      expect(r3.code).toBe(1);
      const finding = JSON.parse(r3.stdout) as { kind: string; code: string; message: string; evidence: { olderCheckpoint: string; newerCheckpoint: string } };
      expect(finding).toMatchObject({ kind: 'finding', code: 'CONSISTENCY_PROOF_ERROR' });
      expect(finding.message).toMatch(/^fork: /);
      expect(finding.evidence).toEqual({ olderCheckpoint: forged, newerCheckpoint: second });
    } finally {
      await t.stop();
    }
  });
});
