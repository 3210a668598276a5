/**
 * The chain of ML-DSA-44 ledger keys (docs/format.md §5.5.1): the worked vector of one link (rotation message,
 * LedgerKeyRotated version 2 data) against its generator and both crypto backends, and followMlDsaKeyChain over
 * real envelopes: a chain of two links followed from either older key, and each way a link can be wrong refused
 * with its code and the key ids.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { portableCrypto } from '../src/crypto/backend.ts';
import { nativeCrypto } from '../src/native/crypto.ts';
import { newSigner } from '../src/crypto/ed25519.ts';
import { newMlDsaSigner, type MlDsaSigner } from '../src/crypto/ml-dsa.ts';
import { toHex } from '../src/crypto/encoding.ts';
import { EventSigner } from '../src/event/signer.ts';
import { formatMlDsaVerifierKey, parseMlDsaVerifierKey } from '../src/tlog/ml-dsa-note.ts';
import { mlDsaRotationData, mlDsaRotationMessage, verifyMlDsaRotationSignature } from '../src/tlog/ml-dsa-rotation.ts';
import { formatVerifierKey, parseVerifierKey } from '../src/tlog/note.ts';
import { decodeEntry, type Decoded } from '../src/verify/steps.ts';
import { followLedgerKeyChain, followMlDsaKeyChain } from '../src/verify/ledger-keys.ts';
import { mlDsaRotationVector, ROTATION_VECTOR_FILE } from './vectors/format/generate-ml-dsa-rotation.ts';
import { expectedVerificationFailure } from './helpers/verification-failure.ts';

const ORIGIN = 'factory.example/ledger';
const ledgerKey = newSigner();
const ledger = new EventSigner(ledgerKey, 'ledger');
const [k1, k2, k3] = [newMlDsaSigner(), newMlDsaSigner(), newMlDsaSigner()] as [MlDsaSigner, MlDsaSigner, MlDsaSigner];
const pinned = (k: MlDsaSigner) => parseMlDsaVerifierKey(formatMlDsaVerifierKey(ORIGIN, k.publicKey));
const short = (keyId: string) => `${keyId.slice(0, 16)}…`;

/** Rotation records as a verifier decodes them from a file, at the leaves given. */
function links(datas: readonly object[], leaves = datas.map((_d, i) => 3 + 2 * i)): Decoded[] {
  let prev: string | null = null;
  return datas.map((data, i) => {
    const signed = ledger.sign('LedgerKeyRotated', data as never, { prev });
    const d = decodeEntry('trust', leaves[i] as number, signed.envelope, i, { field: `entries[${i}]` }, portableCrypto);
    prev = d.digest;
    return d;
  });
}
const failureOf = expectedVerificationFailure;

describe('ML-DSA-44 rotation link vector', () => {
  const vector = JSON.parse(readFileSync(ROTATION_VECTOR_FILE, 'utf8')) as { origin: string; rotationMessage: string; data: { previousPublicKey: string; publicKey: string }; cases: { name: string; data: { previousPublicKey: string; publicKey: string; previousKeySignature: string }; valid: boolean }[] };

  it('is what its generator writes (regenerate with npx tsx test/vectors/format/generate-ml-dsa-rotation.ts)', () => {
    expect(readFileSync(ROTATION_VECTOR_FILE, 'utf8')).toBe(mlDsaRotationVector());
  });

  it('each case verifies, or not, as it says, with both backends', () => {
    const message = mlDsaRotationMessage(vector.origin, Buffer.from(vector.data.previousPublicKey, 'base64'), Buffer.from(vector.data.publicKey, 'base64'));
    expect(toHex(message)).toBe(vector.rotationMessage);
    expect(vector.cases.map((c) => c.valid)).toEqual([true, false, false, false]);
    for (const crypto of [portableCrypto, nativeCrypto]) {
      for (const c of vector.cases) expect(verifyMlDsaRotationSignature(vector.origin, c.data, crypto), `${c.name} (${crypto.name})`).toBe(c.valid);
    }
  });
});

describe('followMlDsaKeyChain', () => {
  const chain = links([mlDsaRotationData(ORIGIN, k1, k2), mlDsaRotationData(ORIGIN, k2, k3)]);

  it('follows two links from the first key or the second to the third; the Ed25519 chain ignores them', () => {
    for (const from of [k1, k2, k3]) {
      const followed = followMlDsaKeyChain(chain, pinned(from), portableCrypto);
      expect(followed.signing.id).toBe(pinned(k3).id);
      expect(followed.keys.map((k) => k.keyId)).toEqual([k1.keyId, k2.keyId, k3.keyId]);
      expect(followed.rotations).toEqual([3, 5]);
    }
    // Given in any order, followed in leaf order.
    expect(followMlDsaKeyChain([...chain].reverse(), pinned(k1), portableCrypto).signing.id).toBe(pinned(k3).id);
    const ed25519 = followLedgerKeyChain(chain, parseVerifierKey(formatVerifierKey(ORIGIN, ledgerKey.publicKey)), portableCrypto);
    expect(ed25519.rotations).toEqual([]);
    // No links: the pinned key itself.
    expect(followMlDsaKeyChain([], pinned(k1), portableCrypto).signing.id).toBe(pinned(k1).id);
  });

  it('refuses a key outside the chain, naming the chain', () => {
    const outsider = newMlDsaSigner();
    const error = failureOf(() => followMlDsaKeyChain(chain, pinned(outsider), portableCrypto));
    expect(error.code).toBe('LEDGER_KEY_ERROR');
    expect(error.message).toContain(`${short(k1.keyId)} → ${short(k2.keyId)} → ${short(k3.keyId)}`);
    expect(error.message).toContain(short(outsider.keyId));
  });

  it('refuses a link that does not continue the one before', () => {
    const error = failureOf(() => followMlDsaKeyChain(links([mlDsaRotationData(ORIGIN, k1, k2), mlDsaRotationData(ORIGIN, k3, newMlDsaSigner())]), pinned(k1), portableCrypto));
    expect(error).toMatchObject({ code: 'LEDGER_KEY_ERROR', step: 'ledger-keys', location: { field: 'entries[1]', leafIndex: 5 } });
    expect(error.message).toContain(`replaces ${short(k3.keyId)}, but the ML-DSA-44 key in force before it is ${short(k2.keyId)}`);
  });

  it('refuses a link the replaced key did not sign: by another key, for another log, or for another successor', () => {
    const stranger = newMlDsaSigner();
    const byStranger = { ...mlDsaRotationData(ORIGIN, stranger, k2), previousKeyId: k1.keyId, previousPublicKey: mlDsaRotationData(ORIGIN, k1, k2).previousPublicKey };
    const otherLog = mlDsaRotationData('other.example/ledger', k1, k2);
    const otherSuccessor = { ...mlDsaRotationData(ORIGIN, k1, k2), keyId: k3.keyId, publicKey: mlDsaRotationData(ORIGIN, k2, k3).publicKey, verifierKey: formatMlDsaVerifierKey(ORIGIN, k3.publicKey) };
    for (const data of [byStranger, { ...otherLog, verifierKey: formatMlDsaVerifierKey(ORIGIN, k2.publicKey) }, otherSuccessor]) {
      const error = failureOf(() => followMlDsaKeyChain(links([data]), pinned(k1), portableCrypto));
      expect(error.code).toBe('LEDGER_KEY_ERROR');
      expect(error.message).toMatch(/is not signed by the key it replaces/);
      expect(error.message).toContain(short(k1.keyId));
    }
  });

  it("refuses a verifier key of another name or key, and a key id that is not its key's hash", () => {
    const renamed = { ...mlDsaRotationData(ORIGIN, k1, k2), verifierKey: formatMlDsaVerifierKey('other.example/ledger', k2.publicKey) };
    expect(failureOf(() => followMlDsaKeyChain(links([renamed]), pinned(k1), portableCrypto))).toMatchObject({ code: 'LEDGER_KEY_ERROR', message: expect.stringContaining('a rotation keeps the log') });
    const otherKey = { ...mlDsaRotationData(ORIGIN, k1, k2), verifierKey: formatMlDsaVerifierKey(ORIGIN, k3.publicKey) };
    expect(failureOf(() => followMlDsaKeyChain(links([otherKey]), pinned(k1), portableCrypto)).code).toBe('LEDGER_KEY_ERROR');
    const wrongId = { ...mlDsaRotationData(ORIGIN, k1, k2), keyId: k3.keyId };
    expect(failureOf(() => followMlDsaKeyChain(links([wrongId]), pinned(k1), portableCrypto)).code).toBe('FORMAT_ERROR');
  });
});
