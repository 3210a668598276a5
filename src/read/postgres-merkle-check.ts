/**
 * `projections rebuild` on PostgreSQL: the shared Merkle log is append-only and extended by the running log
 * writer, so it is not replaced; it is checked. The event log is replayed into a compact range (the right
 * edge of the tree, O(log n) memory), and at every signed checkpoint's size (from the log's checkpoint
 * table and from the CheckpointIssued events) and at the shared log's own size, the replayed root must be
 * the recorded one; the shared log's leaves must name the events' positions in order. The first leaf or
 * checkpoint that differs is reported.
 */
import type { PostgresEventStore } from '../store/postgres.ts';
import { LEDGER_CHECKPOINT_STREAM } from '../event/streams.ts';
import { decodeTrustedEnvelope } from '../event/codec.ts';
import { bytesEqual, fromHex, toHex } from '../crypto/encoding.ts';
import { leafHash, nodeHash, EMPTY_ROOT, type Hash } from '../merkle/hash.ts';
import type { CryptoBackend } from '../crypto/backend.ts';
import { nativeCrypto } from '../native/crypto.ts';
import { PostgresMerkleLog } from './postgres-merkle-log.ts';

export type SharedLogCheck =
  | { readonly ok: true; readonly size: number; readonly root: string; readonly eventsReplayed: number; readonly checkpointsReproduced: number }
  | { readonly ok: false; readonly reason: string };

/** The right edge of a Merkle tree: its perfect subtrees, largest first. */
class CompactRange {
  private readonly subtrees: { size: number; hash: Hash }[] = [];
  size = 0;
  constructor(private readonly crypto: CryptoBackend) {}

  append(leaf: Hash): void {
    let node = { size: 1, hash: leaf };
    for (let top = this.subtrees.at(-1); top && top.size === node.size; top = this.subtrees.at(-1)) {
      this.subtrees.pop();
      node = { size: node.size * 2, hash: nodeHash(top.hash, node.hash, this.crypto) };
    }
    this.subtrees.push(node);
    this.size++;
  }

  root(): Hash {
    if (this.subtrees.length === 0) return EMPTY_ROOT;
    let root = (this.subtrees.at(-1) as { hash: Hash }).hash;
    for (let i = this.subtrees.length - 2; i >= 0; i--) root = nodeHash((this.subtrees[i] as { hash: Hash }).hash, root, this.crypto);
    return root;
  }
}

export async function checkSharedMerkleLog(store: PostgresEventStore, crypto: CryptoBackend = nativeCrypto): Promise<SharedLogCheck> {
  const log = new PostgresMerkleLog(store, { crypto });
  const logSize = await log.size();
  const expected = new Map<number, { root: Hash; where: string }[]>();
  const expect = (size: number, root: Hash, where: string) => expected.set(size, [...(expected.get(size) ?? []), { root, where }]);
  for (const c of await log.checkpoints()) expect(c.size, c.root, `signed checkpoint ${c.size} (Merkle log table)`);
  for (const recorded of await store.readStream(LEDGER_CHECKPOINT_STREAM)) {
    const { event } = decodeTrustedEnvelope(recorded.data, crypto);
    if (event.type === 'CheckpointIssued') expect(event.data.size, fromHex(event.data.rootHash), `signed checkpoint ${event.data.size} (CheckpointIssued)`);
  }
  const range = new CompactRange(crypto);
  let reproduced = 0;
  const checkAt = async (size: number): Promise<string | null> => {
    for (const e of expected.get(size) ?? []) {
      if (!bytesEqual(range.root(), e.root)) return `the event log no longer reproduces ${e.where}: its root at that size is ${toHex(range.root())}, not ${toHex(e.root)}`;
      reproduced++;
    }
    if (size === logSize && size > 0 && !bytesEqual(range.root(), await log.root(size))) return `the shared Merkle log's root at its size ${size} is not the root of the event log's first ${size} events`;
    return null;
  };
  const empty = await checkAt(0);
  if (empty) return { ok: false, reason: empty };
  for (let after = -1n; ; ) {
    const events = await store.readAll({ after, maxCount: 5000 });
    if (events.length === 0) break;
    const leaves = await log.leavesOfPositions(events.map((e) => e.position));
    for (const e of events) {
      const leaf = leaves.get(e.position);
      if (range.size < logSize && leaf?.index !== range.size) return { ok: false, reason: `leaf ${range.size} of the shared Merkle log does not hold the event at position ${e.position}` };
      range.append(leafHash(e.data, crypto));
      const refusal = await checkAt(range.size);
      if (refusal) return { ok: false, reason: refusal };
    }
    after = (events[events.length - 1] as { position: bigint }).position;
  }
  const beyond = [...expected.keys()].filter((size) => size > range.size);
  if (beyond.length > 0) return { ok: false, reason: `the event log holds ${range.size} events, fewer than the ${Math.max(...beyond)} of a signed checkpoint` };
  if (logSize > range.size) return { ok: false, reason: `the event log holds ${range.size} events, fewer than the ${logSize} leaves of the shared Merkle log` };
  log.close();
  return { ok: true, size: logSize, root: toHex(await log.root(logSize)), eventsReplayed: range.size, checkpointsReproduced: reproduced };
}
