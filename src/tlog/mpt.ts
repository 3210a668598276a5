/**
 * A Merkle Patricia Tree: a verifiable map from byte-string keys to byte-string values with compact presence
 * and absence proofs, hashed exactly as torchwood's mpt package specifies it (FiloSottile/torchwood mpt/tree.go,
 * the tree under transparency-dev's verifiable index), so that its vectors test this implementation and a third
 * party can rebuild our roots with theirs. Pure.
 *
 * Structure: a path-compressed binary trie over the key bits (bit 0 is the high bit of byte 0). Every inner node
 * has two children whose keys agree before, and differ at, its bit position B; a key of L bytes reads as if
 * followed by 0x00 and then 0xFF bytes, so that no two keys share a bit sequence. The shape depends only on the
 * set of keys, never on insertion order: a rebuild from the same pairs gives the same root.
 *
 *   empty tree  = SHA-256("")
 *   leaf        = SHA-256(0x00 || varint len(key) || key || varint len(val) || val)
 *   inner       = SHA-256(0x01 || varint B || left || right)
 *
 * Proofs list, from the leaf up to the root, each inner node's B (varint) and its other child's hash; a
 * presence proof is that list, an absence proof is the same list prefixed by the (length-prefixed) key and value
 * of the leaf a lookup of the absent key reaches. Varints are protobuf (LEB128) unsigned integers; we require
 * their shortest form.
 *
 * Updates are O(depth): only the nodes on one path are rebuilt (nodes are immutable, so a snapshot is just a
 * root reference).
 */
import { portableCrypto, type CryptoBackend } from '../crypto/backend.ts';
import { concatBytes } from '../crypto/encoding.ts';

export type Hash = Uint8Array;

export const MPT_EMPTY_ROOT: Hash = portableCrypto.sha256(new Uint8Array(0));
/** Bounds a proof parser accepts (torchwood's MaxKeyLen is 1024 bytes). */
const MAX_KEY_BYTES = 1024;
const MAX_VALUE_BYTES = 64 * 1024;

/**
 * A node's hash (and a leaf's value) as a string of one-byte characters (code units 0–255), not a Uint8Array: a
 * string of 32 bytes lives in the JS heap at about a fifth of what a typed array and its buffer cost, and a map of
 * millions of keys holds one per node (issue 19). Converted to bytes only to hash a parent or to serve a proof.
 */
type PackedHash = string;
type Node = { readonly leaf: true; readonly key: Uint8Array; readonly val: PackedHash; readonly hash: PackedHash } | { readonly leaf: false; readonly bit: number; readonly left: Node; readonly right: Node; readonly hash: PackedHash };

function pack(bytes: Uint8Array): PackedHash {
  // fromCharCode takes its code units as arguments: in slices, as values may be up to MAX_VALUE_BYTES long.
  let out = '';
  for (let i = 0; i < bytes.length; i += 4096) out += String.fromCharCode.apply(null, bytes.subarray(i, i + 4096) as unknown as number[]);
  return out;
}

function unpack(hash: PackedHash): Hash {
  const out = new Uint8Array(hash.length);
  for (let i = 0; i < hash.length; i++) out[i] = hash.charCodeAt(i);
  return out;
}

/** innerHash of two packed child hashes, written straight into one buffer. */
function packedInnerHash(bit: number, left: PackedHash, right: PackedHash, crypto: CryptoBackend): PackedHash {
  const b = varint(bit);
  const input = new Uint8Array(1 + b.length + left.length + right.length);
  input[0] = 1;
  input.set(b, 1);
  let at = 1 + b.length;
  for (let i = 0; i < left.length; i++) input[at++] = left.charCodeAt(i);
  for (let i = 0; i < right.length; i++) input[at++] = right.charCodeAt(i);
  return pack(crypto.sha256(input));
}

export class MptProofError extends Error {
  override readonly name = 'MptProofError';
}

export function varint(n: number): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`varint of ${n}`);
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return Uint8Array.from(out);
}

/** The byte at `index` of the key as padded: the key, then 0x00, then 0xFF forever. */
function paddedByte(key: Uint8Array, index: number): number {
  return index < key.length ? (key[index] as number) : index === key.length ? 0x00 : 0xff;
}

export function keyBit(key: Uint8Array, bit: number): 0 | 1 {
  return ((paddedByte(key, bit >> 3) >> (7 - (bit & 7))) & 1) as 0 | 1;
}

/** The first bit where two keys differ as padded, or null when they are equal. */
function firstDifference(a: Uint8Array, b: Uint8Array): number | null {
  const bytes = Math.max(a.length, b.length) + 1;
  for (let i = 0; i < bytes; i++) {
    const x = paddedByte(a, i) ^ paddedByte(b, i);
    if (x !== 0) return i * 8 + Math.clz32(x) - 24;
  }
  return null;
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export function mptLeafHash(key: Uint8Array, val: Uint8Array, crypto: CryptoBackend = portableCrypto): Hash {
  return crypto.sha256(concatBytes(Uint8Array.of(0), varint(key.length), key, varint(val.length), val));
}

function innerHash(bit: number, left: Hash, right: Hash, crypto: CryptoBackend): Hash {
  return crypto.sha256(concatBytes(Uint8Array.of(1), varint(bit), left, right));
}

export interface PathStep {
  readonly bit: number;
  readonly sibling: Hash;
}

export class MerklePatriciaTree {
  private root: Node | null = null;
  private count = 0;

  constructor(private readonly crypto: CryptoBackend = portableCrypto) {}

  get size(): number {
    return this.count;
  }

  rootHash(): Hash {
    return this.root ? unpack(this.root.hash) : MPT_EMPTY_ROOT;
  }

  get(key: Uint8Array): Uint8Array | null {
    const leaf = this.reach(key);
    return leaf && bytesEqual(leaf.key, key) ? unpack(leaf.val) : null;
  }

  /**
   * Adds or replaces a pair, rebuilding only the path to it. Returns the key array the tree keeps: on a
   * replacement, the one it already held (so that a caller can hand one array per key to several trees rather
   * than keep a copy per update — at millions of keys each array's own allocation is most of a leaf's memory).
   */
  set(key: Uint8Array, val: Uint8Array): Uint8Array {
    if (key.length > MAX_KEY_BYTES) throw new RangeError(`keys are at most ${MAX_KEY_BYTES} bytes`);
    const reached = this.reach(key);
    if (!this.root || !reached) {
      this.root = this.leafNode(key, val);
      this.count = 1;
      return key;
    }
    const diff = firstDifference(key, reached.key);
    if (diff === null) {
      this.root = this.replace(this.root, key, this.leafNode(reached.key, val));
      return reached.key;
    }
    this.root = this.insert(this.root, key, this.leafNode(key, val), diff);
    this.count++;
    return key;
  }

  /** Every pair, in key order (the tree's left-to-right leaf order). */
  *entries(): Generator<{ key: Uint8Array; val: Uint8Array }> {
    const stack: Node[] = this.root ? [this.root] : [];
    while (stack.length > 0) {
      const n = stack.pop() as Node;
      if (n.leaf) yield { key: n.key, val: unpack(n.val) };
      else stack.push(n.right, n.left);
    }
  }

  /** The leaf-to-root path a lookup of `key` takes, and the leaf it ends at (null for an empty tree). */
  path(key: Uint8Array): { leaf: { key: Uint8Array; val: Uint8Array } | null; steps: PathStep[] } {
    return pathFrom(this.root, key);
  }

  /** A lookup claim and its proof, in torchwood's encoding: the value (null if absent) and the proof bytes. */
  proveLookup(key: Uint8Array): { val: Uint8Array | null; proof: Uint8Array } {
    return proveFrom(this.root, key);
  }

  /**
   * The tree as it is now, unchanged by later updates (nodes are immutable: this holds one reference), so
   * that proofs can be served as of a committed size while the tree moves on.
   */
  snapshot(): MptSnapshot {
    const root = this.root;
    return { rootHash: () => (root ? unpack(root.hash) : MPT_EMPTY_ROOT), proveLookup: (key) => proveFrom(root, key) };
  }

  private leafNode(key: Uint8Array, val: Uint8Array): Node {
    return { leaf: true, key, val: pack(val), hash: pack(mptLeafHash(key, val, this.crypto)) };
  }

  private reach(key: Uint8Array): (Node & { leaf: true }) | null {
    let n = this.root;
    if (!n) return null;
    while (!n.leaf) n = keyBit(key, n.bit) === 1 ? n.right : n.left;
    return n;
  }

  private inner(bit: number, left: Node, right: Node): Node {
    return { leaf: false, bit, left, right, hash: packedInnerHash(bit, left.hash, right.hash, this.crypto) };
  }

  private replace(n: Node, key: Uint8Array, fresh: Node): Node {
    if (n.leaf) return fresh;
    return keyBit(key, n.bit) === 1 ? this.inner(n.bit, n.left, this.replace(n.right, key, fresh)) : this.inner(n.bit, this.replace(n.left, key, fresh), n.right);
  }

  /** Places the new leaf under a new inner node at bit `diff`, above the first node that splits at a later bit. */
  private insert(n: Node, key: Uint8Array, fresh: Node, diff: number): Node {
    if (!n.leaf && n.bit < diff) {
      return keyBit(key, n.bit) === 1 ? this.inner(n.bit, n.left, this.insert(n.right, key, fresh, diff)) : this.inner(n.bit, this.insert(n.left, key, fresh, diff), n.right);
    }
    return keyBit(key, diff) === 1 ? this.inner(diff, n, fresh) : this.inner(diff, fresh, n);
  }
}

export interface MptSnapshot {
  rootHash(): Hash;
  proveLookup(key: Uint8Array): { val: Uint8Array | null; proof: Uint8Array };
}

function pathFrom(root: Node | null, key: Uint8Array): { leaf: { key: Uint8Array; val: Uint8Array } | null; steps: PathStep[] } {
  const steps: PathStep[] = [];
  let n = root;
  if (!n) return { leaf: null, steps };
  while (!n.leaf) {
    const right: boolean = keyBit(key, n.bit) === 1;
    steps.push({ bit: n.bit, sibling: unpack(right ? n.left.hash : n.right.hash) });
    n = right ? n.right : n.left;
  }
  return { leaf: { key: n.key, val: unpack(n.val) }, steps: steps.reverse() };
}

function proveFrom(root: Node | null, key: Uint8Array): { val: Uint8Array | null; proof: Uint8Array } {
  const { leaf, steps } = pathFrom(root, key);
  const encodedSteps = steps.map((s) => concatBytes(varint(s.bit), s.sibling));
  if (!leaf) return { val: null, proof: new Uint8Array(0) };
  if (bytesEqual(leaf.key, key)) return { val: leaf.val, proof: concatBytes(...encodedSteps) };
  return { val: null, proof: concatBytes(varint(leaf.key.length), leaf.key, varint(leaf.val.length), leaf.val, ...encodedSteps) };
}

/** Reads a shortest-form varint at `offset`; returns the value and the next offset. */
function readVarint(bytes: Uint8Array, offset: number): [number, number] {
  let value = 0;
  let scale = 1;
  for (let i = offset; i < bytes.length && i < offset + 8; i++) {
    const b = bytes[i] as number;
    value += (b & 0x7f) * scale;
    scale *= 0x80;
    if ((b & 0x80) === 0) {
      if (b === 0 && i > offset) throw new MptProofError('a varint is not in its shortest form');
      return [value, i + 1];
    }
  }
  throw new MptProofError('a varint is truncated or too long');
}

function readSteps(proof: Uint8Array, offset: number): PathStep[] {
  const steps: PathStep[] = [];
  let at = offset;
  while (at < proof.length) {
    const [bit, next] = readVarint(proof, at);
    if (next + 32 > proof.length) throw new MptProofError('a proof step is truncated');
    const previous = steps[steps.length - 1];
    if (previous && bit >= previous.bit) throw new MptProofError('proof bit positions must decrease from the leaf to the root');
    steps.push({ bit, sibling: proof.subarray(next, next + 32) });
    at = next + 32;
  }
  return steps;
}

function climb(key: Uint8Array, leaf: Hash, steps: readonly PathStep[], crypto: CryptoBackend): Hash {
  let hash = leaf;
  for (const s of steps) hash = keyBit(key, s.bit) === 1 ? innerHash(s.bit, s.sibling, hash, crypto) : innerHash(s.bit, hash, s.sibling, crypto);
  return hash;
}

/**
 * Verifies a lookup claim against a tree hash: `val` present under `key`, or (val null) `key` absent. Returns
 * false for a claim the proof does not establish, including a malformed proof.
 */
export function verifyLookup(root: Hash, key: Uint8Array, val: Uint8Array | null, proof: Uint8Array, crypto: CryptoBackend = portableCrypto): boolean {
  try {
    if (bytesEqual(root, MPT_EMPTY_ROOT)) return val === null && proof.length === 0;
    if (val !== null) return bytesEqual(climb(key, mptLeafHash(key, val, crypto), readSteps(proof, 0), crypto), root);
    const [keyLength, afterKeyLength] = readVarint(proof, 0);
    if (keyLength > MAX_KEY_BYTES || afterKeyLength + keyLength > proof.length) throw new MptProofError('the alternate key is truncated');
    const altKey = proof.subarray(afterKeyLength, afterKeyLength + keyLength);
    const [valLength, afterValLength] = readVarint(proof, afterKeyLength + keyLength);
    if (valLength > MAX_VALUE_BYTES || afterValLength + valLength > proof.length) throw new MptProofError('the alternate value is truncated');
    const altVal = proof.subarray(afterValLength, afterValLength + valLength);
    const steps = readSteps(proof, afterValLength + valLength);
    if (bytesEqual(altKey, key)) return false;
    if (steps.some((s) => keyBit(altKey, s.bit) !== keyBit(key, s.bit))) return false;
    return bytesEqual(climb(altKey, mptLeafHash(altKey, altVal, crypto), steps, crypto), root);
  } catch (error) {
    if (error instanceof MptProofError) return false;
    throw error;
  }
}
