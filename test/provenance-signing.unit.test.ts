/**
 * The provenance document's statement (src/evidence/provenance.ts signProvenance) is signed with OpenSSL's
 * Ed25519 and digested with its SHA-256 for speed: the document it signs is the same, byte for byte, as the one
 * the portable construction signed when the genuine v3 vector was made by a real ledger (Ed25519 is
 * deterministic, so its signature is the same too; ML-DSA-44 signing is hedged, so that one is verified).
 */
import { describe, expect, it } from 'vitest';
import genuine from './vectors/format/v3/genuine.provenance.json' with { type: 'json' };
import { ORIGIN, seededMlDsaSigner, seededSigner } from './vectors/format/generate-genuine.ts';
import { signProvenance, signProvenanceBytes } from '../src/evidence/provenance.ts';
import { pae, type DsseEnvelope } from '../src/crypto/dsse.ts';
import { fromBase64, fromUtf8 } from '../src/crypto/encoding.ts';
import { verifyMlDsa44Portable } from '../src/crypto/ml-dsa.ts';
import { canonicalize } from '../src/crypto/jcs.ts';
import type { ProvenanceDocument } from '../src/verify/provenance.ts';

describe('provenance statement signing', () => {
  it('signs the genuine vector document to the same statement payload and Ed25519 signature, and a valid ML-DSA-44 one', () => {
    const { statement, ...unsigned } = genuine as unknown as ProvenanceDocument & { statement: DsseEnvelope };
    const mlDsa = seededMlDsaSigner('ledger ml-dsa-44');
    const signed = signProvenance(unsigned as ProvenanceDocument, { ledgerKey: seededSigner('ledger'), mlDsaKey: mlDsa }, ORIGIN);
    const { statement: resigned, ...rest } = signed as ProvenanceDocument & { statement: DsseEnvelope };
    expect(canonicalize(rest)).toBe(canonicalize(unsigned));
    expect(resigned.payloadType).toBe(statement.payloadType);
    expect(resigned.payload).toBe(statement.payload);
    expect(resigned.signatures[0]).toEqual(statement.signatures[0]);
    expect(resigned.signatures[1]?.keyid).toBe(mlDsa.keyId);
    const message = pae(resigned.payloadType, fromBase64(resigned.payload));
    expect(verifyMlDsa44Portable(fromBase64(resigned.signatures[1]?.sig as string), message, mlDsa.publicKey)).toBe(true);
  });

  it('gives the signed document as its RFC 8785 bytes, the statement spliced after the members it digests', () => {
    const { statement: _statement, ...unsigned } = genuine as unknown as ProvenanceDocument & { statement: DsseEnvelope };
    const { document, bytes } = signProvenanceBytes(unsigned as ProvenanceDocument, { ledgerKey: seededSigner('ledger'), mlDsaKey: seededMlDsaSigner('ledger ml-dsa-44') }, ORIGIN);
    expect(fromUtf8(bytes)).toBe(canonicalize(document));
    expect(JSON.parse(fromUtf8(bytes))).toEqual(document);
  });
});
