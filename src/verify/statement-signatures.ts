/**
 * The ledger's signatures on a statement envelope (docs/format.md §7.6.1), and the verifier page a v3 export's
 * statement names. A statement is signed like a checkpoint (signature-policy.ts): Ed25519 always, ML-DSA-44 beside
 * it from ledgers with a post-quantum key, and the verifier's policy says which it requires:
 *   - hybrid: both, each by the pinned key of its algorithm;
 *   - classical: Ed25519 alone suffices; an ML-DSA-44 signature by the pinned ML-DSA-44 key, when present, must
 *     still verify (a known key's failing signature is never ignored), one by another key is not counted.
 * Steps, in order, each with its code: the Ed25519 key id and signature (STATEMENT_SIGNATURE_ERROR), then the
 * ML-DSA-44 one (STATEMENT_PQ_SIGNATURE_ERROR); then, after the predicate is read, the page (VERIFIER_PAGE_MISMATCH).
 */
import type { DsseEnvelope } from '../crypto/dsse.ts';
import { verifyEnvelopeSignatureAt } from '../crypto/dsse-hybrid.ts';
import { keyIdOf } from '../crypto/ed25519.ts';
import { mlDsaKeyId } from '../crypto/ml-dsa.ts';
import { toHex } from '../crypto/encoding.ts';
import type { CryptoBackend } from '../crypto/backend.ts';
import type { NoteKey } from '../tlog/note.ts';
import { requiredSignatures, type SignatureAlgorithm, type SignaturePolicy } from './signature-policy.ts';
import { VerificationError, type FailureLocation } from './errors.ts';

/** Checks the statement envelope's signatures against the pinned keys and the policy; the algorithms that verified. */
export function checkStatementSignatures(envelope: DsseEnvelope, ledgerKey: NoteKey, policy: SignaturePolicy | undefined, hybridFormat: boolean, at: FailureLocation, crypto: CryptoBackend): SignatureAlgorithm[] {
  const ledgerKeyId = keyIdOf(ledgerKey.publicKey);
  const first = envelope.signatures[0];
  if (first?.keyid !== ledgerKeyId) {
    throw new VerificationError('STATEMENT_SIGNATURE_ERROR', 'statement', `the statement is signed by key ${String(first?.keyid).slice(0, 16)}…, not the pinned ledger key ${ledgerKeyId.slice(0, 16)}… (${ledgerKey.name})`, { ...at, field: 'envelope.signatures[0].keyid' });
  }
  if ((!hybridFormat && envelope.signatures.length !== 1) || !verifyEnvelopeSignatureAt(envelope, 0, 'ed25519', ledgerKey.publicKey, crypto)) {
    throw new VerificationError('STATEMENT_SIGNATURE_ERROR', 'statement', `the statement is not signed by the pinned ledger key ${ledgerKey.name}`, { ...at, field: 'envelope.signatures[0].sig' });
  }
  if (!hybridFormat) return ['Ed25519'];
  const required = requiredSignatures(policy);
  const key = policy?.mlDsaKey ?? null;
  const second = envelope.signatures[1];
  const field = 'envelope.signatures[1]';
  if (!key) {
    if (required === 'hybrid') throw new VerificationError('LEDGER_KEY_ERROR', 'statement', "the hybrid signature policy needs the ledger's ML-DSA-44 verifier key", { ...at, field });
    return ['Ed25519'];
  }
  const pinnedId = mlDsaKeyId(key.publicKey);
  if (second === undefined || second.keyid !== pinnedId) {
    if (required === 'classical') return ['Ed25519'];
    const what = second === undefined ? 'carries no ML-DSA-44 signature' : `carries an ML-DSA-44 signature by key ${second.keyid.slice(0, 16)}…, not by the pinned one`;
    throw new VerificationError('STATEMENT_PQ_SIGNATURE_ERROR', 'statement', `the statement ${what} (${key.name}, ${pinnedId.slice(0, 16)}…), which the hybrid policy requires`, { ...at, field: second === undefined ? 'envelope.signatures' : `${field}.keyid` });
  }
  if (!verifyEnvelopeSignatureAt(envelope, 1, 'ml-dsa-44', key.publicKey, crypto)) {
    throw new VerificationError('STATEMENT_PQ_SIGNATURE_ERROR', 'statement', `the statement's ML-DSA-44 signature by ${key.name} (${pinnedId.slice(0, 16)}…) does not verify`, { ...at, field: `${field}.sig` });
  }
  return ['Ed25519', 'ML-DSA-44'];
}

export interface VerifierPageReport {
  /** The page the statement names, by SHA-256 (hex); null when the ledger had none to write. */
  readonly sha256: string | null;
  /** Whether a page file was given and compared: its digest is then the one above. */
  readonly checked: boolean;
}

/** The page named by a v3 predicate, compared with the page file when one is given (VERIFIER_PAGE_MISMATCH). */
export function checkVerifierPage(recorded: { readonly sha256: string } | null | undefined, page: Uint8Array | undefined, at: FailureLocation, crypto: CryptoBackend): VerifierPageReport {
  const sha256 = recorded?.sha256 ?? null;
  if (page === undefined) return { sha256, checked: false };
  const actual = toHex(crypto.sha256(page));
  if (sha256 === null) throw new VerificationError('VERIFIER_PAGE_MISMATCH', 'statement', `a verifier page was given (sha256 ${actual.slice(0, 16)}…), but the signed statement names none`, { ...at, field: 'statement.predicate.verifierPage' });
  if (actual !== sha256) throw new VerificationError('VERIFIER_PAGE_MISMATCH', 'statement', `the verifier page given hashes to ${actual.slice(0, 16)}…, the signed statement names ${sha256.slice(0, 16)}…: it is not the page the ledger wrote next to this export`, { ...at, field: 'statement.predicate.verifierPage.sha256' });
  return { sha256, checked: true };
}
