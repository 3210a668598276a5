/**
 * The ledger's signature on the statements it makes about evidence (docs/format.md §7.6.1): one DSSE envelope of
 * an in-toto Statement, RFC 8785 bytes, signed with the ledger's Ed25519 key and, when the ledger holds one, its
 * ML-DSA-44 key, both over the same PAE. One home, so exports and provenance documents are signed alike.
 */
import type { Signer } from '../crypto/ed25519.ts';
import type { MlDsaSigner } from '../crypto/ml-dsa.ts';
import type { DsseEnvelope } from '../crypto/dsse.ts';
import { signEnvelopeHybrid } from '../crypto/dsse-hybrid.ts';
import { signEd25519Native } from '../native/ed25519.ts';
import { signMlDsa44Native } from '../native/ml-dsa.ts';
import { toBase64Native } from '../native/crypto.ts';
import { canonicalBytes } from '../crypto/jcs.ts';
import { toHex } from '../crypto/encoding.ts';
import { sha256 } from '../crypto/sha256.ts';
import { IN_TOTO_PAYLOAD_TYPE, VERIFIER_PAGE_FILE_NAME } from '../verify/export-format.ts';

export interface StatementKeys {
  readonly ledgerKey: Signer;
  /** The ledger's ML-DSA-44 key; null or absent on a ledger with post-quantum signatures off. */
  readonly mlDsaKey?: MlDsaSigner | null;
}

export function signStatement(statement: unknown, keys: StatementKeys): DsseEnvelope {
  return signEnvelopeHybrid(IN_TOTO_PAYLOAD_TYPE, canonicalBytes(statement), keys.ledgerKey, keys.mlDsaKey ?? null, signEd25519Native, signMlDsa44Native, toBase64Native);
}

/** What a v3 export statement says of the offline verifier page written next to it. */
export function verifierPageRecord(page: Uint8Array | null): { name: typeof VERIFIER_PAGE_FILE_NAME; sha256: string } | null {
  return page ? { name: VERIFIER_PAGE_FILE_NAME, sha256: toHex(sha256(page)) } : null;
}
