/**
 * The link of the chain of ML-DSA-44 ledger keys (docs/format.md §5.5): the replaced key's signature over its
 * successor, carried in a LedgerKeyRotated record (schema version 2). A DSSE envelope carries exactly one
 * signature (§2.1), the Ed25519 ledger key's, so the old ML-DSA-44 key signs inside the data. Without it, whoever
 * could forge Ed25519 signatures (the quantum adversary the ML-DSA-44 line is there for) could announce a key of
 * their own; with it, a verifier pinned to the old ML-DSA-44 key trusts the new one by a post-quantum signature.
 *
 * The message (pure ML-DSA-44, empty context, as every ledger ML-DSA-44 signature is), binary:
 *
 *   "flashtrail/ml-dsa-44-key-rotation/v1\n\0" || u8 len || origin || previous public key[1312] || new public key[1312]
 *
 * Domain-separated from the ledger's other ML-DSA-44 messages: the checkpoint line's starts "subtree/v1\n\0"
 * (ml-dsa-note.ts), a DSSE statement's PAE "DSSEv1 " (dsse-hybrid.ts); no message of one kind is one of another.
 * It names the log (a link is not replayable into another log) and both keys; not the leaf, which is assigned
 * after the record is signed (§5.4: positions come from inclusion proofs).
 */
import { concatBytes, fromBase64, toBase64, utf8 } from '../crypto/encoding.ts';
import { ML_DSA_44, mlDsaKeyId, signMlDsa44 } from '../crypto/ml-dsa.ts';
import type { CryptoBackend } from '../crypto/backend.ts';
import { formatMlDsaVerifierKey } from './ml-dsa-note.ts';

const LABEL = utf8('flashtrail/ml-dsa-44-key-rotation/v1\n\0');

/** The bytes the replaced ML-DSA-44 key signs. */
export function mlDsaRotationMessage(origin: string, previousPublicKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  const name = utf8(origin);
  if (name.length < 1 || name.length > 255) throw new RangeError('the origin is 1 to 255 bytes in an ML-DSA-44 rotation message');
  if (previousPublicKey.length !== ML_DSA_44.publicKeyBytes || publicKey.length !== ML_DSA_44.publicKeyBytes) throw new RangeError(`ML-DSA-44 public keys are ${ML_DSA_44.publicKeyBytes} bytes`);
  return concatBytes(LABEL, Uint8Array.of(name.length), name, previousPublicKey, publicKey);
}

/** The data of a LedgerKeyRotated record (version 2) replacing `previous` by `next`, signed by `previous`. */
export function mlDsaRotationData(origin: string, previous: { readonly publicKey: Uint8Array; readonly secretKey: Uint8Array }, next: { readonly publicKey: Uint8Array }) {
  return {
    algorithm: 'ml-dsa-44' as const,
    previousKeyId: mlDsaKeyId(previous.publicKey),
    previousPublicKey: toBase64(previous.publicKey),
    keyId: mlDsaKeyId(next.publicKey),
    publicKey: toBase64(next.publicKey),
    verifierKey: formatMlDsaVerifierKey(origin, next.publicKey),
    previousKeySignature: toBase64(signMlDsa44(mlDsaRotationMessage(origin, previous.publicKey, next.publicKey), previous.secretKey)),
  };
}

/** Whether the record's previousKeySignature is the replaced key's over the rotation message (never throws). */
export function verifyMlDsaRotationSignature(origin: string, data: { readonly previousPublicKey: string; readonly publicKey: string; readonly previousKeySignature: string }, crypto: CryptoBackend): boolean {
  try {
    const previous = fromBase64(data.previousPublicKey);
    return crypto.verifyMlDsa44(fromBase64(data.previousKeySignature), mlDsaRotationMessage(origin, previous, fromBase64(data.publicKey)), previous);
  } catch {
    return false;
  }
}
