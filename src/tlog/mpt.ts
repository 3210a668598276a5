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
 * Updates are O(depth) and copy-on-write: a node that a snapshot or a store holds ("frozen") is never changed, a
 * change copies the path to it, and the nodes made since the last freeze are changed in place. Hashes are
 * computed lazily: a parent holds its two children's hashes, a change clears them along its path, and they are
 * recomputed once, bottom-up and for the changed paths only, when a root, a proof or a flush needs them.
 *
 * A tree may live in a node store (MptPages: unit-map.sqlite, src/read/unit-map-nodes.ts) rather than in memory:
 * `flush` writes the nodes changed since the last flush under fresh ids and freezes them, a child not in memory
 * is its id, read on first use and checked against the hash its parent holds (a damaged row is an
 * MptIntegrityError, never a wrong root), and `unload` drops all but the top of the tree from memory. The
 * rows (docs/format.md §15.3): an inner node 0x01 || varint bit || varint left id || varint right id ||
 * left hash || right hash; a leaf 0x00 || varint len(key) || key || val.
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

/**
 * A node in memory. `gen` is the tree generation it was made in (a node of an earlier one, or read from the
 * store, is frozen: copied, never changed); `id` its row in the node store (0: not stored yet). An inner node
 * holds its children's hashes (null: that child changed, recompute), so that rehashing a changed path needs
 * no sibling read and a proof reads only the nodes on its path.
 */
class Leaf {
  constructor(
    public gen: number,
    public id: number,
    public readonly key: Uint8Array,
    public val: PackedHash,
  ) {}
}
class Inner {
  constructor(
    public gen: number,
    public id: number,
    public readonly bit: number,
    public left: Child,
    public right: Child,
    public lh: PackedHash | null,
    public rh: PackedHash | null,
  ) {}
}
type Node = Leaf | Inner;
/** A child in memory, or the id of its stored row (not read yet, or unloaded). */
type Child = Node | number;

/** Where a stored tree's nodes live (unit-map.sqlite's map_nodes): rows by id, written by `flush`. Synchronous. */
export interface MptPages {
  /** The row written for `id` (throws when there is none). */
  read(id: number): Uint8Array;
  /** An id no row has had. */
  allocate(): number;
}

/** A stored tree as its owner records it: its root's id (0: the empty tree), root hash and number of keys. */
export interface MptStoredTree {
  readonly root: number;
  readonly hash: Hash;
  readonly size: number;
}

/** A stored node that does not hash to what its parent (or the recorded root) holds: the store was damaged. */
export class MptIntegrityError extends Error {
  override readonly name = 'MptIntegrityError';
}

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

/** mptLeafHash of a packed value, written straight into one buffer. */
function packedLeafHash(key: Uint8Array, val: PackedHash, crypto: CryptoBackend): PackedHash {
  const k = varint(key.length);
  const v = varint(val.length);
  const input = new Uint8Array(1 + k.length + key.length + v.length + val.length);
  input.set(k, 1);
  input.set(key, 1 + k.length);
  let at = 1 + k.length + key.length;
  input.set(v, at);
  at += v.length;
  for (let i = 0; i < val.length; i++) input[at++] = val.charCodeAt(i);
  return pack(crypto.sha256(input));
}

const EMPTY_PACKED = pack(MPT_EMPTY_ROOT);
/** The generation of nodes read from a store: below every tree's, so frozen. */
const STORED = 0;

/** A node's row: inner 0x01 || varint bit || varint left id || varint right id || left hash || right hash; leaf 0x00 || varint len(key) || key || val. */
function encodeRow(n: Node, left: number, right: number): Uint8Array {
  if (n instanceof Leaf) {
    const k = varint(n.key.length);
    const out = new Uint8Array(1 + k.length + n.key.length + n.val.length);
    out.set(k, 1);
    out.set(n.key, 1 + k.length);
    let at = 1 + k.length + n.key.length;
    for (let i = 0; i < n.val.length; i++) out[at++] = n.val.charCodeAt(i);
    return out;
  }
  const b = varint(n.bit);
  const l = varint(left);
  const r = varint(right);
  const out = new Uint8Array(1 + b.length + l.length + r.length + 64);
  out[0] = 1;
  out.set(b, 1);
  out.set(l, 1 + b.length);
  out.set(r, 1 + b.length + l.length);
  let at = 1 + b.length + l.length + r.length;
  for (const h of [n.lh as PackedHash, n.rh as PackedHash]) for (let i = 0; i < 32; i++) out[at++] = h.charCodeAt(i);
  return out;
}

function decodeRow(row: Uint8Array, id: number): Node {
  try {
    if (row[0] === 1) {
      const [bit, afterBit] = readVarint(row, 1);
      const [left, afterLeft] = readVarint(row, afterBit);
      const [right, at] = readVarint(row, afterLeft);
      if (at + 64 !== row.length || left === 0 || right === 0) throw new MptProofError('an inner node row has the wrong length or a zero child');
      return new Inner(STORED, id, bit, left, right, pack(row.subarray(at, at + 32)), pack(row.subarray(at + 32, at + 64)));
    }
    if (row[0] !== 0) throw new MptProofError(`a node row begins with ${row[0]}`);
    const [keyLength, at] = readVarint(row, 1);
    if (keyLength > MAX_KEY_BYTES || at + keyLength > row.length) throw new MptProofError('a leaf row is truncated');
    return new Leaf(STORED, id, row.slice(at, at + keyLength), pack(row.subarray(at + keyLength)));
  } catch (error) {
    if (error instanceof MptProofError) throw new MptIntegrityError(`stored node ${id} is malformed: ${error.message}`);
    throw error;
  }
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
  private root: Child | null = null;
  /** The root's hash while it is known (null: the root changed since, recomputed when asked). */
  private rootHashHeld: PackedHash | null = EMPTY_PACKED;
  private count = 0;
  /** Nodes of this generation are the tree's own: changed in place. flush and snapshot freeze them. */
  private gen = 1;
  /** Nodes read from the store or written to it since the last unload: what `unload` bounds. */
  private residentCount = 0;
  private replacedIds: number[] = [];
  /** The roots of the snapshots still served: unload trims them too. */
  private readonly live = new Set<{ root: Child | null }>();

  /** A tree in memory, or (with `pages`) one whose nodes live in a store, opened at `stored` (what an earlier flush returned). */
  constructor(
    private readonly crypto: CryptoBackend = portableCrypto,
    private readonly pages: MptPages | null = null,
    stored?: MptStoredTree,
  ) {
    if (stored && stored.root !== 0) {
      if (!pages) throw new TypeError('a stored tree needs its node store');
      this.root = stored.root;
      this.rootHashHeld = pack(stored.hash);
      this.count = stored.size;
    }
  }

  get size(): number {
    return this.count;
  }

  /** Nodes held in memory that `unload` could drop (read or flushed since the last unload; an estimate). */
  get resident(): number {
    return this.residentCount;
  }

  /** Whether the tree changed since its last flush (or, in memory, its last snapshot). */
  get dirty(): boolean {
    return this.root !== null && typeof this.root !== 'number' && this.root.gen === this.gen;
  }

  rootHash(): Hash {
    return unpack(this.packedRoot());
  }

  get(key: Uint8Array): Uint8Array | null {
    const leaf = this.reach(key);
    return leaf && bytesEqual(leaf.key, key) ? unpack(leaf.val) : null;
  }

  /**
   * Adds or replaces a pair, copying only the frozen nodes on the path to it (hashes wait for the next root,
   * proof or flush). Returns the key array the tree keeps: on a replacement, the one it already held (so that a
   * caller can hand one array per key to several trees rather than keep a copy per update).
   */
  set(key: Uint8Array, val: Uint8Array): Uint8Array {
    return this.update(key, () => val);
  }

  /** set(key, next(the value held now, or null)): one lookup for a read-modify-write. */
  update(key: Uint8Array, next: (held: Uint8Array | null) => Uint8Array): Uint8Array {
    if (key.length > MAX_KEY_BYTES) throw new RangeError(`keys are at most ${MAX_KEY_BYTES} bytes`);
    const top = this.rootNode();
    if (top === null) {
      this.root = new Leaf(this.gen, 0, key, pack(next(null)));
      this.rootHashHeld = null;
      this.count = 1;
      return key;
    }
    let reached: Node = top;
    while (reached instanceof Inner) reached = this.childOf(reached, keyBit(key, reached.bit) === 1);
    const diff = firstDifference(key, reached.key);
    const val = pack(next(diff === null ? unpack(reached.val) : null));
    this.rootHashHeld = null;
    let parent: Inner | null = null;
    let right = false;
    let node: Node = top;
    // Own every node down to the leaf (a replacement) or to where the new inner node goes (an insertion).
    while (diff === null || (node instanceof Inner && node.bit < diff)) {
      const owned = this.own(node);
      if (parent === null) this.root = owned;
      else if (right) parent.right = owned;
      else parent.left = owned;
      if (owned instanceof Leaf) {
        owned.val = val;
        return owned.key;
      }
      parent = owned;
      right = keyBit(key, owned.bit) === 1;
      if (right) owned.rh = null;
      else owned.lh = null;
      node = this.childOf(owned, right);
    }
    const fresh = new Leaf(this.gen, 0, key, val);
    const freshRight = keyBit(key, diff) === 1;
    const joined = new Inner(this.gen, 0, diff, freshRight ? node : fresh, freshRight ? fresh : node, null, null);
    if (parent === null) this.root = joined;
    else if (right) parent.right = joined;
    else parent.left = joined;
    this.count++;
    return key;
  }

  /** Every pair, in key order (the tree's left-to-right leaf order). Stored nodes it reads are not kept in memory. */
  *entries(): Generator<{ key: Uint8Array; val: Uint8Array }> {
    const top = this.rootNode();
    const stack: Node[] = top ? [top] : [];
    while (stack.length > 0) {
      const n = stack.pop() as Node;
      if (n instanceof Leaf) yield { key: n.key, val: unpack(n.val) };
      else stack.push(this.childOf(n, true, false), this.childOf(n, false, false));
    }
  }

  /** The leaf-to-root path a lookup of `key` takes, and the leaf it ends at (null for an empty tree). */
  path(key: Uint8Array): { leaf: { key: Uint8Array; val: Uint8Array } | null; steps: PathStep[] } {
    this.packedRoot();
    const { leaf, steps } = this.pathFrom(this.rootNode(), key);
    return { leaf: leaf && { key: leaf.key, val: unpack(leaf.val) }, steps };
  }

  /** A lookup claim and its proof, in torchwood's encoding: the value (null if absent) and the proof bytes. */
  proveLookup(key: Uint8Array): { val: Uint8Array | null; proof: Uint8Array } {
    this.packedRoot();
    return this.proveFrom(this.rootNode(), key);
  }

  /**
   * The tree as it is now, unchanged by later updates (its nodes are frozen: a later change copies them), so
   * that proofs can be served as of a committed size while the tree moves on. A stored tree is flushed first;
   * `release` lets `unload` stop keeping the snapshot's nodes.
   */
  snapshot(): MptSnapshot {
    const hash = this.packedRoot();
    if (this.pages && this.dirty) throw new TypeError('a stored tree is flushed before its snapshot is taken');
    const holder = { root: this.root };
    if (this.pages) this.live.add(holder);
    this.gen++;
    return {
      rootHash: () => unpack(hash),
      proveLookup: (key) => {
        if (typeof holder.root === 'number') holder.root = this.load(holder.root, hash);
        return this.proveFrom(holder.root, key);
      },
      release: () => void this.live.delete(holder),
    };
  }

  /**
   * Writes every node changed since the last flush under a fresh id (children before parents) and freezes
   * them; returns what the owner records to open the tree again. `write` runs in the owner's transaction.
   */
  flush(write: (id: number, row: Uint8Array) => void): MptStoredTree {
    if (!this.pages) throw new TypeError('only a stored tree is flushed');
    const hash = unpack(this.packedRoot());
    const root = this.root;
    if (root === null) return { root: 0, hash, size: 0 };
    const id = typeof root === 'number' ? root : this.persist(root, write);
    this.gen++;
    return { root: id, hash, size: this.count };
  }

  /** The ids of stored nodes the tree no longer holds since the last call (snapshots may: the owner frees them later). */
  takeReplaced(): number[] {
    const ids = this.replacedIds;
    this.replacedIds = [];
    return ids;
  }

  /**
   * Keeps at most about `keep` stored nodes in memory (the top of the tree, breadth first, for the tree and for
   * each snapshot still served); the others are read again on their next use. Nodes changed since the last
   * flush are always kept.
   */
  unload(keep: number): void {
    if (!this.pages) return;
    let kept = this.trim(this.root, keep);
    for (const holder of this.live) kept += this.trim(holder.root, keep);
    this.residentCount = kept;
  }

  private packedRoot(): PackedHash {
    if (this.root === null) return EMPTY_PACKED;
    // A root whose hash is not held changed since: it is in memory.
    this.rootHashHeld ??= this.hashOf(this.root as Node);
    return this.rootHashHeld;
  }

  /** A node's hash, computing (and keeping in the parents) the hashes of its changed descendants, once. */
  private hashOf(n: Node): PackedHash {
    if (n instanceof Leaf) return packedLeafHash(n.key, n.val, this.crypto);
    n.lh ??= this.hashOf(n.left as Node);
    n.rh ??= this.hashOf(n.right as Node);
    return packedInnerHash(n.bit, n.lh, n.rh, this.crypto);
  }

  /** Reads a stored node and checks it against the hash its parent holds. */
  private load(id: number, expected: PackedHash | null): Node {
    if (!this.pages) throw new TypeError('a stored child without a node store');
    const node = decodeRow(this.pages.read(id), id);
    if (expected === null || this.hashOf(node) !== expected) {
      throw new MptIntegrityError(`stored node ${id} does not hash to what its parent holds: the node store was changed or damaged`);
    }
    return node;
  }

  /** A child, read from the store when it is not in memory (and kept there, unless `keep` is false). */
  private childOf(n: Inner, right: boolean, keep = true): Node {
    const c = right ? n.right : n.left;
    if (typeof c !== 'number') return c;
    const node = this.load(c, right ? n.rh : n.lh);
    if (!keep) return node;
    this.residentCount++;
    if (right) n.right = node;
    else n.left = node;
    return node;
  }

  private rootNode(): Node | null {
    if (typeof this.root === 'number') {
      this.root = this.load(this.root, this.rootHashHeld);
      this.residentCount++;
    }
    return this.root;
  }

  private reach(key: Uint8Array): Leaf | null {
    let n = this.rootNode();
    if (!n) return null;
    while (n instanceof Inner) n = this.childOf(n, keyBit(key, n.bit) === 1);
    return n;
  }

  /** The node itself if it is of this generation, else a copy of it that is (the frozen one stays for its snapshots). */
  private own(n: Node): Node {
    if (n.gen === this.gen) return n;
    if (n.id !== 0) this.replacedIds.push(n.id);
    return n instanceof Leaf ? new Leaf(this.gen, 0, n.key, n.val) : new Inner(this.gen, 0, n.bit, n.left, n.right, n.lh, n.rh);
  }

  private persist(n: Node, write: (id: number, row: Uint8Array) => void): number {
    if (n.gen !== this.gen) {
      if (n.id === 0) throw new TypeError('a frozen node of a stored tree was never stored');
      return n.id;
    }
    const pages = this.pages as MptPages;
    let left = 0;
    let right = 0;
    if (n instanceof Inner) {
      left = typeof n.left === 'number' ? n.left : this.persist(n.left, write);
      right = typeof n.right === 'number' ? n.right : this.persist(n.right, write);
    }
    n.id = pages.allocate();
    write(n.id, encodeRow(n, left, right));
    this.residentCount++;
    return n.id;
  }

  /** Replaces stored children beyond the first `keep` nodes (breadth first) by their ids; returns how many stay. */
  private trim(top: Child | null, keep: number): number {
    if (top === null || typeof top === 'number') return 0;
    const queue: Inner[] = top instanceof Inner ? [top] : [];
    let kept = 1;
    for (let i = 0; i < queue.length; i++) {
      const n = queue[i] as Inner;
      for (let side = 0; side < 2; side++) {
        const c = side === 1 ? n.right : n.left;
        if (typeof c === 'number') continue;
        if (kept >= keep && c.id !== 0 && (side === 1 ? n.rh : n.lh) !== null) {
          if (side === 1) n.right = c.id;
          else n.left = c.id;
          continue;
        }
        kept++;
        if (c instanceof Inner) queue.push(c);
      }
    }
    return kept;
  }

  private pathFrom(root: Node | null, key: Uint8Array): { leaf: Leaf | null; steps: PathStep[] } {
    const steps: PathStep[] = [];
    let n = root;
    if (!n) return { leaf: null, steps };
    while (n instanceof Inner) {
      const right = keyBit(key, n.bit) === 1;
      steps.push({ bit: n.bit, sibling: unpack((right ? n.lh : n.rh) as PackedHash) });
      n = this.childOf(n, right);
    }
    return { leaf: n, steps: steps.reverse() };
  }

  private proveFrom(root: Node | null, key: Uint8Array): { val: Uint8Array | null; proof: Uint8Array } {
    const { leaf, steps } = this.pathFrom(root, key);
    if (!leaf) return { val: null, proof: new Uint8Array(0) };
    const encodedSteps = steps.map((s) => concatBytes(varint(s.bit), s.sibling));
    const val = unpack(leaf.val);
    if (bytesEqual(leaf.key, key)) return { val, proof: concatBytes(...encodedSteps) };
    return { val: null, proof: concatBytes(varint(leaf.key.length), leaf.key, varint(val.length), val, ...encodedSteps) };
  }
}

export interface MptSnapshot {
  rootHash(): Hash;
  proveLookup(key: Uint8Array): { val: Uint8Array | null; proof: Uint8Array };
  /** The snapshot is no longer served (a stored tree stops keeping its nodes in memory). */
  release?(): void;
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
