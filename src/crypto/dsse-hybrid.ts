/**
 * DSSE envelopes with two signatures over one PAE: the ledger's Ed25519 signature first, then its ML-DSA-44 one
 * (FIPS 204, pure ML-DSA, empty context). DSSE allows several signatures on one envelope and says nothing of
 * their order; flashtrail fixes it (Ed25519, then ML-DSA-44), so that every signed statement has one byte form
 * and a verifier that knows only Ed25519 finds its signature where it always was (docs/format.md §7.6.1).
 */
import { sign } from './ed25519.ts';
import { toBase64 } from './encoding.ts';
import { signMlDsa44, type MlDsaSigner } from './ml-dsa.ts';
import { pae, type DsseEnvelope } from './dsse.ts';

export function signEnvelopeHybrid(
  payloadType: string,
  body: Uint8Array,
  ed25519: { keyId: string; secretKey: Uint8Array },
  mlDsa: Pick<MlDsaSigner, 'keyId' | 'secretKey'> | null,
  /** Ed25519 signing: the portable one, or (Node entry points) OpenSSL's, which gives the same bytes faster. */
  signEd25519: (message: Uint8Array, secretKey: Uint8Array) => Uint8Array = sign,
  /** ML-DSA-44 signing: the portable one, or (Node entry points) OpenSSL's where this Node has it. */
  signMlDsa: (message: Uint8Array, secretKey: Uint8Array) => Uint8Array = signMlDsa44,
  /** Base64: the portable encoder, or (Node entry points) Node's, which gives the same text. */
  base64: (bytes: Uint8Array) => string = toBase64,
): DsseEnvelope {
  const message = pae(payloadType, body);
  const signatures = [{ keyid: ed25519.keyId, sig: base64(signEd25519(message, ed25519.secretKey)) }];
  if (mlDsa) signatures.push({ keyid: mlDsa.keyId, sig: base64(signMlDsa(message, mlDsa.secretKey)) });
  return { payloadType, payload: base64(body), signatures };
}

// One home for checking a signature at an index: dsse.ts (the single-signature check uses it too).
export { verifyEnvelopeSignatureAt } from './dsse.ts';
