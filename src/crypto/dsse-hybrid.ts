/**
 * DSSE envelopes with two signatures over one PAE: the ledger's Ed25519 signature first, then its ML-DSA-44 one
 * (FIPS 204, pure ML-DSA, empty context). DSSE allows several signatures on one envelope and says nothing of
 * their order; flashtrail fixes it (Ed25519, then ML-DSA-44), so that every signed statement has one byte form
 * and a verifier that knows only Ed25519 finds its signature where it always was (docs/format.md §7.6.1).
 */
import { sign } from './ed25519.ts';
import { fromBase64, toBase64 } from './encoding.ts';
import { signMlDsa44, type MlDsaSigner } from './ml-dsa.ts';
import { pae, type DsseEnvelope } from './dsse.ts';
import type { CryptoBackend } from './backend.ts';

export function signEnvelopeHybrid(
  payloadType: string,
  body: Uint8Array,
  ed25519: { keyId: string; secretKey: Uint8Array },
  mlDsa: Pick<MlDsaSigner, 'keyId' | 'secretKey'> | null,
): DsseEnvelope {
  const message = pae(payloadType, body);
  const signatures = [{ keyid: ed25519.keyId, sig: toBase64(sign(message, ed25519.secretKey)) }];
  if (mlDsa) signatures.push({ keyid: mlDsa.keyId, sig: toBase64(signMlDsa44(message, mlDsa.secretKey)) });
  return { payloadType, payload: toBase64(body), signatures };
}

/** Whether signature `index` of the envelope verifies under the key; false (never an exception) for bad base64. */
export function verifyEnvelopeSignatureAt(envelope: DsseEnvelope, index: number, algorithm: 'ed25519' | 'ml-dsa-44', publicKey: Uint8Array, crypto: CryptoBackend): boolean {
  const sig = envelope.signatures[index];
  if (sig === undefined) return false;
  let body: Uint8Array;
  let signature: Uint8Array;
  try {
    body = fromBase64(envelope.payload);
    signature = fromBase64(sig.sig);
  } catch {
    return false;
  }
  const message = pae(envelope.payloadType, body);
  return algorithm === 'ed25519' ? crypto.verifyEd25519(signature, message, publicKey) : crypto.verifyMlDsa44(signature, message, publicKey);
}
