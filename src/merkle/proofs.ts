/**
 * Proof generation (RFC 6962 §2.1.1–2.1.2) over any source of subtree hashes, and proof verification
 * (RFC 9162 §2.1.3.2 and §2.1.4.2). Sizes and indexes are JS numbers: exact up to 2^53 leaves.
 */
import { portableCrypto, type CryptoBackend } from '../crypto/backend.ts';
import { EMPTY_ROOT, hashesEqual, isPowerOfTwo, nodeHash, splitPoint, type Hash } from './hash.ts';

/** MTH(D[start : start+size]) for any range whose perfect subtrees the source can answer. */
export interface SubtreeSource {
  /** Hash of the perfect subtree of 2^level leaves starting at leaf index·2^level. */
  perfect(level: number, index: number): Hash;
}

/**
 * Hashes of ranges that are not complete subtrees, by `start/size`: a range's hash never changes once its leaves
 * exist, and the proofs against one tree size all need the same few (the tree's right edge).
 */
export type RangeMemo = Map<string, Hash>;

export function rangeHash(source: SubtreeSource, start: number, size: number, crypto: CryptoBackend = portableCrypto, memo?: RangeMemo): Hash {
  if (size === 0) return EMPTY_ROOT;
  if (isPowerOfTwo(size) && start % size === 0) return source.perfect(Math.log2(size), start / size);
  const key = memo ? `${start}/${size}` : '';
  const known = memo?.get(key);
  if (known) return known;
  const k = splitPoint(size);
  const hash = nodeHash(rangeHash(source, start, k, crypto, memo), rangeHash(source, start + k, size - k, crypto, memo), crypto);
  memo?.set(key, hash);
  return hash;
}

export function rootHash(source: SubtreeSource, size: number, crypto: CryptoBackend = portableCrypto): Hash {
  return rangeHash(source, 0, size, crypto);
}

/** PATH(m, D[0:size]): the audit path, leaf's sibling first. */
export function inclusionProof(source: SubtreeSource, index: number, size: number, crypto: CryptoBackend = portableCrypto, memo?: RangeMemo): Hash[] {
  if (!(index >= 0 && index < size)) throw new RangeError(`index ${index} is not in a tree of size ${size}`);
  const path: Hash[] = [];
  const walk = (m: number, start: number, n: number): void => {
    if (n === 1) return;
    const k = splitPoint(n);
    if (m < k) {
      walk(m, start, k);
      path.push(rangeHash(source, start + k, n - k, crypto, memo));
    } else {
      walk(m - k, start + k, n - k);
      path.push(rangeHash(source, start, k, crypto, memo));
    }
  };
  walk(index, 0, size);
  return path;
}

/** PROOF(m, D[0:n]): proves that the tree of size m is a prefix of the tree of size n. */
export function consistencyProof(source: SubtreeSource, m: number, n: number, crypto: CryptoBackend = portableCrypto): Hash[] {
  if (!(m >= 0 && m <= n)) throw new RangeError(`cannot prove ${m} consistent with ${n}`);
  if (m === 0 || m === n) return [];
  const proof: Hash[] = [];
  const sub = (m: number, start: number, n: number, complete: boolean): void => {
    if (m === n) {
      if (!complete) proof.push(rangeHash(source, start, n, crypto));
      return;
    }
    const k = splitPoint(n);
    if (m <= k) {
      sub(m, start, k, complete);
      proof.push(rangeHash(source, start + k, n - k, crypto));
    } else {
      sub(m - k, start + k, n - k, false);
      proof.push(rangeHash(source, start, k, crypto));
    }
  };
  sub(m, 0, n, true);
  return proof;
}

/** RFC 9162 §2.1.3.2. */
export function verifyInclusion(leaf: Hash, index: number, size: number, proof: readonly Hash[], root: Hash, crypto: CryptoBackend = portableCrypto): boolean {
  const computed = rootFromInclusionProof(leaf, index, size, proof, crypto);
  return computed !== null && hashesEqual(computed, root);
}

/**
 * The root an inclusion proof yields (RFC 9162 §2.1.3.2 without the final comparison), or null when the
 * proof does not fit the index and size. For verifiers that receive the root detached, as COSE Receipts
 * (RFC 9942) do: they sign the computed root.
 */
export function rootFromInclusionProof(leaf: Hash, index: number, size: number, proof: readonly Hash[], crypto: CryptoBackend = portableCrypto): Hash | null {
  if (!(Number.isSafeInteger(index) && Number.isSafeInteger(size) && index >= 0 && index < size)) return null;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) return null;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r, crypto);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = nodeHash(r, p, crypto);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 ? r : null;
}

/** RFC 9162 §2.1.4.2. A tree is trivially consistent with its own size and with the empty tree. */
export function verifyConsistency(size1: number, size2: number, root1: Hash, root2: Hash, proof: readonly Hash[], crypto: CryptoBackend = portableCrypto): boolean {
  if (!(size1 >= 0 && size1 <= size2)) return false;
  if (size1 === size2) return proof.length === 0 && hashesEqual(root1, root2);
  if (size1 === 0) return proof.length === 0 && hashesEqual(root1, EMPTY_ROOT);
  if (proof.length === 0) return false;
  const path = isPowerOfTwo(size1) ? [root1, ...proof] : [...proof];
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  let fr = path[0] as Hash;
  let sr = path[0] as Hash;
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr, crypto);
      sr = nodeHash(c, sr, crypto);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      sr = nodeHash(sr, c, crypto);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && hashesEqual(fr, root1) && hashesEqual(sr, root2);
}

/** An in-memory tree over leaf hashes: the reference the persistent log is tested against. */
export class MemoryTree implements SubtreeSource {
  private readonly levels: Hash[][] = [[]];

  constructor(private readonly crypto: CryptoBackend = portableCrypto) {}

  append(leaf: Hash): void {
    (this.levels[0] as Hash[]).push(leaf);
    let level = 0;
    let index = (this.levels[0] as Hash[]).length - 1;
    while (index % 2 === 1) {
      const row = this.levels[level] as Hash[];
      const parent = nodeHash(row[index - 1] as Hash, row[index] as Hash, this.crypto);
      level++;
      index = Math.floor(index / 2);
      (this.levels[level] ??= []).push(parent);
    }
  }

  get size(): number {
    return (this.levels[0] as Hash[]).length;
  }

  perfect(level: number, index: number): Hash {
    const h = this.levels[level]?.[index];
    if (!h) throw new RangeError(`no complete subtree at level ${level} index ${index}`);
    return h;
  }
}
