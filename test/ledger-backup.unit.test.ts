/** `backup verify` recomputes the root in O(log n) memory: the same root as the RFC 6962 definition, at every size. */
import { describe, expect, it } from 'vitest';
import vectors from './vectors/rfc6962-merkle.json' with { type: 'json' };
import { EMPTY_ROOT, leafHash } from '../src/merkle/hash.ts';
import { MemoryTree, rootHash } from '../src/merkle/proofs.ts';
import { fromHex, toHex } from '../src/crypto/encoding.ts';
import { StreamingRoot } from '../src/server/ledger-backup.ts';

describe('StreamingRoot', () => {
  it('gives the RFC 6962 reference roots of sizes 0..8', () => {
    const s = new StreamingRoot();
    expect(toHex(s.root())).toBe(toHex(EMPTY_ROOT));
    vectors.leaves.forEach((leaf, i) => {
      s.push(leafHash(fromHex(leaf)));
      expect(toHex(s.root()), `size ${i + 1}`).toBe(vectors.roots[i]);
    });
  });

  it('equals the recursive definition at every size up to 300', () => {
    const s = new StreamingRoot();
    const reference = new MemoryTree();
    for (let n = 1; n <= 300; n++) {
      const leaf = leafHash(new TextEncoder().encode(`event ${n}`));
      s.push(leaf);
      reference.append(leaf);
      expect(toHex(s.root()), `size ${n}`).toBe(toHex(rootHash(reference, n)));
    }
  });
});
