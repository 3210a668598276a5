/**
 * Which of the ledger's signatures a verifier requires on a checkpoint (docs/format.md §5.5):
 *   - hybrid: Ed25519 and ML-DSA-44 both, the default once the verifier pins the ledger's ML-DSA-44 key — the
 *     rule for evidence made after the ledger announced that key (LedgerKeyAnnounced);
 *   - classical: Ed25519 alone suffices, for evidence made before (an ML-DSA-44 line by the pinned key, when
 *     present, must still verify: a known key's failing signature rejects the note, as signed-note says).
 * The Ed25519 signature is checked by checkCheckpoint; this step adds the post-quantum one and says which
 * algorithms verified.
 */
import type { CryptoBackend } from '../crypto/backend.ts';
import { NoteError } from '../tlog/note.ts';
import { verifyMlDsaLine, type MlDsaNoteKey } from '../tlog/ml-dsa-note.ts';
import { VerificationError } from './errors.ts';

export type SignatureAlgorithm = 'Ed25519' | 'ML-DSA-44';

export interface SignaturePolicy {
  /** The ledger's pinned ML-DSA-44 verifier key (C2SP vkey type 0x06). */
  readonly mlDsaKey?: MlDsaNoteKey | null;
  /** Default: 'hybrid' when an ML-DSA-44 key is pinned, else 'classical'. */
  readonly require?: 'hybrid' | 'classical';
}

export function requiredSignatures(policy: SignaturePolicy | undefined): 'hybrid' | 'classical' {
  return policy?.require ?? (policy?.mlDsaKey ? 'hybrid' : 'classical');
}

/** Checks the checkpoint's ML-DSA-44 line against the policy; the algorithms whose signatures verified. */
export function checkCheckpointSignatures(note: string, policy: SignaturePolicy | undefined, crypto: CryptoBackend): SignatureAlgorithm[] {
  const required = requiredSignatures(policy);
  const key = policy?.mlDsaKey ?? null;
  if (!key) {
    if (required === 'hybrid') throw new VerificationError('LEDGER_KEY_ERROR', 'checkpoint', 'the hybrid signature policy needs the ledger\'s ML-DSA-44 verifier key', { field: 'checkpoint' });
    return ['Ed25519'];
  }
  let verdict;
  try {
    verdict = verifyMlDsaLine(note, key, crypto);
  } catch (error) {
    if (!(error instanceof NoteError)) throw error;
    throw new VerificationError('CHECKPOINT_PQ_SIGNATURE_ERROR', 'checkpoint', `the checkpoint's ML-DSA-44 signature cannot be read: ${error.message}`, { field: 'checkpoint' });
  }
  if (!verdict.found) {
    if (required === 'hybrid') throw new VerificationError('CHECKPOINT_PQ_SIGNATURE_ERROR', 'checkpoint', `the checkpoint carries no ML-DSA-44 signature by ${key.name} (${key.id}), which the hybrid policy requires (evidence from before the key was announced: verify with the classical policy, or renew it)`, { field: 'checkpoint' });
    return ['Ed25519'];
  }
  if (!verdict.valid) throw new VerificationError('CHECKPOINT_PQ_SIGNATURE_ERROR', 'checkpoint', `the checkpoint's ML-DSA-44 signature by ${key.name} (${key.id}) does not verify`, { field: 'checkpoint' });
  return ['Ed25519', 'ML-DSA-44'];
}
