/**
 * The C2SP tlog-witness protocol (https://c2sp.org/tlog-witness): the add-checkpoint request body and the
 * witness's decision on it, as pure functions. The Node witness server (src/witness) persists the state this
 * decides and signs; the ledger's witness client formats the request and reads the answer.
 *
 *   POST <submission prefix>/add-checkpoint
 *   old <decimal size>\n
 *   <base64 consistency proof hash>\n       (0 to 63 lines, RFC 6962 §2.1.2, from the old size to the new)
 *   \n
 *   <signed checkpoint note>
 *
 * Statuses, as the spec at HEAD has them (v1.0.0 answered 409 for a same-size fork; a client treats 409
 * without `text/x.tlog.size` like 422):
 *   400 malformed, or old size > checkpoint size · 403 no signature by the log's key verifies (or one by it
 *   fails) · 404 unknown origin · 409 + text/x.tlog.size "<latest size>\n" when old is not the size the
 *   witness last cosigned · 422 a consistency proof that does not verify (a different tree of the same size
 *   among them), a non-empty proof from size 0, a size-0 checkpoint whose root is not SHA-256("").
 */
import { fromBase64, toBase64 } from '../crypto/encoding.ts';
import { portableCrypto, type CryptoBackend } from '../crypto/backend.ts';
import { EMPTY_ROOT, type Hash } from '../merkle/hash.ts';
import { verifyConsistency } from '../merkle/proofs.ts';
import { CheckpointFormatError, parseCheckpointBody, type Checkpoint } from './checkpoint.ts';
import { NoteError, verifyNote, type NoteKey } from './note.ts';

export const TLOG_SIZE_CONTENT_TYPE = 'text/x.tlog.size';
/** Room for a checkpoint with several post-quantum cosignature lines (3.3 kB each); the spec sets no limit. */
export const MAX_ADD_CHECKPOINT_BYTES = 64 * 1024;
const MAX_PROOF_HASHES = 63;

export interface AddCheckpointRequest {
  readonly oldSize: number;
  readonly proof: readonly Hash[];
  /** The signed checkpoint note, verbatim (it may carry other witnesses' cosignatures). */
  readonly checkpoint: string;
}

export class AddCheckpointFormatError extends Error {
  override readonly name = 'AddCheckpointFormatError';
}

export function formatAddCheckpoint(r: AddCheckpointRequest): string {
  return `old ${r.oldSize}\n${r.proof.map((h) => `${toBase64(h)}\n`).join('')}\n${r.checkpoint}`;
}

export function parseAddCheckpoint(body: string): AddCheckpointRequest {
  const split = body.indexOf('\n\n');
  if (split < 0) throw new AddCheckpointFormatError('no blank line between the consistency proof and the checkpoint');
  const head = body.slice(0, split).split('\n');
  const old = /^old (0|[1-9][0-9]*)$/.exec(head[0] ?? '');
  if (!old || !Number.isSafeInteger(Number(old[1]))) throw new AddCheckpointFormatError('the first line must be "old <size>", the size in decimal without leading zeros');
  const hashes = head.slice(1);
  if (hashes.length > MAX_PROOF_HASHES) throw new AddCheckpointFormatError(`a consistency proof has at most ${MAX_PROOF_HASHES} hashes`);
  const proof = hashes.map((line, i) => {
    let h: Uint8Array;
    try {
      h = fromBase64(line);
    } catch {
      throw new AddCheckpointFormatError(`proof line ${i + 1} is not base64`);
    }
    if (h.length !== 32) throw new AddCheckpointFormatError(`proof line ${i + 1} is not a 32-byte hash`);
    return h;
  });
  return { oldSize: Number(old[1]), proof, checkpoint: body.slice(split + 2) };
}

/** What the witness knows of one log: the latest checkpoint it cosigned. */
export interface WitnessedLog {
  readonly size: number;
  readonly root: Hash;
}

export type AddCheckpointDecision =
  | {
      readonly status: 200;
      readonly checkpoint: Checkpoint;
      /** The note text the witness cosigns. */
      readonly body: string;
      /** The signed note as submitted, with whatever signatures it carried. */
      readonly note: string;
      readonly oldSize: number;
      readonly next: WitnessedLog;
    }
  | { readonly status: 400 | 403 | 404 | 422; readonly message: string }
  | { readonly status: 409; readonly latestSize: number; readonly message: string };

/**
 * The witness's answer to an add-checkpoint request. `logKeys` holds the known logs' keys by origin;
 * `stored` is what the witness last cosigned for the origin (null: never, which the spec treats as size 0).
 * The caller must apply `next` atomically with the check (compare-and-set on the stored size) and persist it
 * before it answers 200.
 */
export function decideAddCheckpoint(
  body: string,
  logKeys: ReadonlyMap<string, readonly NoteKey[]>,
  storedFor: (origin: string) => WitnessedLog | null,
  crypto: CryptoBackend = portableCrypto,
  /** Whether a log key may sign a checkpoint of this size (a key replaced by a rotation signs the sizes up to it). */
  keyInForce: (key: NoteKey, size: number) => boolean = () => true,
): AddCheckpointDecision {
  let request: AddCheckpointRequest;
  let checkpoint: Checkpoint;
  let noteText: string;
  let origin: string;
  let verifiedBy: readonly NoteKey[];
  try {
    request = parseAddCheckpoint(body);
    const firstLine = request.checkpoint.slice(0, request.checkpoint.indexOf('\n'));
    origin = firstLine;
  } catch (error) {
    if (error instanceof AddCheckpointFormatError) return { status: 400, message: error.message };
    throw error;
  }
  const keys = logKeys.get(origin);
  if (!keys) return { status: 404, message: `unknown log ${JSON.stringify(origin.slice(0, 200))}` };
  try {
    const verified = verifyNote(request.checkpoint, keys, crypto);
    noteText = verified.text;
    verifiedBy = verified.verifiedBy;
  } catch (error) {
    if (error instanceof NoteError) return { status: 403, message: `the checkpoint is not signed by the log's key: ${error.message}` };
    throw error;
  }
  try {
    checkpoint = parseCheckpointBody(noteText);
  } catch (error) {
    if (error instanceof CheckpointFormatError) return { status: 400, message: `the checkpoint body is malformed: ${error.message}` };
    throw error;
  }
  if (!verifiedBy.some((k) => keyInForce(k, checkpoint.size))) {
    return { status: 403, message: `checkpoint ${checkpoint.size} is signed by ${verifiedBy.map((k) => `${k.name}+${k.id}`).join(', ')}, a key not in force at that size: it was replaced by a rotation (or its successor signs only after the rotation's leaf)` };
  }
  if (request.oldSize > checkpoint.size) return { status: 400, message: `old size ${request.oldSize} is larger than the checkpoint's ${checkpoint.size}` };
  const stored = storedFor(origin) ?? { size: 0, root: EMPTY_ROOT };
  if (request.oldSize !== stored.size) return { status: 409, latestSize: stored.size, message: `the latest checkpoint cosigned for ${origin} has size ${stored.size}, not ${request.oldSize}` };
  if (checkpoint.size === 0 && !rootIs(checkpoint.root, EMPTY_ROOT)) return { status: 422, message: 'a checkpoint of size 0 must have the root SHA-256("")' };
  if (request.oldSize === 0 && request.proof.length > 0) return { status: 422, message: 'a consistency proof from size 0 is empty' };
  if (!verifyConsistency(stored.size, checkpoint.size, stored.root, checkpoint.root, request.proof, crypto)) {
    return {
      status: 422,
      message:
        stored.size === checkpoint.size
          ? `checkpoint ${checkpoint.size} of ${origin} has another root than the checkpoint of the same size this witness cosigned: a split view`
          : `the consistency proof from ${stored.size} to ${checkpoint.size} does not verify: tree ${checkpoint.size} does not extend the tree this witness cosigned`,
    };
  }
  return { status: 200, checkpoint, body: noteText, note: request.checkpoint, oldSize: request.oldSize, next: { size: checkpoint.size, root: checkpoint.root } };
}

function rootIs(a: Hash, b: Hash): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
