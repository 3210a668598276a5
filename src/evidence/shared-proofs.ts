/**
 * RFC 6962 inclusion proofs of several leaves against one tree size, sharing the work their paths share.
 *
 * Leaves that lie in one aligned, complete subtree of 2^h leaves (a node of the tree: every aligned block
 * wholly inside the tree is one) have the same path above it, so one proof from the log gives that upper
 * part, and the subtree's own h levels are hashed from its leaves. A unit's events, appended together, lie
 * in a block of 8 or 16 leaves: one proof and 8 or 16 leaf hashes instead of six proofs of about
 * log2(size) hashes each. Asked for many units at once (an export asks for a few hundred), a dense run of
 * leaves shares blocks of up to 2^MAX_BLOCK_LEVELS leaves: one proof from the log per block, one read of its
 * leaf hashes, about one hash per leaf. The result
 * is, leaf for leaf, the proof `inclusionProof(index, size)` gives (test/shared-proofs.unit.test.ts).
 */
import type { CryptoBackend } from '../crypto/backend.ts';
import { nodeHash, type Hash } from '../merkle/hash.ts';

/** What the proofs are made from: the log's own proofs and leaf hashes. */
export interface ProofSource {
  inclusionProof(index: number, size: number): Promise<Hash[]>;
  leafHashAt(index: number): Promise<Hash>;
  /** A block's leaf hashes in one read, where the source can. */
  leafHashes?(start: number, count: number): Promise<Hash[]>;
}

/** The largest block whose leaves are hashed here: beyond it, separate groups (each one proof from the log). */
const MAX_BLOCK_LEVELS = 10;
/**
 * Blocks up to 2^SMALL_BLOCK_LEVELS leaves are hashed whole whatever share of them was asked for (a unit's
 * events); a larger block only while at least half its leaves are asked for, so that the leaves read and
 * hashed stay within twice those asked for (a sparse selection keeps one small block per unit).
 */
const SMALL_BLOCK_LEVELS = 5;

/**
 * Proofs of `indexes` (each below `size`) by leaf index. Every hash comes from the log (its proofs and
 * leaf hashes), none from the events the caller read: a proof is the log's, whatever the store holds.
 */
export async function inclusionProofs(source: ProofSource, indexes: readonly number[], size: number, crypto: CryptoBackend): Promise<Map<number, Hash[]>> {
  const sorted = [...new Set(indexes)].sort((a, b) => a - b);
  const proofs = new Map<number, Hash[]>();
  let i = 0;
  while (i < sorted.length) {
    const first = sorted[i] as number;
    // The largest run of following leaves sharing one complete aligned block of at most 2^MAX_BLOCK_LEVELS.
    let levels = 0;
    let j = i + 1;
    for (; j < sorted.length; j++) {
      const h = blockLevels(first, sorted[j] as number);
      if (h > MAX_BLOCK_LEVELS || blockStart(first, h) + 2 ** h > size) break;
      if (h > SMALL_BLOCK_LEVELS && 2 ** h > 2 * (j - i + 1)) break;
      levels = Math.max(levels, h);
    }
    const group = sorted.slice(i, j);
    i = j;
    if (levels === 0) {
      proofs.set(first, await source.inclusionProof(first, size));
      continue;
    }
    const start = blockStart(first, levels);
    const anchor = await source.inclusionProof(start, size);
    const above = anchor.slice(levels);
    // The block's tree, level by level from its leaves: level[l][k] is the k-th node of 2^l leaves.
    const tree: Hash[][] = [source.leafHashes ? await source.leafHashes(start, 2 ** levels) : []];
    for (let k = tree[0]!.length; k < 2 ** levels; k++) tree[0]!.push(await source.leafHashAt(start + k));
    for (let l = 1; l < levels; l++) {
      const below = tree[l - 1] as Hash[];
      const level: Hash[] = [];
      for (let k = 0; k < below.length; k += 2) level.push(nodeHash(below[k] as Hash, below[k + 1] as Hash, crypto));
      tree.push(level);
    }
    for (const index of group) {
      const path: Hash[] = [];
      let k = index - start; // below 2^MAX_BLOCK_LEVELS: bit operations are exact
      for (let l = 0; l < levels; l++, k >>= 1) path.push((tree[l] as Hash[])[k ^ 1] as Hash);
      proofs.set(index, [...path, ...above]);
    }
  }
  return proofs;
}

/** The first leaf of the aligned block of 2^levels leaves holding `index` (arithmetic: indexes pass 2^31). */
function blockStart(index: number, levels: number): number {
  const size = 2 ** levels;
  return Math.floor(index / size) * size;
}

/** The levels of the smallest aligned block holding both leaves. */
function blockLevels(a: number, b: number): number {
  let h = 0;
  while (blockStart(a, h) !== blockStart(b, h)) h++;
  return h;
}
