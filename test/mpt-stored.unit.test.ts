/**
 * The Merkle Patricia Tree kept in a node store (src/tlog/mpt.ts MptPages; unit-map.sqlite in a ledger): the same
 * roots and proofs as the tree in memory after any mix of changes, flushes, unloads and reopens; snapshots that
 * keep proving their own size while the tree moves on; and a damaged row detected when it is read, never turned
 * into a wrong root.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MerklePatriciaTree, MptIntegrityError, verifyLookup, type MptPages, type MptStoredTree } from '../src/tlog/mpt.ts';
import { toHex } from '../src/crypto/encoding.ts';

/** A node store in a Map, counting reads. */
function pages(): MptPages & { rows: Map<number, Uint8Array>; reads: number } {
  let next = 1;
  const store = {
    rows: new Map<number, Uint8Array>(),
    reads: 0,
    read(id: number) {
      store.reads++;
      const row = store.rows.get(id);
      if (!row) throw new Error(`no row ${id}`);
      return row;
    },
    allocate: () => next++,
  };
  return store;
}

const key = (n: number) => Uint8Array.of(n & 0xff, (n >> 8) & 0xff, 7, n % 3);

describe('a Merkle Patricia Tree in a node store', () => {
  it('gives the in-memory tree\'s roots and proofs through changes, flushes, unloads and reopens', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 9 })), { minLength: 1, maxLength: 120 }), (ops) => {
        const memory = new MerklePatriciaTree();
        const store = pages();
        let stored = new MerklePatriciaTree(undefined, store);
        let record: MptStoredTree = { root: 0, hash: memory.rootHash(), size: 0 };
        for (const [k, v, action] of ops) {
          memory.set(key(k), Uint8Array.of(v));
          stored.set(key(k), Uint8Array.of(v));
          if (action >= 5) record = stored.flush((id, row) => store.rows.set(id, row));
          if (action === 6) stored.unload(2);
          if (action === 7) {
            // Reopened from what the last flush recorded, with the changes since lost (as after a crash).
            stored = new MerklePatriciaTree(undefined, store, record);
            expect(toHex(stored.rootHash())).toBe(toHex(record.hash));
            expect(stored.size).toBe(record.size);
            // Catch up with the memory tree by replaying it.
            for (const { key: kk, val } of memory.entries()) stored.set(kk, val);
          }
          expect(toHex(stored.rootHash())).toBe(toHex(memory.rootHash()));
        }
        expect(stored.size).toBe(memory.size);
        const root = memory.rootHash();
        for (const k of [0, 1, 150, 300, 301]) {
          const a = memory.proveLookup(key(k));
          const b = stored.proveLookup(key(k));
          expect(b).toEqual(a);
          expect(verifyLookup(root, key(k), b.val, b.proof)).toBe(true);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('serves a snapshot as of its flush while the tree changes, unloads and frees the nodes it replaced', () => {
    const store = pages();
    const tree = new MerklePatriciaTree(undefined, store);
    for (let i = 0; i < 200; i++) tree.set(key(i), Uint8Array.of(i));
    tree.flush((id, row) => store.rows.set(id, row));
    const snapshot = tree.snapshot();
    const then = snapshot.rootHash();
    const proofThen = snapshot.proveLookup(key(5));
    for (let i = 0; i < 200; i += 2) tree.set(key(i), Uint8Array.of(255 - i));
    tree.flush((id, row) => store.rows.set(id, row));
    tree.unload(3);
    expect(tree.resident).toBeLessThanOrEqual(6);
    const replaced = tree.takeReplaced();
    expect(replaced.length).toBeGreaterThan(100);
    // The snapshot still proves its own size, reading its nodes again.
    expect(snapshot.proveLookup(key(5))).toEqual(proofThen);
    expect(verifyLookup(then, key(4), Uint8Array.of(4), snapshot.proveLookup(key(4)).proof)).toBe(true);
    // Once released, the replaced rows can go: the tree itself never reads them.
    snapshot.release?.();
    for (const id of replaced) store.rows.delete(id);
    tree.unload(1);
    for (let i = 0; i < 200; i++) expect(tree.get(key(i))).toEqual(Uint8Array.of(i % 2 === 0 ? 255 - i : i));
  });

  it('reads a stored node once per use after an unload, and only the nodes on the path', () => {
    const store = pages();
    const tree = new MerklePatriciaTree(undefined, store);
    for (let i = 0; i < 256; i++) tree.set(Uint8Array.of(i), Uint8Array.of(i));
    tree.flush((id, row) => store.rows.set(id, row));
    tree.unload(1);
    store.reads = 0;
    expect(tree.get(Uint8Array.of(77))).toEqual(Uint8Array.of(77));
    // 256 one-byte keys: a complete tree of 8 levels. The root stays; 7 inner nodes below it and the leaf are read.
    expect(store.reads).toBe(8);
    store.reads = 0;
    tree.get(Uint8Array.of(77));
    expect(store.reads).toBe(0);
  });

  it('refuses a damaged row when it reads it, naming the node', () => {
    const store = pages();
    const tree = new MerklePatriciaTree(undefined, store);
    for (let i = 0; i < 64; i++) tree.set(key(i), Uint8Array.of(i));
    const record = tree.flush((id, row) => store.rows.set(id, row));
    // The leaf of key 9: its value byte is the row's last.
    const [id, row] = [...store.rows].find(([, r]) => r[0] === 0 && r[r.length - 1] === 9 && r.length === 1 + 1 + 4 + 1)!;
    store.rows.set(id, Uint8Array.from([...row.subarray(0, row.length - 1), 10]));
    const reopened = new MerklePatriciaTree(undefined, store, record);
    expect(reopened.get(key(8))).toEqual(Uint8Array.of(8));
    expect(() => reopened.get(key(9))).toThrow(MptIntegrityError);
    expect(() => reopened.get(key(9))).toThrow(new RegExp(`stored node ${id} does not hash`));
    // A root row that is not the recorded root.
    const wrong = new MerklePatriciaTree(undefined, store, { ...record, hash: new Uint8Array(32) });
    expect(() => wrong.get(key(1))).toThrow(MptIntegrityError);
  });
});
