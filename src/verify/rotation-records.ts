/**
 * LedgerKeyRotated records carried with their tlog-proofs against a checkpoint (docs/format.md §5.4): the
 * `rotations` of a renewal bundle (§14) and of a witness's add-ledger-key request (§5.1.1). One home for
 * reading them: decoded as entries, in strictly ascending leaf order, the chain followed from a pinned key,
 * and each proved included in the checkpoint the chain's last key signed. Pure: no Node-only APIs.
 */
import type { CryptoBackend } from '../crypto/backend.ts';
import type { Checkpoint } from '../tlog/checkpoint.ts';
import type { NoteKey } from '../tlog/note.ts';
import { followLedgerKeyChain, type LedgerKeyChain } from './ledger-keys.ts';
import { tlogProofHashes } from './provenance.ts';
import { checkInclusions, decodeEntry, fail, type Decoded } from './steps.ts';
import { VerificationError } from './errors.ts';

/** A LedgerKeyRotated record with its tlog-proof (§6.3) against the checkpoint it travels with. */
export interface RotationRecord {
  readonly leafIndex: number;
  readonly envelope: unknown;
  readonly proof: string;
}

/** At most this many rotation records: a key rotated monthly for 80 years. */
export const MAX_ROTATIONS = 1000;

/** Shape only (FORMAT_ERROR naming `<field>[i]`): {leafIndex, envelope, proof}, at most MAX_ROTATIONS. */
export function checkRotationShapes(r: unknown, field = 'rotations'): RotationRecord[] {
  if (!Array.isArray(r) || r.length > MAX_ROTATIONS) throw new VerificationError('FORMAT_ERROR', 'format', `${field} must be an array of at most ${MAX_ROTATIONS} records`, { field });
  r.forEach((e: unknown, i) => {
    const entry = e as Partial<RotationRecord> | null;
    const ok = entry !== null && typeof entry === 'object' && !Array.isArray(entry) && Object.keys(entry).every((k) => ['leafIndex', 'envelope', 'proof'].includes(k))
      && Number.isSafeInteger(entry.leafIndex) && (entry.leafIndex as number) >= 0 && typeof entry.proof === 'string' && entry.proof.length <= 16_384 + 4096;
    if (!ok) throw new VerificationError('FORMAT_ERROR', 'format', `${field}[${i}] must be {leafIndex, envelope, proof} (a tlog-proof against the checkpoint it comes with)`, { field: `${field}[${i}]` });
  });
  return r as RotationRecord[];
}

/**
 * Decodes the records (another event type → SUBJECT_MISMATCH, leaf order → DUPLICATE_ENTRY / FORMAT_ERROR) and
 * follows their chain from `pinned` (§5.4 → FORMAT_ERROR / LEDGER_KEY_ERROR). The checkpoint is not read here:
 * the caller verifies it with `chain.signing`, then calls checkRotationInclusions.
 */
export function followRotationRecords(records: readonly RotationRecord[], pinned: NoteKey, crypto: CryptoBackend, field = 'rotations', kind = 'a renewal bundle'): { decoded: Decoded[]; chain: LedgerKeyChain } {
  const decoded = records.map((r, i) => decodeEntry('trust', r.leafIndex, r.envelope, i, { field: `${field}[${i}]` }, crypto));
  const wrong = decoded.find((d) => d.event.type !== 'LedgerKeyRotated');
  if (wrong) throw fail('SUBJECT_MISMATCH', 'ledger-keys', wrong, `${kind}'s ${field} are LedgerKeyRotated records, not ${wrong.event.type}`);
  decoded.forEach((d, i) => {
    const before = decoded[i - 1];
    if (before && before.leafIndex >= d.leafIndex) throw fail(before.leafIndex === d.leafIndex ? 'DUPLICATE_ENTRY' : 'FORMAT_ERROR', 'ledger-keys', d, `${field} must be in strictly ascending leaf order`);
  });
  return { decoded, chain: followLedgerKeyChain(decoded, pinned, crypto) };
}

/** Every record included in `checkpoint` (the note `note`, already verified): §8.1 step 4 at `<field>[i]`. */
export function checkRotationInclusions(records: readonly RotationRecord[], decoded: readonly Decoded[], chain: LedgerKeyChain, note: string, checkpoint: Checkpoint, crypto: CryptoBackend): void {
  if (decoded.length === 0) return;
  checkInclusions(
    decoded.map((d, i) => ({ d, proof: tlogProofHashes(d, (records[i] as RotationRecord).proof, note, true) })),
    checkpoint,
    crypto,
    (d) => chain.keys.find((k) => k.keyId === d.keyId)?.publicKey ?? null,
    'ledger-keys',
  );
}
