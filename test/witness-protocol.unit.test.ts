/**
 * C2SP tlog-cosignature v1, tlog-witness add-checkpoint and tlog-policy, against the worked examples in
 * test/vectors/format/witness/cosignature-v1.json (cross-checked with Go's sumdb/note, see its _source).
 */
import { describe, expect, it } from 'vitest';
import vectors from './vectors/format/witness/cosignature-v1.json' with { type: 'json' };
import { fromBase64, fromHex, toHex, utf8, fromUtf8 } from '../src/crypto/encoding.ts';
import { publicKeyFromSecret } from '../src/crypto/ed25519.ts';
import { portableCrypto } from '../src/crypto/backend.ts';
import { nativeCrypto } from '../src/native/crypto.ts';
import { cosignatureMessage, cosignCheckpoint, cosignerKeyId, CosignatureError, formatCosignerKey, parseCosignerKey, verifyCosignatures } from '../src/tlog/cosignature.ts';
import { decideAddCheckpoint, formatAddCheckpoint, parseAddCheckpoint } from '../src/tlog/witness.ts';
import { parseVerifierKey, parseNote, signNote } from '../src/tlog/note.ts';
import { describeQuorum, parseWitnessPolicy, PolicyError, quorumMet } from '../src/tlog/policy.ts';
import { formatCheckpointBody } from '../src/tlog/checkpoint.ts';
import { MemoryTree, consistencyProof, rootHash } from '../src/merkle/proofs.ts';
import { leafHash } from '../src/merkle/hash.ts';

const witnessSecret = fromHex(vectors.witnessSeed);
const witnessPublic = publicKeyFromSecret(witnessSecret);
const logSecret = fromHex(vectors.logSeed);
const logKey = parseVerifierKey(vectors.logVkey);
const body = parseNote(vectors.checkpoint).text;

describe('tlog-cosignature v1 (Ed25519, type 0x04)', () => {
  it('derives the key id and verifier key of the worked example', () => {
    expect(toHex(witnessPublic)).toBe(vectors.witnessPublicKey);
    expect(cosignerKeyId('witness.example/w1', witnessPublic)).toBe(vectors.witnessKeyId);
    expect(formatCosignerKey('witness.example/w1', witnessPublic)).toBe(vectors.witnessVkey);
    expect(parseCosignerKey(vectors.witnessVkey).id).toBe(vectors.witnessKeyId);
  });

  it('signs exactly the spec layout: cosignature/v1, time, the checkpoint body', () => {
    expect(fromUtf8(cosignatureMessage(body, vectors.timestamp))).toBe(vectors.cosignatureMessage);
    const line = cosignCheckpoint(body, 'witness.example/w1', witnessSecret, witnessPublic, vectors.timestamp);
    // Ed25519 is deterministic: the same key and message give the example's bytes.
    expect(line).toBe(`${vectors.cosignatureLine}\n`);
    const raw = fromBase64(line.trim().split(' ')[2] as string);
    expect(toHex(raw.subarray(0, 12))).toBe(vectors.cosignatureHead);
  });

  it.each([portableCrypto, nativeCrypto])('verifies the example cosignature on the %s backend and ignores the log line', (crypto) => {
    const note = `${vectors.checkpoint}${vectors.cosignatureLine}\n`;
    expect(verifyCosignatures(note, [parseCosignerKey(vectors.witnessVkey)], crypto)).toEqual([{ name: 'witness.example/w1', id: vectors.witnessKeyId, timestamp: vectors.timestamp }]);
    expect(verifyCosignatures(vectors.checkpoint, [parseCosignerKey(vectors.witnessVkey)], crypto)).toEqual([]);
  });

  it('refuses a cosignature whose timestamp or body was changed', () => {
    const key = parseCosignerKey(vectors.witnessVkey);
    const raw = fromBase64(vectors.cosignatureLine.split(' ')[2] as string);
    raw[11] = (raw[11] as number) ^ 1; // the timestamp's last byte
    const forged = `${vectors.checkpoint}— witness.example/w1 ${Buffer.from(raw).toString('base64')}\n`;
    expect(() => verifyCosignatures(forged, [key])).toThrow(/does not verify/);
    const otherBody = vectors.checkpoint.replace('\n3\n', '\n4\n');
    expect(() => verifyCosignatures(`${otherBody}${vectors.cosignatureLine}\n`, [key])).toThrow(CosignatureError);
  });

  it('refuses a type 0x01 key where a cosigner key belongs, and a wrong key id', () => {
    expect(() => parseCosignerKey(vectors.logVkey)).toThrow(/type 0x01 note key/);
    expect(() => parseCosignerKey(vectors.witnessVkey.replace(vectors.witnessKeyId, '00000000'))).toThrow(/key id/);
  });
});

describe('tlog-witness add-checkpoint', () => {
  const logs = new Map([[logKey.name, [logKey]]]);
  const leaves = vectors.leafHashes.map(fromHex);

  it('parses and re-formats the worked request body byte for byte', () => {
    const request = parseAddCheckpoint(vectors.addCheckpointBody);
    expect(request.oldSize).toBe(1);
    expect(request.proof.map(toHex)).toEqual([vectors.leafHashes[1], vectors.leafHashes[2]]);
    expect(request.checkpoint).toBe(vectors.checkpoint);
    expect(formatAddCheckpoint(request)).toBe(vectors.addCheckpointBody);
  });

  it('cosigns the worked request from size 1, and answers each refusal with the status the spec gives', () => {
    const at1 = { size: 1, root: fromHex(vectors.root1) };
    const ok = decideAddCheckpoint(vectors.addCheckpointBody, logs, () => at1);
    expect(ok.status).toBe(200);
    if (ok.status === 200) expect(toHex(ok.next.root)).toBe(vectors.root3);
    // The witness saw size 3 already: 409 with the size to retry from.
    const behind = decideAddCheckpoint(vectors.addCheckpointBody, logs, () => ({ size: 3, root: fromHex(vectors.root3) }));
    expect(behind).toMatchObject({ status: 409, latestSize: 3 });
    // Never seen: the stored size is 0, so "old 1" conflicts.
    expect(decideAddCheckpoint(vectors.addCheckpointBody, logs, () => null)).toMatchObject({ status: 409, latestSize: 0 });
    // A proof hash changed: 422.
    const bad = vectors.addCheckpointBody.replace(toBase64Line(leaves[2] as Uint8Array), toBase64Line(leaves[0] as Uint8Array));
    expect(decideAddCheckpoint(bad, logs, () => at1).status).toBe(422);
    // Unknown origin, a body without the blank line, an old size past the checkpoint.
    expect(decideAddCheckpoint(vectors.addCheckpointBody, new Map(), () => at1).status).toBe(404);
    expect(decideAddCheckpoint('old 1\n', logs, () => at1).status).toBe(400);
    expect(decideAddCheckpoint(vectors.addCheckpointBody.replace('old 1', 'old 4'), logs, () => at1).status).toBe(400);
    expect(decideAddCheckpoint(vectors.addCheckpointBody.replace('old 1', 'old 01'), logs, () => at1).status).toBe(400);
    // Signed by another key of the same name: no trusted signature, 403.
    const otherKey = fromHex('11'.repeat(32));
    const foreign = signNote(body, logKey.name, otherKey, publicKeyFromSecret(otherKey));
    expect(decideAddCheckpoint(formatAddCheckpoint({ oldSize: 1, proof: [leaves[1] as Uint8Array, leaves[2] as Uint8Array], checkpoint: foreign }), logs, () => at1).status).toBe(403);
  });

  it('refuses a different tree of the same size (a split view) with 422, and a non-empty proof from 0', () => {
    const tree = new MemoryTree();
    for (const l of ['leaf0', 'leafX', 'leaf2']) tree.append(leafHash(utf8(l)));
    const forkRoot = rootHash(tree, 3);
    const fork = signNote(formatCheckpointBody({ origin: logKey.name, size: 3, root: forkRoot }), logKey.name, logSecret, logKey.publicKey);
    const stored = () => ({ size: 3, root: fromHex(vectors.root3) });
    const decision = decideAddCheckpoint(formatAddCheckpoint({ oldSize: 3, proof: [], checkpoint: fork }), logs, stored);
    expect(decision).toMatchObject({ status: 422 });
    if (decision.status === 422) expect(decision.message).toMatch(/split view/);
    // The same checkpoint again is consistent with itself: cosigned again.
    expect(decideAddCheckpoint(formatAddCheckpoint({ oldSize: 3, proof: [], checkpoint: vectors.checkpoint }), logs, stored).status).toBe(200);
    expect(decideAddCheckpoint(formatAddCheckpoint({ oldSize: 0, proof: consistencyProof(tree, 1, 3), checkpoint: vectors.checkpoint }), logs, () => null).status).toBe(422);
    // First contact: old 0 and no proof is cosigned (the witness starts trusting the log here).
    expect(decideAddCheckpoint(formatAddCheckpoint({ oldSize: 0, proof: [], checkpoint: vectors.checkpoint }), logs, () => null).status).toBe(200);
  });

  it('refuses a size-0 checkpoint whose root is not SHA-256("")', () => {
    const zero = signNote(formatCheckpointBody({ origin: logKey.name, size: 0, root: fromHex(vectors.root3) }), logKey.name, logSecret, logKey.publicKey);
    expect(decideAddCheckpoint(formatAddCheckpoint({ oldSize: 0, proof: [], checkpoint: zero }), logs, () => null).status).toBe(422);
  });
});

describe('tlog-policy', () => {
  const w = (label: string) => {
    const secret = portableCrypto.sha256(utf8(label));
    return formatCosignerKey(`witness.example/${label}`, publicKeyFromSecret(secret));
  };

  it('parses the spec example shape and evaluates nested quorums', () => {
    const policy = parseWitnessPolicy(
      [
        '# two operators; two of the first, any of the second',
        `log ${vectors.logVkey}`,
        `witness X1 ${w('x1')} https://x1.example/`,
        `witness X2 ${w('x2')}`,
        `witness X3 ${w('x3')}`,
        'group X-witnesses 2 X1 X2 X3',
        `witness Y1 ${w('y1')}`,
        `witness Y2 ${w('y2')}`,
        'group Y-witnesses any Y1 Y2',
        'group X-and-Y all X-witnesses Y-witnesses',
        'quorum X-and-Y',
        '',
      ].join('\n'),
    );
    expect(policy.witnesses.map((x) => x.name)).toEqual(['X1', 'X2', 'X3', 'Y1', 'Y2']);
    expect(policy.witnesses[0]?.url).toBe('https://x1.example/');
    expect(describeQuorum(policy)).toBe('all of [2 of [X1, X2, X3], 1 of [Y1, Y2]]');
    expect(quorumMet(policy, new Set(['X1', 'X3', 'Y2']))).toBe(true);
    expect(quorumMet(policy, new Set(['X1', 'Y1', 'Y2']))).toBe(false);
    expect(quorumMet(policy, new Set(['X1', 'X2']))).toBe(false);
  });

  it.each([
    ['no quorum line', `witness A ${w('a')}\n`, /no quorum/],
    ['a forward reference', `group G any A\nwitness A ${w('a')}\nquorum G\n`, /not defined above/],
    ['a threshold above the members', `witness A ${w('a')}\ngroup G 2 A\nquorum G\n`, /threshold/],
    ['a key used twice', `witness A ${w('a')}\nwitness B ${w('a').replace('witness.example/a', 'witness.example/b').replace(/\+[0-9a-f]{8}\+/, `+${cosignerKeyId('witness.example/b', publicKeyFromSecret(portableCrypto.sha256(utf8('a'))))}+`)}\nquorum A\n`, /reuses a public key/],
    ['a line after the quorum', `witness A ${w('a')}\nquorum A\nwitness B ${w('b')}\n`, /nothing may follow/],
    ['an unknown keyword', 'witnesses A\nquorum none\n', /unknown keyword/],
  ])('refuses %s', (_name, text, message) => {
    expect(() => parseWitnessPolicy(text)).toThrow(PolicyError);
    expect(() => parseWitnessPolicy(text)).toThrow(message);
  });

  it('quorum none is always met', () => {
    expect(quorumMet(parseWitnessPolicy('quorum none\n'), new Set())).toBe(true);
  });
});

function toBase64Line(h: Uint8Array): string {
  return Buffer.from(h).toString('base64');
}
