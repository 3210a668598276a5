/**
 * Shared inclusion proofs (src/evidence/shared-proofs.ts) are, leaf for leaf, the proofs RFC 6962's PATH
 * gives one by one (src/merkle/proofs.ts over an in-memory tree), for every tree size up to 70 and random
 * sets of leaves: runs inside one block, runs crossing blocks, leaves near the incomplete right edge. And the
 * export verifier's joint check of a unit's proofs gives, for genuine and edited proofs, the verdict of
 * verifyInclusion applied to each.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { portableCrypto } from '../src/crypto/backend.ts';
import { utf8 } from '../src/crypto/encoding.ts';
import { leafHash, nodeHash, type Hash } from '../src/merkle/hash.ts';
import { inclusionProof, MemoryTree, rootHash, verifyInclusion, type SubtreeSource } from '../src/merkle/proofs.ts';
import { allIncluded } from '../src/verify/export.ts';
import type { Decoded } from '../src/verify/steps.ts';
import type { Checkpoint } from '../src/tlog/checkpoint.ts';
import { inclusionProofs, type ProofSource } from '../src/evidence/shared-proofs.ts';

const leaves = Array.from({ length: 70 }, (_, i) => leafHash(utf8(`leaf ${i}`), portableCrypto));
// The proofs the export verifier checks jointly are these same trees' (src/verify/export.ts allIncluded).
/** A tree whose perfect subtrees are hashed from the leaves each time: the reference, nothing stored. */
const perfect = (level: number, index: number): Hash => (level === 0 ? (leaves[index] as Hash) : nodeHash(perfect(level - 1, 2 * index), perfect(level - 1, 2 * index + 1), portableCrypto));
const tree: SubtreeSource = { perfect };

function source(asked: { proofs: number; leaves: number }): ProofSource {
  return {
    inclusionProof: async (index, size) => (asked.proofs++, inclusionProof(tree, index, size, portableCrypto)),
    leafHashAt: async (index) => (asked.leaves++, leaves[index] as Hash),
  };
}

describe('shared inclusion proofs', () => {
  it('equal the one-by-one proofs for any leaves of any tree', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 70 }).chain((size) => fc.tuple(fc.constant(size), fc.uniqueArray(fc.integer({ min: 0, max: size - 1 }), { minLength: 1, maxLength: 12 }))),
        async ([size, indexes]) => {
          const proofs = await inclusionProofs(source({ proofs: 0, leaves: 0 }), indexes, size, portableCrypto);
          expect([...proofs.keys()].sort((a, b) => a - b)).toEqual([...indexes].sort((a, b) => a - b));
          for (const i of indexes) expect(proofs.get(i)).toEqual(inclusionProof(tree, i, size, portableCrypto));
        },
      ),
      { numRuns: 150 },
    );
  });

  it("asks the log for one proof for a unit's six consecutive leaves, and the leaf hashes of their block", async () => {
    const asked = { proofs: 0, leaves: 0 };
    const unit = [17, 18, 19, 20, 21, 22];
    const proofs = await inclusionProofs(source(asked), unit, 70, portableCrypto);
    for (const i of unit) expect(proofs.get(i)).toEqual(inclusionProof(tree, i, 70, portableCrypto));
    // Leaves 17..22 lie in the block of 8 from 16: its 8 leaf hashes and one proof (of 16).
    expect(asked).toEqual({ proofs: 1, leaves: 8 });
  });
});

describe('shared inclusion proofs over many units (an export step)', () => {
  const big = new MemoryTree(portableCrypto);
  const bigLeaves = Array.from({ length: 3000 }, (_, i) => leafHash(utf8(`big leaf ${i}`), portableCrypto));
  for (const leaf of bigLeaves) big.append(leaf);
  const bigSource = (asked: { proofs: number; leaves: number }): ProofSource => ({
    inclusionProof: async (index, size) => (asked.proofs++, inclusionProof(big, index, size, portableCrypto)),
    leafHashAt: async (index) => (asked.leaves++, bigLeaves[index] as Hash),
    leafHashes: async (start, count) => ((asked.leaves += count), bigLeaves.slice(start, start + count)),
  });

  it('equal the one-by-one proofs for dense runs, sparse picks and runs ending at the right edge, in trees up to 3,000 leaves', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3000 }).chain((size) =>
          fc.tuple(
            fc.constant(size),
            // Runs of consecutive leaves (units' events, units of a batch) with gaps between them.
            fc.array(fc.tuple(fc.integer({ min: 0, max: size - 1 }), fc.integer({ min: 1, max: 700 })), { minLength: 1, maxLength: 5 }),
          ),
        ),
        async ([size, runs]) => {
          const indexes = [...new Set(runs.flatMap(([start, length]) => Array.from({ length: Math.min(length, size - start) }, (_, k) => start + k)))];
          const proofs = await inclusionProofs(bigSource({ proofs: 0, leaves: 0 }), indexes, size, portableCrypto);
          expect(proofs.size).toBe(indexes.length);
          for (const i of indexes) expect(proofs.get(i)).toEqual(inclusionProof(big, i, size, portableCrypto));
        },
      ),
      { numRuns: 25 },
    );
  });

  it('asks for one proof per dense block of up to 1,024 leaves, and reads no more than twice the leaves asked for beyond small blocks', async () => {
    const asked = { proofs: 0, leaves: 0 };
    const run = Array.from({ length: 2048 }, (_, k) => k); // 341 units of six events, from leaf 0
    await inclusionProofs(bigSource(asked), run, 3000, portableCrypto);
    expect(asked).toEqual({ proofs: 2, leaves: 2048 });
    const sparse = { proofs: 0, leaves: 0 };
    // Every 50th unit of six events: each its own small block.
    const picked = Array.from({ length: 9 }, (_, u) => Array.from({ length: 6 }, (_, k) => u * 300 + k)).flat();
    await inclusionProofs(bigSource(sparse), picked, 3000, portableCrypto);
    // A unit that straddles a block of 32 is two groups (1500..1503 and 1504..1505): still small blocks.
    expect(sparse.proofs).toBe(10);
    expect(sparse.leaves).toBeLessThanOrEqual(10 * 32);
  });
});

describe("the export verifier's joint check of a unit's proofs", () => {
  const dataOf = (i: number) => utf8(`leaf ${i}`);
  it('gives the verdict of verifyInclusion entry by entry, for genuine proofs and for every edit of one', async () => {
    await fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 70 }).chain((size) => fc.tuple(fc.constant(size), fc.uniqueArray(fc.integer({ min: 0, max: size - 1 }), { minLength: 1, maxLength: 8 }))),
        fc.option(fc.tuple(fc.nat(), fc.nat(), fc.integer({ min: 0, max: 31 }), fc.constantFrom('flip', 'drop', 'swap', 'leaf')), { nil: undefined }),
        ([size, indexes], edit) => {
          const root = rootHash({ perfect }, size, portableCrypto);
          const entries = indexes.map((leafIndex) => ({ d: { leafIndex, bytes: dataOf(leafIndex) } as Decoded, proof: inclusionProof(tree, leafIndex, size, portableCrypto) }));
          if (edit) {
            const [which, at, byte, kind] = edit;
            const entry = entries[which % entries.length]!;
            const proof = [...entry.proof];
            if (kind === 'flip' && proof.length > 0) {
              const h = proof[at % proof.length]!.slice();
              h[byte] = h[byte]! ^ 1;
              proof[at % proof.length] = h;
            } else if (kind === 'drop') proof.splice(at % Math.max(1, proof.length), 1);
            else if (kind === 'swap' && proof.length > 1) proof.reverse();
            else if (kind === 'leaf') entry.d = { ...entry.d, bytes: dataOf(entry.d.leafIndex + 1000) } as Decoded;
            entry.proof = proof;
          }
          const expected = entries.every(({ d, proof }) => verifyInclusion(leafHash(d.bytes, portableCrypto), d.leafIndex, size, proof, root, portableCrypto));
          expect(allIncluded(entries, { size, root } as Checkpoint, portableCrypto)).toBe(expected);
        },
      ),
      { numRuns: 400 },
    );
  });
});
