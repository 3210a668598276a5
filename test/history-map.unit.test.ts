/**
 * The Merkle Patricia Tree (src/tlog/mpt.ts) against torchwood's own vectors (test/vectors/format/map/, excerpts
 * with their source), insertion-order independence, and proofs made by our tree checked by our verifier.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fromHex, toHex } from '../src/crypto/encoding.ts';
import { nativeCrypto } from '../src/native/crypto.ts';
import { MerklePatriciaTree, MPT_EMPTY_ROOT, verifyLookup } from '../src/tlog/mpt.ts';

const DIR = join(fileURLToPath(import.meta.url), '..', 'vectors', 'format', 'map');
const hex = (s: string) => (s === "''" ? new Uint8Array(0) : fromHex(s.replace(/\s+/g, '')));

function treehashCases(): { pairs: [Uint8Array, Uint8Array][]; hash: string }[] {
  const cases: { pairs: [Uint8Array, Uint8Array][]; hash: string }[] = [];
  let pairs: [Uint8Array, Uint8Array][] = [];
  for (const line of readFileSync(join(DIR, 'treehash.txt'), 'utf8').split('\n')) {
    if (line.startsWith('kv ')) {
      const [, k, v] = line.split(' ') as [string, string, string];
      pairs.push([hex(k), hex(v)]);
    } else if (line.startsWith('hash ')) {
      cases.push({ pairs, hash: line.slice(5) });
      pairs = [];
    }
  }
  return cases;
}

function verifyCases(): { snap: string; key: Uint8Array; val: Uint8Array | null; proof: Uint8Array; ok: boolean }[] {
  const cases = [];
  let c: Record<string, string> = {};
  for (const line of readFileSync(join(DIR, 'verify.txt'), 'utf8').split('\n')) {
    const m = /^(snap|key|val|proof|verify) (.*)$/.exec(line);
    if (!m) continue;
    c[m[1] as string] = m[2] as string;
    if (m[1] === 'verify') {
      cases.push({ snap: c['snap'] as string, key: hex(c['key'] as string), val: c['val'] === '-' ? null : hex(c['val'] as string), proof: hex(c['proof'] as string), ok: c['verify'] === 'true' });
      c = {};
    }
  }
  return cases;
}

describe('Merkle Patricia Tree (torchwood mpt hashing)', () => {
  const hashes = treehashCases();
  it(`reproduces all ${hashes.length} tree hashes of torchwood's treehash vectors`, () => {
    expect(hashes.length).toBeGreaterThan(25);
    for (const { pairs, hash } of hashes) {
      const tree = new MerklePatriciaTree();
      for (const [k, v] of pairs) tree.set(k, v);
      expect(toHex(tree.rootHash()), `pairs ${pairs.map(([k]) => toHex(k).slice(0, 12)).join(',')}`).toBe(hash);
      // Inserted the other way round: the same tree.
      const reversed = new MerklePatriciaTree(nativeCrypto);
      for (const [k, v] of [...pairs].reverse()) reversed.set(k, v);
      expect(toHex(reversed.rootHash())).toBe(hash);
    }
  });

  const verifies = verifyCases();
  it(`agrees with all ${verifies.length} lookup verdicts of torchwood's verify vectors`, () => {
    expect(verifies.length).toBeGreaterThan(25);
    for (const v of verifies) expect(verifyLookup(fromHex(v.snap), v.key, v.val, v.proof), `${toHex(v.key).slice(0, 16)} ${toHex(v.proof).slice(0, 40)}`).toBe(v.ok);
  });

  it('proves presence and absence of random 32-byte keys, refuses wrong values, and keeps its root under replacement', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.uint8Array({ minLength: 32, maxLength: 32 }), { minLength: 1, maxLength: 40, selector: (k) => toHex(k) }), fc.uint8Array({ minLength: 32, maxLength: 32 }), (keys, absent) => {
        const tree = new MerklePatriciaTree();
        keys.forEach((k, i) => tree.set(k, Uint8Array.of(i)));
        const root = tree.rootHash();
        for (const [i, k] of keys.entries()) {
          const { val, proof } = tree.proveLookup(k);
          expect(val).toEqual(Uint8Array.of(i));
          expect(verifyLookup(root, k, Uint8Array.of(i), proof)).toBe(true);
          expect(verifyLookup(root, k, Uint8Array.of(i + 1), proof)).toBe(false);
          expect(verifyLookup(root, k, null, proof)).toBe(false);
        }
        if (!keys.some((k) => toHex(k) === toHex(absent))) {
          const { val, proof } = tree.proveLookup(absent);
          expect(val).toBeNull();
          expect(verifyLookup(root, absent, null, proof)).toBe(true);
          expect(verifyLookup(root, absent, Uint8Array.of(0), proof)).toBe(false);
        }
        // Replacing a value and putting it back restores the root.
        tree.set(keys[0] as Uint8Array, Uint8Array.of(255));
        expect(toHex(tree.rootHash())).not.toBe(toHex(root));
        tree.set(keys[0] as Uint8Array, Uint8Array.of(0));
        expect(toHex(tree.rootHash())).toBe(toHex(root));
        expect(tree.size).toBe(keys.length);
      }),
      { numRuns: 100 },
    );
  });

  it('the empty tree has the empty root and only the empty absence proof', () => {
    const tree = new MerklePatriciaTree();
    expect(tree.rootHash()).toEqual(MPT_EMPTY_ROOT);
    expect(tree.proveLookup(Uint8Array.of(1)).proof).toEqual(new Uint8Array(0));
    expect(verifyLookup(MPT_EMPTY_ROOT, Uint8Array.of(1), null, new Uint8Array(0))).toBe(true);
    expect(verifyLookup(MPT_EMPTY_ROOT, Uint8Array.of(1), Uint8Array.of(1), new Uint8Array(0))).toBe(false);
  });
});
