/** Offline check that a newer checkpoint extends an older one (RFC 9162 §2.1.4.2). Pure. */
import { toHex } from '../crypto/encoding.ts';
import { portableCrypto, type CryptoBackend } from '../crypto/backend.ts';
import type { Hash } from '../merkle/hash.ts';
import { verifyConsistency } from '../merkle/proofs.ts';
import { VerificationError } from './errors.ts';
import type { NoteKey } from '../tlog/note.ts';
import { checkCheckpoint, type StepReport } from './provenance.ts';

export interface ConsistencyReport {
  readonly origin: string;
  readonly from: { size: number; root: string };
  readonly to: { size: number; root: string };
  readonly steps: StepReport[];
}

export function verifyCheckpointConsistency(oldNote: string, newNote: string, proof: readonly Hash[], ledgerKey: NoteKey, crypto: CryptoBackend = portableCrypto): ConsistencyReport {
  const steps: StepReport[] = [];
  const older = checkCheckpoint(oldNote, ledgerKey, crypto);
  steps.push({ step: 'old checkpoint', detail: `signed by ${ledgerKey.name}: size ${older.size}` });
  const newer = checkCheckpoint(newNote, ledgerKey, crypto);
  steps.push({ step: 'new checkpoint', detail: `signed by ${ledgerKey.name}: size ${newer.size}` });
  if (newer.size < older.size) {
    throw new VerificationError('CONSISTENCY_PROOF_ERROR', 'consistency', `the log shrank from ${older.size} to ${newer.size} leaves: it was truncated or rewritten`);
  }
  if (!verifyConsistency(older.size, newer.size, older.root, newer.root, proof, crypto)) {
    throw new VerificationError(
      'CONSISTENCY_PROOF_ERROR',
      'consistency',
      `tree ${newer.size} does not extend tree ${older.size}: the log was rewritten between the two checkpoints`,
    );
  }
  steps.push({ step: 'consistency', detail: `tree ${newer.size} is an append-only extension of tree ${older.size} (${proof.length} proof hashes)` });
  return { origin: older.origin, from: { size: older.size, root: toHex(older.root) }, to: { size: newer.size, root: toHex(newer.root) }, steps };
}
