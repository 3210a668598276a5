/**
 * Signing a rendered document (VEX, enriched SBOM) by the ledger key: the document's RFC 8785 canonical
 * bytes in a DSSE envelope (src/crypto/dsse.ts), with the document's own media type as payload type. A
 * verifier checks the DSSE signature, then reads the payload as the document; the canonical form means one
 * document has one byte representation, so its SHA-256 names it.
 */
import { canonicalBytes } from '../crypto/jcs.ts';
import { signEnvelope, verifyEnvelopeSignature, type DsseEnvelope } from '../crypto/dsse.ts';
import { fromBase64 } from '../crypto/encoding.ts';
import { portableCrypto, type CryptoBackend } from '../crypto/backend.ts';

/** Media types registered (CycloneDX, CSAF) or used by the projects themselves (OpenVEX). */
export const DOCUMENT_MEDIA_TYPES = {
  cyclonedx: 'application/vnd.cyclonedx+json',
  csaf: 'application/csaf+json',
  openvex: 'application/openvex+json',
} as const;
export type SignedDocumentKind = keyof typeof DOCUMENT_MEDIA_TYPES;

export function signDocument(kind: SignedDocumentKind, document: unknown, signer: { keyId: string; secretKey: Uint8Array }): DsseEnvelope {
  return signEnvelope(DOCUMENT_MEDIA_TYPES[kind], canonicalBytes(document), signer);
}

/** The signed document, or undefined when the signature, payload type or canonical form does not hold. */
export function openSignedDocument(kind: SignedDocumentKind, envelope: DsseEnvelope, publicKey: Uint8Array, crypto: CryptoBackend = portableCrypto): unknown {
  if (envelope.payloadType !== DOCUMENT_MEDIA_TYPES[kind]) return undefined;
  if (!verifyEnvelopeSignature(envelope, publicKey, crypto)) return undefined;
  const bytes = fromBase64(envelope.payload);
  const document: unknown = JSON.parse(new TextDecoder().decode(bytes));
  const again = canonicalBytes(document);
  return again.length === bytes.length && again.every((b, i) => b === bytes[i]) ? document : undefined;
}
