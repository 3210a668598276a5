/**
 * DSSE (Dead Simple Signing Envelope) v1: pre-authentication encoding, signing and strict verification.
 * https://github.com/secure-systems-lab/dsse/blob/master/protocol.md
 */
import { canonicalBytes } from './jcs.ts';
import { concatBytes, fromBase64, toBase64, utf8 } from './encoding.ts';
import { sha256Hex } from './sha256.ts';
import { sign } from './ed25519.ts';
import { portableCrypto, type CryptoBackend } from './backend.ts';

export interface DsseSignature {
  keyid: string;
  sig: string;
}

export interface DsseEnvelope {
  payloadType: string;
  payload: string;
  signatures: DsseSignature[];
}

const isPlain = (value: unknown): value is string => typeof value === 'string' && (value as string & { isWellFormed(): boolean }).isWellFormed();

/** PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, lengths as ASCII decimal bytes. */
export function pae(payloadType: string, body: Uint8Array): Uint8Array {
  const typeBytes = utf8(payloadType);
  return concatBytes(utf8(`DSSEv1 ${typeBytes.length} `), typeBytes, utf8(` ${body.length} `), body);
}

export function signEnvelope(
  payloadType: string,
  body: Uint8Array,
  signer: { keyId: string; secretKey: Uint8Array },
): DsseEnvelope {
  const sig = sign(pae(payloadType, body), signer.secretKey);
  return { payloadType, payload: toBase64(body), signatures: [{ keyid: signer.keyId, sig: toBase64(sig) }] };
}

/** Strict always; portable unless the caller passes the native backend, which gives the same verdicts. */
export function verifyEnvelopeSignature(envelope: DsseEnvelope, publicKey: Uint8Array, crypto: CryptoBackend = portableCrypto, payloadBytes?: Uint8Array): boolean {
  return envelope.signatures.length === 1 && verifyEnvelopeSignatureAt(envelope, 0, 'ed25519', publicKey, crypto, payloadBytes);
}

/**
 * Whether signature `index` of the envelope verifies under the key; false (never an exception) for bad base64.
 * `payloadBytes`: the payload already decoded (by the envelope decoder, from this envelope), not decoded again.
 */
export function verifyEnvelopeSignatureAt(envelope: DsseEnvelope, index: number, algorithm: 'ed25519' | 'ml-dsa-44', publicKey: Uint8Array, crypto: CryptoBackend, payloadBytes?: Uint8Array): boolean {
  const sig = envelope.signatures[index];
  if (sig === undefined) return false;
  let body: Uint8Array;
  let signature: Uint8Array;
  try {
    body = payloadBytes ?? fromBase64(envelope.payload);
    signature = fromBase64(sig.sig);
  } catch {
    return false;
  }
  const message = pae(envelope.payloadType, body);
  return algorithm === 'ed25519' ? crypto.verifyEd25519(signature, message, publicKey) : crypto.verifyMlDsa44(signature, message, publicKey);
}

/**
 * The exact bytes that identify a signed envelope: its RFC 8785 canonical JSON. The per-stream hash chain
 * and (later) the Merkle log both hash these bytes.
 */
export function envelopeBytes(envelope: DsseEnvelope): Uint8Array {
  // The hot path (every stored event is hashed and chained by these bytes; a verifier recomputes them for every
  // entry): this one shape's RFC 8785 text written directly, members in code-unit order (payload < payloadType <
  // signatures; keyid < sig), each string as JSON.stringify writes it, which is RFC 8785's string form
  // (§3.2.2.2). Anything else (a member missing or not a string, a lone surrogate) takes canonicalBytes, whose
  // text or error it is. test/crypto-properties.unit.test.ts holds the two to the same bytes.
  const { payload, payloadType, signatures } = envelope;
  if (isPlain(payload) && isPlain(payloadType) && Array.isArray(signatures) && signatures.every((s) => isPlain(s?.keyid) && isPlain(s.sig))) {
    let text = '{"payload":' + JSON.stringify(payload) + ',"payloadType":' + JSON.stringify(payloadType) + ',"signatures":[';
    for (let i = 0; i < signatures.length; i++) {
      const s = signatures[i] as DsseSignature;
      text += (i > 0 ? ',{"keyid":' : '{"keyid":') + JSON.stringify(s.keyid) + ',"sig":' + JSON.stringify(s.sig) + '}';
    }
    return utf8(text + ']}');
  }
  return canonicalBytes({
    payloadType: envelope.payloadType,
    payload: envelope.payload,
    signatures: envelope.signatures.map((s) => ({ keyid: s.keyid, sig: s.sig })),
  });
}

export function envelopeDigest(envelope: DsseEnvelope, crypto: CryptoBackend = portableCrypto): string {
  return sha256Hex(envelopeBytes(envelope), crypto);
}
