/**
 * Renewal instead of re-signing (RFC 4998's idea, for a Merkle log): evidence proved against an older
 * checkpoint, perhaps signed with Ed25519 alone, is extended to a newer checkpoint signed with Ed25519 and
 * ML-DSA-44, by the consistency proof between the two. Everything under the old checkpoint is then protected
 * by SHA-256 (which quantum computers do not break) up to a root the post-quantum signature fixes: a later
 * forgery of an Ed25519 signature cannot add to or change that history.
 *
 * A renewal bundle (`flashtrail.renewal.v1`, docs/format.md §14) is
 *   { "format": "flashtrail.renewal.v1", "evidence": <provenance document>, "checkpoint": <newer note>,
 *     "consistency": [<base64 hash>, …] }
 * and verifies in named steps: the evidence as it is (classical signatures accepted), the newer checkpoint
 * under the hybrid policy, and the consistency proof from the evidence's checkpoint to it.
 */
import type { CryptoBackend } from '../crypto/backend.ts';
import { portableCrypto } from '../crypto/backend.ts';
import { bytesEqual, fromBase64 } from '../crypto/encoding.ts';
import { parseNote, type NoteKey } from '../tlog/note.ts';
import { verifyMlDsaLine, type MlDsaNoteKey } from '../tlog/ml-dsa-note.ts';
import { VerificationError } from './errors.ts';
import { checkCheckpoint, verifyProvenance, type ProvenanceReport, type StepReport } from './provenance.ts';
import { verifyConsistency } from '../merkle/proofs.ts';
import { parseCheckpointBody } from '../tlog/checkpoint.ts';
import { checkRotationInclusions, checkRotationShapes, followRotationRecords, type RotationRecord } from './rotation-records.ts';
import { checkCheckpointSignatures, type SignatureAlgorithm } from './signature-policy.ts';
import { followMlDsaKeyChain, mlDsaChainDetail } from './ledger-keys.ts';

/** The current bundle format: v1 and the rotation records that take the pinned key to the checkpoint's (§14). */
export const RENEWAL_FORMAT = 'flashtrail.renewal.v2';
export const RENEWAL_FORMAT_V1 = 'flashtrail.renewal.v1';
const RENEWAL_FORMATS: readonly string[] = [RENEWAL_FORMAT_V1, RENEWAL_FORMAT];

/** Whether a parsed JSON document names a renewal bundle format (either version): how verifiers dispatch. */
export function isRenewalBundle(doc: unknown): boolean {
  const format = (doc as { format?: unknown } | null)?.format;
  return typeof format === 'string' && RENEWAL_FORMATS.includes(format);
}

/** A LedgerKeyRotated record of the renewal checkpoint's tree, with its tlog-proof (§6.3) against that checkpoint. */
export type RenewalRotation = RotationRecord;

export interface RenewalBundle {
  readonly format: typeof RENEWAL_FORMAT | typeof RENEWAL_FORMAT_V1;
  readonly evidence: unknown;
  readonly checkpoint: string;
  readonly consistency: string[];
  /** v2: every LedgerKeyRotated of the checkpoint's tree, in leaf order (none when the key never changed). */
  readonly rotations?: RenewalRotation[];
}


export interface RenewalReport {
  readonly format: RenewalBundle['format'];
  /** The evidence, verified as it was made (its own checkpoint's signatures). */
  readonly evidence: ProvenanceReport;
  /** The newer checkpoint that covers it: "covered by checkpoint N of DATE, ML-DSA-44 + Ed25519". */
  readonly renewed: { readonly size: number; readonly signedAt: string; readonly signatures: SignatureAlgorithm[]; readonly statement: string };
  readonly steps: StepReport[];
}

function parseBundle(input: unknown): RenewalBundle {
  const b = input as Partial<RenewalBundle> | null;
  if (b === null || typeof b !== 'object' || Array.isArray(b) || typeof b.format !== 'string' || !RENEWAL_FORMATS.includes(b.format)) throw new VerificationError('FORMAT_ERROR', 'format', `not a renewal bundle (${RENEWAL_FORMATS.join(' or ')})`, { field: 'format' });
  const v2 = b.format === RENEWAL_FORMAT;
  const unknown = Object.keys(b).filter((k) => !['format', 'evidence', 'checkpoint', 'consistency', ...(v2 ? ['rotations'] : [])].includes(k));
  if (unknown.length > 0) throw new VerificationError('FORMAT_ERROR', 'format', `unknown member ${unknown[0] as string}`, { field: unknown[0] as string });
  if (typeof b.checkpoint !== 'string' || b.checkpoint.length > 16_384) throw new VerificationError('FORMAT_ERROR', 'format', 'checkpoint must be a signed note of at most 16,384 characters', { field: 'checkpoint' });
  if (!Array.isArray(b.consistency) || b.consistency.length > 64 || !b.consistency.every((h) => typeof h === 'string')) throw new VerificationError('FORMAT_ERROR', 'format', 'consistency must be an array of at most 64 base64 hashes', { field: 'consistency' });
  if (v2) checkRotationShapes(b.rotations);
  return b as RenewalBundle;
}

export function verifyRenewal(input: unknown, ledgerKey: NoteKey, mlDsaKey: MlDsaNoteKey, crypto: CryptoBackend = portableCrypto): RenewalReport {
  const steps: StepReport[] = [];
  const bundle = parseBundle(input);
  steps.push({ step: 'format', detail: `${RENEWAL_FORMAT}: evidence, a newer checkpoint and ${bundle.consistency.length} consistency proof hashes` });

  let evidence: ProvenanceReport;
  try {
    evidence = verifyProvenance(bundle.evidence, ledgerKey, crypto, { mlDsaKey, require: 'classical' });
  } catch (error) {
    if (error instanceof VerificationError) throw new VerificationError(error.code, `evidence: ${error.step}`, error.message, { ...error.location, field: `evidence${error.location.field ? `.${error.location.field}` : ''}` });
    throw error;
  }
  steps.push({ step: 'evidence', detail: `${evidence.format} of ${evidence.serial} verifies on its own, checkpoint ${evidence.checkpoint.size} signed with ${evidence.signatures.join(' + ')}` });

  const at = (field: string) => ({ field });
  // Across a rotation (§5.4): the newer checkpoint is signed by the key in force at its size, which the bundle's
  // rotation records lead to from the pinned key, each link signed by the key it replaces.
  const { decoded: rotations, chain } = followRotationRecords(bundle.rotations ?? [], ledgerKey, crypto);
  // Likewise the ML-DSA-44 line (§5.5.1): signed by the last key of the ML-DSA-44 chain the same records hold,
  // each link signed (ML-DSA-44) by the key it replaces, followed from the pinned ML-DSA-44 key.
  const mlDsaChain = followMlDsaKeyChain(rotations, mlDsaKey, crypto);
  const renewing = (() => {
    try {
      return checkCheckpoint(bundle.checkpoint, chain.signing, crypto);
    } catch (error) {
      if (error instanceof VerificationError) throw new VerificationError(error.code, 'renewal checkpoint', error.message, at('checkpoint'));
      throw error;
    }
  })();
  const signatures = (() => {
    try {
      return checkCheckpointSignatures(bundle.checkpoint, { mlDsaKey: mlDsaChain.signing, require: 'hybrid' }, crypto);
    } catch (error) {
      if (error instanceof VerificationError) throw new VerificationError(error.code, 'renewal checkpoint', error.message, at('checkpoint'));
      throw error;
    }
  })();
  const hashes = bundle.consistency.map((h, i) => {
    try {
      const bytes = fromBase64(h);
      if (bytes.length === 32) return bytes;
    } catch {
      // reported below
    }
    throw new VerificationError('FORMAT_ERROR', 'format', `consistency[${i}] is not base64 of a 32-byte hash`, at(`consistency[${i}]`));
  });
  if (rotations.length > 0) {
    checkRotationInclusions(bundle.rotations ?? [], rotations, chain, bundle.checkpoint, renewing, crypto);
    steps.push({ step: 'ledger-keys', detail: `${chain.rotations.length} rotation(s) of the ledger key in the renewal checkpoint's tree, each signed by the key it replaces, from the pinned ${ledgerKey.name} (${ledgerKey.id}) to ${chain.signing.id}: ${chain.keys.map((k) => `${k.keyId.slice(0, 16)}…`).join(' → ')}` });
    if (mlDsaChain.rotations.length > 0) steps.push({ step: 'ledger-keys', detail: mlDsaChainDetail(mlDsaChain, mlDsaKey) });
  }
  const evidenceNote = (bundle.evidence as { checkpoint: string }).checkpoint;
  // The evidence's checkpoint verified with the key of its time (the evidence step); both trees are now fixed.
  const older = parseCheckpointBody(parseNote(evidenceNote).text);
  const consistency = (() => {
    const evidenceOfFork = { olderCheckpoint: evidenceNote, newerCheckpoint: bundle.checkpoint };
    const refuse = (message: string) => new VerificationError('CONSISTENCY_PROOF_ERROR', 'consistency', message, at('consistency'), evidenceOfFork);
    if (renewing.size < older.size) throw refuse(`the renewal checkpoint's tree (${renewing.size}) is smaller than the evidence's (${older.size})`);
    if (renewing.size === older.size && !bytesEqual(renewing.root, older.root)) throw refuse(`fork: two different trees of size ${older.size}; both signed checkpoints are the evidence`);
    if (!verifyConsistency(older.size, renewing.size, older.root, renewing.root, hashes, crypto)) throw refuse(`tree ${renewing.size} does not extend tree ${older.size}: the log was rewritten between the two checkpoints (or the proof is wrong)`);
    return { from: { size: older.size }, to: { size: renewing.size } };
  })();
  const line = verifyMlDsaLine(bundle.checkpoint, mlDsaChain.signing, crypto);
  const signedAt = new Date((line.found ? line.timestamp : 0) * 1000).toISOString();
  const statement = `covered by checkpoint ${consistency.to.size} of ${signedAt.slice(0, 10)}, ${[...signatures].reverse().join(' + ')}`;
  steps.push({ step: 'renewal checkpoint', detail: `checkpoint ${consistency.to.size} signed with ${signatures.join(' + ')} at ${signedAt}` });
  steps.push({ step: 'consistency', detail: `tree ${consistency.to.size} extends tree ${consistency.from.size} (RFC 9162 §2.1.4.2): renewed, ${statement}` });
  return { format: bundle.format, evidence, renewed: { size: consistency.to.size, signedAt, signatures, statement }, steps };
}
