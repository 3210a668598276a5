import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import vectors from './vectors/rfc6962-merkle.json' with { type: 'json' };
import { EMPTY_ROOT, leafHash } from '../src/merkle/hash.ts';
import { MemoryTree, consistencyProof, inclusionProof, rootHash, verifyConsistency, verifyInclusion } from '../src/merkle/proofs.ts';
import { MerkleLog } from '../src/read/merkle-log.ts';
import { SqliteEventStore } from '../src/store/sqlite.ts';
import { fromHex, toHex } from '../src/crypto/encoding.ts';

const treeOf = (leaves: Uint8Array[]) => {
  const t = new MemoryTree();
  for (const l of leaves) t.append(leafHash(l));
  return t;
};
const ctTree = treeOf(vectors.leaves.map(fromHex));

describe('RFC 6962 Merkle tree (reference vectors)', () => {
  it('empty root and the root of every size 1..8', () => {
    expect(toHex(EMPTY_ROOT)).toBe(vectors.emptyRoot);
    for (let n = 1; n <= 8; n++) expect(toHex(rootHash(ctTree, n)), `size ${n}`).toBe(vectors.roots[n - 1]);
  });
  it('inclusion proofs', () => {
    for (const v of vectors.inclusion) {
      expect(inclusionProof(ctTree, v.index, v.size).map(toHex)).toEqual(v.proof);
      const leaf = leafHash(fromHex(vectors.leaves[v.index]!));
      expect(verifyInclusion(leaf, v.index, v.size, v.proof.map(fromHex), fromHex(vectors.roots[v.size - 1]!))).toBe(true);
    }
  });
  it('consistency proofs', () => {
    for (const v of vectors.consistency) {
      expect(consistencyProof(ctTree, v.from, v.to).map(toHex)).toEqual(v.proof);
      expect(verifyConsistency(v.from, v.to, fromHex(vectors.roots[v.from - 1]!), fromHex(vectors.roots[v.to - 1]!), v.proof.map(fromHex))).toBe(true);
    }
  });
});

describe('Merkle proofs, exhaustively for small trees', () => {
  const N = 33;
  const tree = treeOf(Array.from({ length: N }, (_, i) => Uint8Array.of(i, i * 7, 255 - i)));
  const roots = Array.from({ length: N + 1 }, (_, n) => rootHash(tree, n));
  const flip = (h: Uint8Array) => {
    const c = h.slice();
    c[0] = (c[0] as number) ^ 1;
    return c;
  };

  it('every index of every size: the proof verifies, and fails for a wrong leaf, index, size or proof', () => {
    for (let size = 1; size <= N; size++) {
      for (let index = 0; index < size; index++) {
        const leaf = tree.perfect(0, index);
        const proof = inclusionProof(tree, index, size);
        expect(verifyInclusion(leaf, index, size, proof, roots[size]!)).toBe(true);
        expect(verifyInclusion(flip(leaf), index, size, proof, roots[size]!)).toBe(false);
        if (size > 1) expect(verifyInclusion(leaf, (index + 1) % size, size, proof, roots[size]!)).toBe(false);
        if (size < N) expect(verifyInclusion(leaf, index, size, proof, roots[size + 1]!)).toBe(false);
        if (proof.length > 0) {
          expect(verifyInclusion(leaf, index, size, [...proof.slice(0, -1), flip(proof[proof.length - 1]!)], roots[size]!)).toBe(false);
          expect(verifyInclusion(leaf, index, size, proof.slice(0, -1), roots[size]!)).toBe(false);
        }
        expect(verifyInclusion(leaf, index, size, [...proof, roots[1]!], roots[size]!)).toBe(false);
      }
    }
  });

  it('every pair of sizes: consistency verifies, and fails against a different root', () => {
    for (let to = 1; to <= N; to++) {
      for (let from = 1; from <= to; from++) {
        const proof = consistencyProof(tree, from, to);
        expect(verifyConsistency(from, to, roots[from]!, roots[to]!, proof), `${from}→${to}`).toBe(true);
        expect(verifyConsistency(from, to, flip(roots[from]!), roots[to]!, proof)).toBe(false);
        if (from < to) {
          expect(verifyConsistency(from, to, roots[from]!, flip(roots[to]!), proof)).toBe(false);
          expect(verifyConsistency(to, from, roots[to]!, roots[from]!, proof)).toBe(false);
        }
      }
    }
    expect(verifyConsistency(0, 5, EMPTY_ROOT, roots[5]!, [])).toBe(true);
  });
});

describe('persistent Merkle log', () => {
  it('matches the in-memory tree at every size, serves the same proofs, and rebuilds to the identical root', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flashtrail-merkle-'));
    const store = new SqliteEventStore(join(dir, 'events.sqlite'));
    const log = new MerkleLog(store, join(dir, 'merkle.sqlite'));
    const reference = new MemoryTree();
    for (let i = 0; i < 70; i++) {
      const data = new TextEncoder().encode(`{"n":${i}}`);
      await store.appendToStream(`s-${i % 5}`, [{ id: randomUUID(), type: 'T', data }]);
      reference.append(leafHash(data));
      if (i % 9 === 0) {
        await log.catchUp();
        expect(toHex(log.root())).toBe(toHex(rootHash(reference, reference.size)));
      }
    }
    await log.catchUp();
    expect(log.size).toBe(70);
    for (const [index, size] of [[0, 70], [63, 64], [69, 70], [12, 41]] as const) {
      expect(log.inclusionProof(index, size).map(toHex)).toEqual(inclusionProof(reference, index, size).map(toHex));
    }
    expect(log.consistencyProof(13, 70).map(toHex)).toEqual(consistencyProof(reference, 13, 70).map(toHex));
    expect(() => log.inclusionProof(0, 71)).toThrow(RangeError);
    const root = toHex(log.root());
    await log.rebuild();
    expect(toHex(log.root())).toBe(root);
    log.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
});
