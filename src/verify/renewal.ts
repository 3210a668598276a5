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
import { fromBase64 } from '../crypto/encoding.ts';
import type { NoteKey } from '../tlog/note.ts';
import { verifyMlDsaLine, type MlDsaNoteKey } from '../tlog/ml-dsa-note.ts';
import { VerificationError } from './errors.ts';
import { verifyProvenance, type ProvenanceReport, type StepReport } from './provenance.ts';
import { verifyCheckpointConsistency } from './consistency.ts';
import { checkCheckpointSignatures, type SignatureAlgorithm } from './signature-policy.ts';

export const RENEWAL_FORMAT = 'flashtrail.renewal.v1';

export interface RenewalBundle {
  readonly format: typeof RENEWAL_FORMAT;
  readonly evidence: unknown;
  readonly checkpoint: string;
  readonly consistency: string[];
}

export interface RenewalReport {
  readonly format: typeof RENEWAL_FORMAT;
  /** The evidence, verified as it was made (its own checkpoint's signatures). */
  readonly evidence: ProvenanceReport;
  /** The newer checkpoint that covers it: "covered by checkpoint N of DATE, ML-DSA-44 + Ed25519". */
  readonly renewed: { readonly size: number; readonly signedAt: string; readonly signatures: SignatureAlgorithm[]; readonly statement: string };
  readonly steps: StepReport[];
}

function parseBundle(input: unknown): RenewalBundle {
  const b = input as Partial<RenewalBundle> | null;
  if (b === null || typeof b !== 'object' || Array.isArray(b) || b.format !== RENEWAL_FORMAT) throw new VerificationError('FORMAT_ERROR', 'format', `not a ${RENEWAL_FORMAT} bundle`, { field: 'format' });
  const unknown = Object.keys(b).filter((k) => !['format', 'evidence', 'checkpoint', 'consistency'].includes(k));
  if (unknown.length > 0) throw new VerificationError('FORMAT_ERROR', 'format', `unknown member ${unknown[0] as string}`, { field: unknown[0] as string });
  if (typeof b.checkpoint !== 'string' || b.checkpoint.length > 16_384) throw new VerificationError('FORMAT_ERROR', 'format', 'checkpoint must be a signed note of at most 16,384 characters', { field: 'checkpoint' });
  if (!Array.isArray(b.consistency) || b.consistency.length > 64 || !b.consistency.every((h) => typeof h === 'string')) throw new VerificationError('FORMAT_ERROR', 'format', 'consistency must be an array of at most 64 base64 hashes', { field: 'consistency' });
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
  const signatures = (() => {
    try {
      return checkCheckpointSignatures(bundle.checkpoint, { mlDsaKey, require: 'hybrid' }, crypto);
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
  const evidenceNote = (bundle.evidence as { checkpoint: string }).checkpoint;
  const consistency = (() => {
    try {
      return verifyCheckpointConsistency(evidenceNote, bundle.checkpoint, hashes, ledgerKey, crypto);
    } catch (error) {
      if (error instanceof VerificationError) throw new VerificationError(error.code, 'consistency', error.message, at(error.code === 'CONSISTENCY_PROOF_ERROR' ? 'consistency' : 'checkpoint'));
      throw error;
    }
  })();
  const line = verifyMlDsaLine(bundle.checkpoint, mlDsaKey, crypto);
  const signedAt = new Date((line.found ? line.timestamp : 0) * 1000).toISOString();
  const statement = `covered by checkpoint ${consistency.to.size} of ${signedAt.slice(0, 10)}, ${[...signatures].reverse().join(' + ')}`;
  steps.push({ step: 'renewal checkpoint', detail: `checkpoint ${consistency.to.size} signed with ${signatures.join(' + ')} at ${signedAt}` });
  steps.push({ step: 'consistency', detail: `tree ${consistency.to.size} extends tree ${consistency.from.size} (RFC 9162 §2.1.4.2): renewed, ${statement}` });
  return { format: RENEWAL_FORMAT, evidence, renewed: { size: consistency.to.size, signedAt, signatures, statement }, steps };
}
