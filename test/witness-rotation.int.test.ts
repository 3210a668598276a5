/**
 * A witness following a rotated ledger key (docs/format.md §5.1.1): a real `flashtrail witness serve` that knows
 * the log by key A, a ledger that cosigns with it, `flashtrail keys rotate`, then the ledger as a real process
 * (`flashtrail serve`) signing with B. The witness refuses B's checkpoint (403), is shown the rotation record with
 * its inclusion proof (add-ledger-key), learns B durably and keeps cosigning, across its own restart. A checkpoint
 * by a key nobody announced, by A after it was replaced, and a chain re-signed by a stranger are refused.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startTestLedger } from './helpers/ledger-fixture.ts';
import { runCli } from './helpers/cli.ts';
import { spawnLedger, type ServerProcess } from './helpers/server-process.ts';
import { spawnWitness, type WitnessProcess } from './helpers/witness-process.ts';
import { configFromEnv, initDataDir, ledgerIdentity } from '../src/server/main.ts';
import { SimulatedStation } from '../src/sim/simulated-station.ts';
import { LedgerClient } from '../src/client/ledger-client.ts';
import { EventSigner } from '../src/event/signer.ts';
import { newSigner, type Signer } from '../src/crypto/ed25519.ts';
import { toHex, utf8 } from '../src/crypto/encoding.ts';
import { sha256 } from '../src/crypto/sha256.ts';
import { parseCosignerKey, verifyCosignatures } from '../src/tlog/cosignature.ts';
import { formatCheckpointBody, parseCheckpointBody } from '../src/tlog/checkpoint.ts';
import { parseNote, parseVerifierKey, signNote } from '../src/tlog/note.ts';
import { formatAddCheckpoint } from '../src/tlog/witness.ts';
import { readSecretKeyFile } from '../src/files/key-file.ts';
import type { ProvenanceDocument } from '../src/verify/index.ts';

const work = mkdtempSync(join(tmpdir(), 'flashtrail-witness-rotation-'));
const ledgerDir = join(work, 'ledger');
const witnessDir = join(work, 'witness');
const running: { witness?: WitnessProcess; ledger?: ServerProcess } = {};
afterAll(async () => {
  await running.ledger?.kill('SIGTERM');
  await running.witness?.stop();
  rmSync(work, { recursive: true, force: true });
});

const sizeOf = (note: string) => parseCheckpointBody(parseNote(note).text).size;
const ed25519Ids = (note: string) => parseNote(note).signatures.filter((s) => s.signature.length === 64).map((s) => s.id);
const post = (url: string, path: string, body: string, contentType = 'text/plain; charset=utf-8') => fetch(`${url}/${path}`, { method: 'POST', body, headers: { 'content-type': contentType } });

describe('a witness across a ledger key rotation', () => {
  it('is shown the chain A→B with its inclusion proof, learns B durably and keeps cosigning; unannounced and replaced keys are refused', async () => {
    const config = configFromEnv({}, { dataDir: ledgerDir, port: 0, logLevel: 'silent' });
    initDataDir(config);
    const keyA = ledgerIdentity(config).verifierKey;
    const init = await runCli(['witness', 'init', '--dir', witnessDir, '--name', 'witness.test/rotation', '--log', keyA]);
    expect(init.code, init.stderr).toBe(0);
    running.witness = await spawnWitness(witnessDir);
    const witnessKey = parseCosignerKey(running.witness.verifierKey);
    // The policy names the log by A, as it was written before the rotation: it stays valid after it.
    const policyFile = join(work, 'witnesses.policy');
    writeFileSync(policyFile, `log ${keyA}\nwitness W1 ${running.witness.verifierKey} ${running.witness.url}\nquorum W1\n`);

    // Before the rotation: an in-process ledger sets up stations and a batch; its checkpoint is cosigned under A.
    const before = await startTestLedger({ dataDir: ledgerDir, witnessPolicyFile: policyFile });
    const stationKey: Signer = before.stationKeys['ST-01'];
    const tokens = before.tokens;
    const { batchId, release } = before;
    const flash = (url: string, serial: string) =>
      new SimulatedStation(new LedgerClient(url, tokens.station1), new EventSigner(stationKey, 'ST-01'), { stationId: 'ST-01', operator: 'op', batchId, hardwareRevision: 'rev-C' }, release).flash(serial, 'pass');
    const checkpoint = async (url: string) => {
      const response = await fetch(`${url}/v1/checkpoint`, { method: 'POST', headers: { authorization: `Bearer ${tokens.admin}` } });
      expect(response.status).toBe(201);
      return response.text();
    };
    let sizeUnderA: number;
    try {
      await flash(before.url, 'R-1');
      const note = await checkpoint(before.url);
      expect(verifyCosignatures(note, [witnessKey]).map((c) => c.name)).toEqual(['witness.test/rotation']);
      sizeUnderA = sizeOf(note);
    } finally {
      await before.stop();
    }
    const secretA = readSecretKeyFile(join(ledgerDir, 'ledger.key'));

    const rotated = await runCli(['keys', 'rotate', '--data', ledgerDir]);
    expect(rotated.code, rotated.stderr).toBe(0);
    const keyB = (JSON.parse(rotated.stdout) as { verifierKey: string }).verifierKey;
    const b = parseVerifierKey(keyB);

    // After it, the ledger is a real process. Its first checkpoint is B's: the witness is shown the chain first.
    running.ledger = await spawnLedger(ledgerDir, { FLASHTRAIL_WITNESS_POLICY: policyFile });
    const ledger = running.ledger;
    await flash(ledger.url, 'R-2');
    const noteB = await checkpoint(ledger.url);
    expect(ed25519Ids(noteB)).toEqual([b.id]);
    expect(verifyCosignatures(noteB, [witnessKey]).map((c) => c.name)).toEqual(['witness.test/rotation']);
    expect(running.witness.output()).toMatch(/"status":403.*not signed by the log's key/);
    expect(running.witness.output()).toMatch(/ledger key rotation followed/);
    const learned = JSON.parse(readFileSync(join(witnessDir, 'witness.json'), 'utf8')) as { logs: string[]; rotations: { from: string; to: string; leafIndex: number }[] };
    expect(learned.logs).toEqual([keyA, keyB]);
    expect(learned.rotations).toHaveLength(1);
    expect(learned.rotations[0]).toMatchObject({ from: keyA, to: keyB });
    expect(learned.rotations[0]!.leafIndex).toBeGreaterThanOrEqual(sizeUnderA);
    expect(learned.rotations[0]!.leafIndex).toBeLessThan(sizeOf(noteB));

    // The evidence verifies with the old key pinned (the chain followed). With --policy naming the log by A the
    // verifier still compares the policy's log line with the chain's last key (LEDGER_KEY_ERROR): left for later.
    const doc = JSON.parse(await (await fetch(`${ledger.url}/v1/units/R-2/provenance`, { headers: { authorization: `Bearer ${tokens.auditor}` } })).text()) as ProvenanceDocument;
    const docFile = join(work, 'r2.json');
    writeFileSync(docFile, JSON.stringify(doc));
    const verified = await runCli(['verify', docFile, '--ledger-key', keyA, '--json']);
    expect(JSON.parse(verified.stdout), verified.stdout).toMatchObject({ ok: true });

    // The witness restarted (a real process killed): what it learned is on disk, and it keeps cosigning B.
    await running.witness.stop();
    running.witness = await spawnWitness(witnessDir);
    // The same port is not guaranteed: the ledger's policy names the old URL, so ask the new witness directly too.
    const originHash = toHex(sha256(utf8(b.name)));
    const latest = await (await fetch(`${running.witness.url}/${originHash}/checkpoint`)).text();
    expect(ed25519Ids(latest)).toEqual([b.id]);
    expect(sizeOf(latest)).toBe(sizeOf(noteB));

    // A checkpoint of a bigger tree by a key nobody announced: 403, the status for no known key.
    const body = parseNote(noteB).text;
    const grown = formatCheckpointBody({ origin: b.name, size: sizeOf(noteB) + 1, root: parseCheckpointBody(body).root });
    const stranger = newSigner();
    const byStranger = await post(running.witness.url, 'add-checkpoint', formatAddCheckpoint({ oldSize: sizeOf(noteB), proof: [], checkpoint: signNote(grown, b.name, stranger.secretKey, stranger.publicKey) }));
    expect(byStranger.status).toBe(403);
    // The same by A, the key replaced before that size: refused as not in force there.
    const byReplaced = await post(running.witness.url, 'add-checkpoint', formatAddCheckpoint({ oldSize: sizeOf(noteB), proof: [], checkpoint: signNote(grown, b.name, secretA.secretKey, secretA.publicKey) }));
    expect(byReplaced.status).toBe(403);
    expect(await byReplaced.text()).toMatch(/not in force at that size/);

    // A chain re-signed by a stranger (who does not hold A), leading to the stranger's key: 403, nothing learned.
    const rotations = (doc.entries.filter((e) => e.role === 'trust') as { leafIndex: number; envelope: { payload: string }; proof: string }[]).filter(
      (e) => (JSON.parse(Buffer.from(e.envelope.payload, 'base64').toString('utf8')) as { type: string }).type === 'LedgerKeyRotated',
    );
    expect(rotations).toHaveLength(1);
    const genuine = { leafIndex: rotations[0]!.leafIndex, envelope: rotations[0]!.envelope, proof: rotations[0]!.proof };
    const data = (JSON.parse(Buffer.from(rotations[0]!.envelope.payload, 'base64').toString('utf8')) as { data: Record<string, string> }).data;
    const forged = new EventSigner(stranger, 'ledger').sign('LedgerKeyRotated', { ...data, keyId: stranger.keyId, publicKey: toHex(stranger.publicKey) } as never, { prev: null }).envelope;
    const forgedShown = await post(running.witness.url, 'add-ledger-key', JSON.stringify({ checkpoint: doc.checkpoint, rotations: [{ ...genuine, envelope: forged }] }), 'application/json');
    const forgedText = await forgedShown.text();
    expect(forgedShown.status, forgedText).toBe(403);
    expect(forgedText).toMatch(/^LEDGER_KEY_ERROR at rotations\[0\]: .*not signed by the key it replaces/);
    // The genuine chain moved to another leaf: its inclusion proof fails, 422.
    const moved = await post(running.witness.url, 'add-ledger-key', JSON.stringify({ checkpoint: doc.checkpoint, rotations: [{ ...genuine, leafIndex: genuine.leafIndex + 1 }] }), 'application/json');
    expect(moved.status).toBe(422);
    const malformed = await post(running.witness.url, 'add-ledger-key', '{"checkpoint": 1}', 'application/json');
    expect(malformed.status).toBe(400);
    expect((JSON.parse(readFileSync(join(witnessDir, 'witness.json'), 'utf8')) as { logs: string[] }).logs).toEqual([keyA, keyB]);
    expect(running.witness.output()).not.toMatch(/\n\s+at /);
  });
});
