/**
 * Offline check that a newer checkpoint extends an older one (RFC 9162 §2.1.4.2), and the report of a fork
 * when it does not. Pure.
 *
 * Two checkpoints signed by the same ledger key that cannot both be true (the same size with different roots,
 * or a consistency proof that fails) are a split view: the ledger showed two parties two different logs. That
 * is the one misbehaviour a signed log cannot deny, so the failure carries both signed notes as its evidence.
 */
import { bytesEqual, toHex } from '../crypto/encoding.ts';
import { portableCrypto, type CryptoBackend } from '../crypto/backend.ts';
import type { Hash } from '../merkle/hash.ts';
import { verifyConsistency } from '../merkle/proofs.ts';
import { VerificationError } from './errors.ts';
import type { NoteKey } from '../tlog/note.ts';
import type { WitnessPolicy } from '../tlog/policy.ts';
import { checkCheckpoint, type StepReport } from './provenance.ts';
import { checkWitnesses, witnessStepDetail, type WitnessReport } from './witnesses.ts';

export interface ConsistencyReport {
  readonly origin: string;
  readonly from: { size: number; root: string };
  readonly to: { size: number; root: string };
  readonly steps: StepReport[];
  /** The newer checkpoint's witnesses, when a policy was given. */
  readonly witnesses?: WitnessReport;
}

export function verifyCheckpointConsistency(oldNote: string, newNote: string, proof: readonly Hash[], ledgerKey: NoteKey, crypto: CryptoBackend = portableCrypto, options: { policy?: WitnessPolicy } = {}): ConsistencyReport {
  const steps: StepReport[] = [];
  const older = checkCheckpoint(oldNote, ledgerKey, crypto);
  steps.push({ step: 'old checkpoint', detail: `signed by ${ledgerKey.name}: size ${older.size}` });
  const newer = checkCheckpoint(newNote, ledgerKey, crypto);
  steps.push({ step: 'new checkpoint', detail: `signed by ${ledgerKey.name}: size ${newer.size}` });
  const evidence = { olderCheckpoint: oldNote, newerCheckpoint: newNote };
  if (newer.size === older.size && !bytesEqual(newer.root, older.root)) {
    throw new VerificationError(
      'CONSISTENCY_PROOF_ERROR',
      'consistency',
      `fork: ${ledgerKey.name} signed two different trees of size ${older.size} (roots ${toHex(older.root).slice(0, 16)}… and ${toHex(newer.root).slice(0, 16)}…); both signed checkpoints are the evidence`,
      {},
      evidence,
    );
  }
  if (newer.size < older.size) {
    throw new VerificationError('CONSISTENCY_PROOF_ERROR', 'consistency', `the log shrank from ${older.size} to ${newer.size} leaves: it was truncated or rewritten`, {}, evidence);
  }
  if (!verifyConsistency(older.size, newer.size, older.root, newer.root, proof, crypto)) {
    throw new VerificationError(
      'CONSISTENCY_PROOF_ERROR',
      'consistency',
      `tree ${newer.size} does not extend tree ${older.size}: the log was rewritten between the two checkpoints (or the proof is wrong)`,
      {},
      evidence,
    );
  }
  steps.push({ step: 'consistency', detail: `tree ${newer.size} is an append-only extension of tree ${older.size} (${proof.length} proof hashes)` });
  const witnesses = options.policy ? checkWitnesses(newNote, options.policy, ledgerKey, crypto) : undefined;
  if (witnesses) steps.push({ step: 'witnesses', detail: `new checkpoint: ${witnessStepDetail(witnesses)}` });
  return { origin: older.origin, from: { size: older.size, root: toHex(older.root) }, to: { size: newer.size, root: toHex(newer.root) }, steps, ...(witnesses ? { witnesses } : {}) };
}
