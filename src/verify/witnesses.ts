/**
 * The witness step of every verification pipeline (docs/format.md §5.2): the checkpoint's cosignatures by the
 * witnesses a policy trusts, verified (C2SP tlog-cosignature v1), and the policy's quorum met. A checkpoint
 * below quorum is evidence the ledger signed, not evidence that it was published: others may have been shown
 * another tree of the same size. Pure.
 */
import { portableCrypto, type CryptoBackend } from '../crypto/backend.ts';
import { bytesEqual } from '../crypto/encoding.ts';
import { CosignatureError, verifyCosignatures } from '../tlog/cosignature.ts';
import { describeQuorum, quorumMet, type WitnessPolicy } from '../tlog/policy.ts';
import type { NoteKey } from '../tlog/note.ts';
import { VerificationError, type FailureLocation } from './errors.ts';

export interface WitnessReport {
  /** The quorum in words: `2 of [w1, w2, w3]`. */
  readonly quorum: string;
  /** Each trusted witness whose cosignature verified, by its policy name, and when it cosigned (ISO 8601). */
  readonly cosignedBy: { witness: string; keyName: string; cosignedAt: string }[];
}

/**
 * Verifies the cosignatures on `note` against the policy and requires its quorum. A cosignature by a trusted
 * key that does not verify is a forgery and fails the checkpoint (CHECKPOINT_SIGNATURE_ERROR), as signed-note
 * asks; too few valid ones fail with WITNESS_QUORUM_NOT_MET.
 */
export function checkWitnesses(
  note: string,
  policy: WitnessPolicy,
  ledgerKey: NoteKey,
  crypto: CryptoBackend = portableCrypto,
  at: FailureLocation = { field: 'checkpoint' },
  chainKeys: readonly { readonly publicKey: Uint8Array }[] = [],
): WitnessReport {
  // The policy names the log by a key; after a rotation (§5.4) that may be any key of the chain the verifier
  // followed from its pinned key, not only the one that signs this checkpoint: a policy written before the
  // rotation still names the same log.
  const namesTheLog = (key: NoteKey) => key.name === ledgerKey.name && (key.id === ledgerKey.id || chainKeys.some((k) => bytesEqual(k.publicKey, key.publicKey)));
  if (policy.logs.length > 0 && !policy.logs.some((l) => namesTheLog(l.key))) {
    const chain = chainKeys.length > 1 ? ` or any of the ${chainKeys.length} keys of its chain of rotations` : '';
    throw new VerificationError('LEDGER_KEY_ERROR', 'witnesses', `the witness policy names the logs ${policy.logs.map((l) => `${l.key.name}+${l.key.id}`).join(', ')}, not the ledger key ${ledgerKey.name}+${ledgerKey.id}${chain}`, at);
  }
  let verified;
  try {
    verified = verifyCosignatures(note, policy.witnesses.map((w) => w.key), crypto);
  } catch (error) {
    if (!(error instanceof CosignatureError)) throw error;
    throw new VerificationError('CHECKPOINT_SIGNATURE_ERROR', 'witnesses', `a witness cosignature on the checkpoint is invalid: ${error.message}`, at);
  }
  const cosignedBy = policy.witnesses.flatMap((w) => {
    const c = verified.find((v) => v.name === w.key.name && v.id === w.key.id);
    return c ? [{ witness: w.name, keyName: w.key.name, cosignedAt: new Date(c.timestamp * 1000).toISOString() }] : [];
  });
  const quorum = describeQuorum(policy);
  if (!quorumMet(policy, new Set(cosignedBy.map((c) => c.witness)))) {
    const missing = policy.witnesses.filter((w) => !cosignedBy.some((c) => c.witness === w.name)).map((w) => w.name);
    throw new VerificationError(
      'WITNESS_QUORUM_NOT_MET',
      'witnesses',
      `the checkpoint is cosigned by ${cosignedBy.length === 0 ? 'no trusted witness' : cosignedBy.map((c) => c.witness).join(', ')}; the policy requires ${quorum} (no valid cosignature by ${missing.join(', ') || '-'})`,
      at,
    );
  }
  return { quorum, cosignedBy };
}

export function witnessStepDetail(report: WitnessReport): string {
  return report.cosignedBy.length === 0 ? `quorum ${report.quorum}: no cosignature required` : `quorum ${report.quorum} met: cosigned by ${report.cosignedBy.map((c) => `${c.witness} at ${c.cosignedAt}`).join(', ')}`;
}
