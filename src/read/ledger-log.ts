/**
 * The ledger's Merkle log as its users see it (the API's proof routes, the checkpointer, the provenance
 * and export writers), whatever holds it:
 *   - MerkleLog (merkle-log.ts): a SQLite file in the data directory, for the embedded and KurrentDB stores;
 *   - PostgresMerkleLog (postgres-merkle-log.ts): tables beside the events, shared by every API instance,
 *     extended only by the elected log writer.
 * Asynchronous because a shared log answers over the network; the file-backed one answers at once.
 */
import type { Hash } from '../merkle/hash.ts';
import type { LeafInfo, MerkleLog } from './merkle-log.ts';

export interface RecordedCheckpoint {
  readonly size: number;
  readonly root: Hash;
  readonly note: string;
}

export interface LedgerLog {
  /**
   * Brings the log up to the events committed before the call: the log's writer appends their leaves; an
   * instance that is not the writer waits (boundedly) for the writer to have done so.
   */
  catchUp(): Promise<void>;
  /** Number of leaves. */
  size(): Promise<number>;
  root(size: number): Promise<Hash>;
  inclusionProof(index: number, size: number): Promise<Hash[]>;
  consistencyProof(from: number, to: number): Promise<Hash[]>;
  /** The leaf of the event recorded at this $all position, or null when the log has not reached it. */
  leafOfPosition(position: bigint): Promise<LeafInfo | null>;
  /** The leaves of several events at once (those the log has not reached are absent from the map). */
  leavesOfPositions(positions: readonly bigint[]): Promise<Map<bigint, LeafInfo>>;
  leafHashAt(index: number): Promise<Hash>;
  /** Leaf hashes of [start, start + count) in one read, where the log can (optional: else one leafHashAt each). */
  leafHashes?(start: number, count: number): Promise<Hash[]>;
  latestCheckpoint(): Promise<RecordedCheckpoint | null>;
  recordCheckpoint(size: number, root: Hash, note: string, issuedAt: string): Promise<void>;
}

/** The file-backed log behind the asynchronous interface. */
export function fileLedgerLog(log: MerkleLog): LedgerLog {
  return {
    catchUp: () => log.catchUp(),
    size: () => Promise.resolve(log.size),
    root: (size) => Promise.resolve(log.root(size)),
    inclusionProof: (index, size) => Promise.resolve(log.inclusionProof(index, size)),
    consistencyProof: (from, to) => Promise.resolve(log.consistencyProof(from, to)),
    leafOfPosition: (position) => Promise.resolve(log.leafOfPosition(position)),
    leavesOfPositions: (positions) => Promise.resolve(log.leavesOfPositions(positions)),
    leafHashAt: (index) => Promise.resolve(log.leafHashAt(index)),
    leafHashes: (start, count) => Promise.resolve(log.leafHashes(start, count)),
    latestCheckpoint: () => Promise.resolve(log.latestCheckpoint()),
    recordCheckpoint: (size, root, note, issuedAt) => Promise.resolve(log.recordCheckpoint(size, root, note, issuedAt)),
  };
}
