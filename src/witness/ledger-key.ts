/**
 * A witness following a rotated ledger key (docs/format.md §5.1.1, a flashtrail extension of C2SP
 * tlog-witness): after `LedgerKeyRotated` A→B the log's checkpoints are signed by B, which the witness, that
 * knows the log by A, refuses (403, as tlog-witness has it for a checkpoint no known key signed). The log then
 * shows it the chain:
 *
 *   POST <submission prefix>/add-ledger-key     Content-Type: application/json
 *   {"checkpoint": "<signed note by the chain's last key>",
 *    "rotations": [{"leafIndex", "envelope", "proof"}, …]}      every LedgerKeyRotated of the checkpoint's tree
 *
 * and the witness learns each key after the one it knows, so that the add-checkpoint the log retries verifies.
 * It cosigns nothing here: the retried add-checkpoint still proves the tree consistent with the one it cosigned.
 * Statuses follow tlog-witness: 400 malformed · 404 unknown origin · 403 the chain does not start at a key this
 * witness knows, a link is not signed by the key it replaces, or the checkpoint is not signed by the chain's
 * last key · 422 a rotation not included in the checkpoint's tree, or one at a leaf before the tree this
 * witness cosigned under the replaced key (that key signed after it was replaced: a fork of the chain).
 */
import type { CryptoBackend } from '../crypto/backend.ts';
import { keyIdOf } from '../crypto/ed25519.ts';
import { formatVerifierKey, parseVerifierKey, type NoteKey } from '../tlog/note.ts';
import type { WitnessedLog } from '../tlog/witness.ts';
import { VerificationError } from '../verify/errors.ts';
import { checkCheckpoint } from '../verify/provenance.ts';
import { checkRotationInclusions, checkRotationShapes, followRotationRecords, type RotationRecord } from '../verify/rotation-records.ts';

/** Room for a few hundred rotation records with their proofs (about 5 kB each). */
export const MAX_ADD_LEDGER_KEY_BYTES = 1024 * 1024;
export const ADD_LEDGER_KEY_PATH = 'add-ledger-key';

export interface AddLedgerKeyRequest {
  readonly checkpoint: string;
  readonly rotations: readonly RotationRecord[];
}

/** A key the witness learns: `verifierKey` signs the log's checkpoints of sizes above `fromLeaf` (its rotation's leaf). */
export interface LearnedLedgerKey {
  readonly verifierKey: string;
  readonly key: NoteKey;
  /** The leaf index of the rotation that introduced it. */
  readonly fromLeaf: number;
  /** The key it replaced, as the witness knew it. */
  readonly replaces: NoteKey;
}

export type AddLedgerKeyDecision =
  | { readonly status: 200; readonly origin: string; readonly size: number; readonly learned: readonly LearnedLedgerKey[] }
  | { readonly status: 400 | 403 | 404 | 422; readonly message: string };

const STATUS_OF: Partial<Record<string, 400 | 403 | 422>> = {
  FORMAT_ERROR: 400,
  SUBJECT_MISMATCH: 400,
  DUPLICATE_ENTRY: 400,
  LEDGER_KEY_ERROR: 403,
  CHECKPOINT_SIGNATURE_ERROR: 403,
  CHECKPOINT_ORIGIN_ERROR: 403,
  SIGNATURE_ERROR: 403,
  KEY_UNKNOWN: 403,
  INCLUSION_PROOF_ERROR: 422,
};

export function parseAddLedgerKey(body: string): AddLedgerKeyRequest {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    throw new VerificationError('FORMAT_ERROR', 'format', 'the request body is not JSON', { field: 'body' });
  }
  const v = value as Partial<AddLedgerKeyRequest> | null;
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new VerificationError('FORMAT_ERROR', 'format', 'the request body must be {"checkpoint", "rotations"}', { field: 'body' });
  const unknown = Object.keys(v).find((k) => k !== 'checkpoint' && k !== 'rotations');
  if (unknown !== undefined) throw new VerificationError('FORMAT_ERROR', 'format', `unknown member ${unknown}`, { field: unknown });
  if (typeof v.checkpoint !== 'string' || v.checkpoint.length > 16_384) throw new VerificationError('FORMAT_ERROR', 'format', 'checkpoint must be a signed note of at most 16,384 characters', { field: 'checkpoint' });
  const rotations = checkRotationShapes(v.rotations);
  if (rotations.length === 0) throw new VerificationError('FORMAT_ERROR', 'format', 'rotations is empty: there is no key to learn', { field: 'rotations' });
  return { checkpoint: v.checkpoint, rotations };
}

/**
 * The witness's answer. `known` are the keys it holds for the log (any of them may be where the chain starts;
 * the newest is tried first); `stored` what it last cosigned. Pure apart from the caller persisting `learned`.
 */
export function decideAddLedgerKey(body: string, logKeys: ReadonlyMap<string, readonly NoteKey[]>, storedFor: (origin: string) => WitnessedLog | null, crypto: CryptoBackend): AddLedgerKeyDecision {
  let request: AddLedgerKeyRequest;
  try {
    request = parseAddLedgerKey(body);
  } catch (error) {
    if (error instanceof VerificationError) return { status: 400, message: `${error.location.field ?? 'body'}: ${error.message}` };
    throw error;
  }
  const origin = request.checkpoint.slice(0, Math.max(0, request.checkpoint.indexOf('\n')));
  const known = logKeys.get(origin);
  if (!known) return { status: 404, message: `unknown log ${JSON.stringify(origin.slice(0, 200))}` };
  let lastError: VerificationError | null = null;
  for (const pinned of [...known].reverse()) {
    try {
      const { decoded, chain } = followRotationRecords(request.rotations, pinned, crypto, 'rotations', 'an add-ledger-key request');
      const checkpoint = checkCheckpoint(request.checkpoint, chain.signing, crypto);
      checkRotationInclusions(request.rotations, decoded, chain, request.checkpoint, checkpoint, crypto);
      const knownIds = new Set(known.map((k) => keyIdOf(k.publicKey)));
      const stored = storedFor(origin);
      const learned: LearnedLedgerKey[] = [];
      chain.keys.forEach((k, i) => {
        if (i === 0 || knownIds.has(k.keyId)) return;
        const leaf = chain.rotations[i - 1] as number;
        const previous = chain.keys[i - 1] as { publicKey: Uint8Array };
        const replaces = known.find((n) => keyIdOf(n.publicKey) === keyIdOf(previous.publicKey)) ?? learned[learned.length - 1]?.key;
        if (replaces === undefined) return;
        const verifierKey = formatVerifierKey(origin, k.publicKey);
        learned.push({ verifierKey, key: parseVerifierKey(verifierKey), fromLeaf: leaf, replaces });
      });
      const early = learned.find((l) => stored !== null && knownIds.has(keyIdOf(l.replaces.publicKey)) && l.fromLeaf < stored.size);
      if (early && stored) {
        return { status: 422, message: `the rotation to ${early.key.id} is at leaf ${early.fromLeaf}, inside the tree of ${stored.size} leaves this witness cosigned under the key it replaces: that key signed after it was replaced` };
      }
      return { status: 200, origin, size: checkpoint.size, learned };
    } catch (error) {
      if (!(error instanceof VerificationError)) throw error;
      lastError = error;
      // A chain that does not hold this key may hold an older one the witness also knows.
      if (error.code === 'LEDGER_KEY_ERROR' && / is not in the file's chain of ledger keys /.test(error.message)) continue;
      break;
    }
  }
  const e = lastError as VerificationError;
  const where = e.location.field ?? e.step;
  return { status: STATUS_OF[e.code] ?? 400, message: `${e.code} at ${where}: ${e.message}` };
}
