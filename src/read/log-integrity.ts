/**
 * What the ledger checks at every start, before it serves anything: that the event store still holds what
 * the Merkle log hashed, and that the Merkle log still has the root of the newest checkpoint it signed.
 * An insider with write access to the data directory can drop the append-only triggers and edit, delete or
 * insert rows of events.sqlite; the server must not then serve the changed history as if nothing happened.
 *
 *   1. recent leaves: the newest N leaves (FLASHTRAIL_START_CHECK_LEAVES, 10,000 by default) are compared,
 *      in lockstep, with the events at their $all positions: an event changed, deleted or inserted among
 *      them is found, at the first position where the two differ. Older leaves are vouched for by step 2
 *      only as far as the Merkle log file itself is intact; N = the log's size checks everything.
 *   2. the newest signed checkpoint, as recorded in the append-only `ledger-checkpoints` stream: its note
 *      must verify with the ledger key, and the Merkle log (caught up with the event store) must have its
 *      root at its size. With merkle.sqlite deleted, the log is re-derived from the event store first, so
 *      this checks every event the checkpoint covers.
 *
 * Either failure stops the start with one line naming the first diverging leaf and $all position (or the
 * range of leaves it lies in, bounded by signed checkpoints, when no intact copy of the old leaves is left).
 */
import type { EventStore, RecordedEvent } from '../store/event-store.ts';
import type { CryptoBackend } from '../crypto/backend.ts';
import { leafHash } from '../merkle/hash.ts';
import { bytesEqual, fromHex, toHex } from '../crypto/encoding.ts';
import { LEDGER_CHECKPOINT_STREAM } from '../event/streams.ts';
import { decodeTrustedEnvelope } from '../event/codec.ts';
import { verifyNote, type NoteKey } from '../tlog/note.ts';
import { parseCheckpointBody } from '../tlog/checkpoint.ts';
import type { MerkleLog } from './merkle-log.ts';

/** The event store and the Merkle log (or a signed checkpoint) disagree. Nothing was served. */
export class LogIntegrityError extends Error {
  override readonly name = 'LogIntegrityError';
  constructor(
    message: string,
    /** The first leaf where they differ, when known. */
    readonly leafIndex: number | null,
    /** Its $all position, when known. */
    readonly position: bigint | null,
  ) {
    super(message);
  }
}

const REMEDY = 'the ledger will not serve it; compare events.sqlite with your backup (flashtrail projections rebuild names the first diverging leaf)';

/** Step 1: the newest `recent` leaves against the events at their positions. Returns how many were compared. */
export async function checkRecentLeaves(store: EventStore, log: MerkleLog, recent: number, crypto: CryptoBackend): Promise<number> {
  const size = log.size;
  const from = Math.max(0, size - Math.max(0, Math.floor(recent)));
  const mismatch = await firstMismatch(store, log, from, size, crypto);
  if (mismatch) throw mismatch;
  return size - from;
}

/** The first leaf in [from, to) whose event the store no longer holds as it was hashed, or null. */
async function firstMismatch(store: EventStore, log: MerkleLog, from: number, to: number, crypto: CryptoBackend): Promise<LogIntegrityError | null> {
  if (from >= to) return null;
  let after = from === 0 ? -1n : (log.leavesFrom(from - 1, 1)[0]?.position ?? -1n);
  let index = from;
  while (index < to) {
    const count = Math.min(2000, to - index);
    const leaves = log.leavesFrom(index, count);
    // One more event than leaves: an event inserted just before the next leaf shows as a position mismatch.
    const events = await store.readAll({ after, maxCount: count });
    for (const leaf of leaves) {
      const event: RecordedEvent | undefined = events[leaf.index - index];
      if (event === undefined) {
        return new LogIntegrityError(`leaf ${leaf.index} of the Merkle log is the event at $all position ${leaf.position}, which the event store no longer holds (deleted): ${REMEDY}`, leaf.index, leaf.position);
      }
      if (event.position < leaf.position) {
        return new LogIntegrityError(`the event store holds an event at $all position ${event.position} (${event.stream}) that the Merkle log never hashed, before leaf ${leaf.index} (position ${leaf.position}): an event was inserted; ${REMEDY}`, leaf.index, event.position);
      }
      if (event.position > leaf.position) {
        return new LogIntegrityError(`leaf ${leaf.index} of the Merkle log is the event at $all position ${leaf.position}, which the event store no longer holds (deleted; the next event is at ${event.position}): ${REMEDY}`, leaf.index, leaf.position);
      }
      if (!bytesEqual(leafHash(event.data, crypto), log.leafHashAt(leaf.index))) {
        return new LogIntegrityError(`the event at $all position ${event.position} (${event.stream}, revision ${event.revision}) is not the one leaf ${leaf.index} of the Merkle log hashed (changed): ${REMEDY}`, leaf.index, event.position);
      }
    }
    const last = leaves[leaves.length - 1];
    if (last === undefined) break;
    index = last.index + 1;
    after = last.position;
  }
  return null;
}

export interface SignedCheckpointCheck {
  /** Size of the newest recorded checkpoint, or null when the ledger has signed none yet. */
  readonly size: number | null;
}

/**
 * Step 2: the newest CheckpointIssued record against the ledger key and the Merkle log. Call it after the log
 * caught up with the event store.
 */
export async function checkSignedCheckpoint(store: EventStore, log: MerkleLog, ledgerKey: NoteKey | readonly NoteKey[], crypto: CryptoBackend): Promise<SignedCheckpointCheck> {
  const [head] = await store.readStream(LEDGER_CHECKPOINT_STREAM, { direction: 'backwards', maxCount: 1 });
  if (!head) return { size: null };
  const { event } = decodeTrustedEnvelope(head.data, crypto);
  if (event.type !== 'CheckpointIssued') {
    throw new LogIntegrityError(`the newest event of ${LEDGER_CHECKPOINT_STREAM} (position ${head.position}) is ${event.type}, not CheckpointIssued: ${REMEDY}`, null, head.position);
  }
  const { size, rootHash, note } = event.data;
  let body;
  try {
    body = parseCheckpointBody(verifyNote(note, Array.isArray(ledgerKey) ? ledgerKey : [ledgerKey as NoteKey], crypto).text);
  } catch (error) {
    throw new LogIntegrityError(`the newest recorded checkpoint (size ${size}, position ${head.position}) is not a note signed by the ledger key: ${(error as Error).message}`, null, head.position);
  }
  if (body.size !== size || toHex(body.root) !== rootHash) {
    throw new LogIntegrityError(`the newest recorded checkpoint (position ${head.position}) says size ${size}, root ${rootHash}, but its signed note says size ${body.size}, root ${toHex(body.root)}`, null, head.position);
  }
  const table = log.checkpoints().find((c) => c.size === size);
  if (table && !bytesEqual(table.root, body.root)) {
    throw new LogIntegrityError(`checkpoint ${size} has root ${toHex(table.root)} in the Merkle log file but ${rootHash} in the event store: ${REMEDY}`, null, head.position);
  }
  if (log.size < size) {
    const within = await divergenceRange(store, log, crypto, size);
    throw new LogIntegrityError(`the event store holds ${log.size} events, fewer than the ${size} of signed checkpoint ${size}: events were deleted${within.text}; ${REMEDY}`, within.leaf, within.position);
  }
  if (!bytesEqual(log.root(size), body.root)) {
    const within = await divergenceRange(store, log, crypto, size);
    throw new LogIntegrityError(`the Merkle log of the event store no longer has the root of signed checkpoint ${size} (${rootHash})${within.text}; ${REMEDY}`, within.leaf, within.position);
  }
  return { size };
}

/**
 * Where the history first departs from what was signed, on the failure path only (it reads the whole log):
 * the first leaf the event store no longer holds as hashed, if the Merkle log kept the old leaves; otherwise
 * the range between the newest checkpoint still reproduced and the oldest one no longer reproduced.
 */
async function divergenceRange(store: EventStore, log: MerkleLog, crypto: CryptoBackend, signedSize: number): Promise<{ text: string; leaf: number | null; position: bigint | null }> {
  const mismatch = await firstMismatch(store, log, 0, log.size, crypto);
  if (mismatch && mismatch.leafIndex !== null) {
    return { text: `; first diverging leaf: ${mismatch.leafIndex} ($all position ${String(mismatch.position)})`, leaf: mismatch.leafIndex, position: mismatch.position };
  }
  let reproduced = 0;
  let failing = signedSize;
  for (const recorded of await store.readStream(LEDGER_CHECKPOINT_STREAM)) {
    const { event } = decodeTrustedEnvelope(recorded.data, crypto);
    if (event.type !== 'CheckpointIssued') continue;
    const { size, rootHash } = event.data;
    const holds = size <= log.size && bytesEqual(log.root(size), fromHex(rootHash));
    if (holds && size > reproduced && size < failing) reproduced = size;
    if (!holds && size < failing && size > reproduced) failing = size;
  }
  const first = log.leavesFrom(reproduced, 1)[0];
  return { text: `; the first diverging leaf lies in [${reproduced}, ${Math.min(failing, Math.max(log.size, reproduced + 1))})`, leaf: null, position: first?.position ?? null };
}
