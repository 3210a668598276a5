/**
 * Rebuilds the Merkle log from the event log without ever replacing a log whose signed checkpoints the
 * event log no longer reproduces. The signed checkpoints are the truth: each one is recorded twice, as
 * CheckpointIssued in the append-only event store and in the Merkle log file's checkpoint table.
 *
 * The new tree is built into a file of its own beside the old one. It replaces the old file only when
 *   - its root at every signed checkpoint's size is that checkpoint's root, and
 *   - the old tree is a prefix of it (the old root at the old size is the new root at that size; the old
 *     log may simply lag behind the event log, which is no divergence at all).
 * Otherwise the old file stays as it was, and the report names the first leaf where the two differ.
 * Run it while no ledger server has the file open.
 */
import { existsSync, renameSync, rmSync } from 'node:fs';
import type { EventStore } from '../store/event-store.ts';
import { LEDGER_CHECKPOINT_STREAM } from '../event/streams.ts';
import { decodeTrustedEnvelope } from '../event/codec.ts';
import { bytesEqual, fromHex, toHex } from '../crypto/encoding.ts';
import type { CryptoBackend } from '../crypto/backend.ts';
import { nativeCrypto } from '../native/crypto.ts';
import type { Hash } from '../merkle/hash.ts';
import { MerkleLog, THREADED_CATCH_UP_LEAVES } from './merkle-log.ts';

export interface SignedCheckpoint {
  readonly size: number;
  readonly root: Hash;
  readonly note: string;
  readonly issuedAt: string;
  /** Where it was found: the event store's CheckpointIssued events, the old Merkle log's table, or both. */
  readonly foundIn: readonly ('event store' | 'merkle log')[];
}

export type MerkleRebuildReport =
  | {
      readonly ok: true;
      readonly size: number;
      readonly root: string;
      /** The replaced log's size and root, when there was one. */
      readonly previous: { readonly size: number; readonly root: string } | null;
      readonly checkpointsReproduced: number;
    }
  | {
      readonly ok: false;
      /** Why the old log was kept, in one sentence. */
      readonly reason: string;
      /** Index of the first leaf where the event log and the old Merkle log differ, when it can be located. */
      readonly firstDivergingLeaf: number | null;
      /** Otherwise the leaf range [from, to) the first difference lies in, bounded by signed checkpoints. */
      readonly divergesWithin: readonly [number, number] | null;
      /** The signed checkpoint the event log no longer reproduces, if that is the reason. */
      readonly checkpoint: { readonly size: number; readonly root: string } | null;
    };

export async function rebuildMerkleLog(store: EventStore, file: string, crypto: CryptoBackend = nativeCrypto): Promise<MerkleRebuildReport> {
  const tempFile = `${file}.rebuild-${process.pid}`;
  removeSqliteFile(tempFile);
  // Offline (the server is stopped): a long log's leaves are hashed on a second thread.
  const fresh = new MerkleLog(store, tempFile, crypto, { threadedCatchUpLeaves: THREADED_CATCH_UP_LEAVES });
  // A file of an unknown format throws here and is left alone: it may come from a newer flashtrail.
  let old: MerkleLog | null = null;
  try {
    old = existsSync(file) ? new MerkleLog(store, file, crypto) : null;
    await fresh.catchUp();
    const checkpoints = await signedCheckpoints(store, old, crypto);
    const refusal = checkAgainst(fresh, old, checkpoints);
    if (refusal) return refusal;

    for (const c of checkpoints) fresh.recordCheckpoint(c.size, c.root, c.note, c.issuedAt);
    const previous = old && old.size > 0 ? { size: old.size, root: toHex(old.root(old.size)) } : null;
    const report: MerkleRebuildReport = { ok: true, size: fresh.size, root: toHex(fresh.root()), previous, checkpointsReproduced: checkpoints.length };
    old?.close();
    old = null;
    fresh.close();
    removeSqliteFile(file);
    renameSync(tempFile, file);
    return report;
  } finally {
    old?.close();
    try {
      fresh.close();
    } catch {
      // closed before the swap
    }
    removeSqliteFile(tempFile);
  }
}

/** The refusal, if the new tree contradicts a signed checkpoint or does not extend the old tree. */
function checkAgainst(fresh: MerkleLog, old: MerkleLog | null, checkpoints: readonly SignedCheckpoint[]): MerkleRebuildReport | null {
  const refuse = (reason: string, checkpoint: SignedCheckpoint | null, reproducedBelow: number): MerkleRebuildReport => {
    const { leaf, within } = locate(fresh, old, checkpoint, reproducedBelow);
    return { ok: false, reason, firstDivergingLeaf: leaf, divergesWithin: within, checkpoint: checkpoint ? { size: checkpoint.size, root: toHex(checkpoint.root) } : null };
  };
  let reproducedBelow = 0;
  for (const c of checkpoints) {
    if (c.size > fresh.size) {
      return refuse(`the event log holds ${fresh.size} events, fewer than the ${c.size} of signed checkpoint ${c.size} (${c.foundIn.join(' and ')})`, c, reproducedBelow);
    }
    if (!bytesEqual(fresh.root(c.size), c.root)) {
      return refuse(`the event log no longer reproduces signed checkpoint ${c.size} (${c.foundIn.join(' and ')}): its root at that size is ${toHex(fresh.root(c.size))}, not ${toHex(c.root)}`, c, reproducedBelow);
    }
    reproducedBelow = c.size;
  }
  if (old && old.size > fresh.size) return refuse(`the event log holds ${fresh.size} events, fewer than the ${old.size} leaves of the Merkle log`, null, reproducedBelow);
  if (old && old.size > 0 && !bytesEqual(fresh.root(old.size), old.root(old.size))) {
    return refuse(`the event log no longer matches the Merkle log at its size ${old.size} (after the last signed checkpoint)`, null, reproducedBelow);
  }
  return null;
}

/**
 * Where the event log first departs from what was logged: the first leaf that differs from the old Merkle
 * log, or the first one the event log lacks; failing that (no old log, or an old log that agrees with the
 * event log but not with the signature), the range between the last checkpoint reproduced and the first not.
 */
function locate(fresh: MerkleLog, old: MerkleLog | null, checkpoint: SignedCheckpoint | null, reproducedBelow: number): { leaf: number | null; within: readonly [number, number] | null } {
  if (old) {
    const differs = firstDifference(fresh, old, Math.min(fresh.size, old.size));
    if (differs !== null) return { leaf: differs, within: null };
    if (old.size > fresh.size) return { leaf: fresh.size, within: null };
  }
  if (!checkpoint) return { leaf: null, within: null };
  return { leaf: null, within: [reproducedBelow, Math.min(checkpoint.size, fresh.size + 1)] };
}

/**
 * The first leaf index where two logs differ within their first `upTo` leaves, or null. Equal roots at
 * size k mean equal first k leaves, so "differs at size k" only turns true once: a binary search over
 * prefix roots finds it in O(log² n) node reads.
 */
export function firstDifference(a: MerkleLog, b: MerkleLog, upTo: number): number | null {
  if (upTo === 0 || bytesEqual(a.root(upTo), b.root(upTo))) return null;
  let lo = 1;
  let hi = upTo;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (bytesEqual(a.root(mid), b.root(mid))) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

/** Every signed checkpoint on record, by size; one size recorded with two roots is kept twice. */
async function signedCheckpoints(store: EventStore, old: MerkleLog | null, crypto: CryptoBackend): Promise<SignedCheckpoint[]> {
  const found = new Map<string, { size: number; root: Hash; note: string; issuedAt: string; foundIn: Set<'event store' | 'merkle log'> }>();
  const add = (size: number, root: Hash, note: string, issuedAt: string, where: 'event store' | 'merkle log') => {
    const key = `${size}:${toHex(root)}`;
    const entry = found.get(key) ?? { size, root, note, issuedAt, foundIn: new Set() };
    entry.foundIn.add(where);
    found.set(key, entry);
  };
  for (const recorded of await store.readStream(LEDGER_CHECKPOINT_STREAM)) {
    const { event } = decodeTrustedEnvelope(recorded.data, crypto);
    if (event.type === 'CheckpointIssued') add(event.data.size, fromHex(event.data.rootHash), event.data.note, event.occurredAt, 'event store');
  }
  for (const c of old?.checkpoints() ?? []) add(c.size, c.root, c.note, c.issuedAt, 'merkle log');
  return [...found.values()].sort((x, y) => x.size - y.size).map((c) => ({ ...c, foundIn: [...c.foundIn].sort() }));
}

function removeSqliteFile(file: string): void {
  for (const suffix of ['', '-wal', '-shm']) rmSync(file + suffix, { force: true });
}

/** One line for people. */
export function describeMerkleRebuild(report: MerkleRebuildReport): string {
  if (report.ok) {
    const previous = report.previous ? `; the previous log of ${report.previous.size} leaves is a prefix of it` : '';
    return `rebuilt Merkle log: ${report.size} leaves, root ${report.root}${previous}; ${report.checkpointsReproduced} signed checkpoints reproduced`;
  }
  const where =
    report.firstDivergingLeaf !== null
      ? `; first diverging leaf: ${report.firstDivergingLeaf}`
      : report.divergesWithin
        ? `; the first diverging leaf lies in [${report.divergesWithin[0]}, ${report.divergesWithin[1]})`
        : '';
  return `refused to rebuild the Merkle log: ${report.reason}${where}. The old Merkle log was kept unchanged`;
}
