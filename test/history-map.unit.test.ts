/**
 * The Merkle Patricia Tree (src/tlog/mpt.ts) against torchwood's own vectors (test/vectors/format/map/, excerpts
 * with their source), insertion-order independence, and proofs made by our tree checked by our verifier.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fromHex, toHex, utf8 } from '../src/crypto/encoding.ts';
import { portableCrypto } from '../src/crypto/backend.ts';
import { leafHash } from '../src/merkle/hash.ts';
import { historyKey, UnitHistoryMap, verifyCompleteHistory } from '../src/verify/history-map.ts';
import { VerificationError } from '../src/verify/errors.ts';
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

describe('unit history map (docs/format.md §13)', () => {
  // A synthetic log: leaf i is "event i", of unit U-(i mod 3) for most leaves, and of no unit (station or
  // checkpoint records) every fifth leaf.
  const log = Array.from({ length: 60 }, (_, i) => ({ leafHash: leafHash(utf8(`event ${i}`)), serial: i % 5 === 4 ? null : `U-${i % 3}` }));
  const build = (n: number, crypto = portableCrypto) => {
    const map = new UnitHistoryMap(crypto);
    for (const l of log.slice(0, n)) map.append(l.leafHash, l.serial);
    return map;
  };
  const eventsOf = (serial: string, n: number) => log.slice(0, n).flatMap((l, leafIndex) => (l.serial === serial ? [{ leafIndex, leafHash: l.leafHash }] : []));

  it('rebuilds to the identical root on either crypto backend; a unit leaf changes the root, any other leaf does not', () => {
    expect(toHex(build(60).root())).toBe(toHex(build(60, nativeCrypto).root()));
    expect(toHex(build(59).root())).toBe(toHex(build(60).root())); // leaf 59 is no unit's
    expect(toHex(build(58).root())).not.toBe(toHex(build(59).root())); // leaf 58 is U-1's
    expect(build(0).root()).toEqual(MPT_EMPTY_ROOT);
  });

  it("proves a unit's complete history as of a size, and names what a document left out", () => {
    const map = build(60);
    const { value, proof } = map.prove('U-1');
    const claim = { root: map.root(), size: 60, value: value as Uint8Array, proof };
    const all = eventsOf('U-1', 60);
    expect(verifyCompleteHistory('U-1', all, claim)).toMatchObject({ count: all.length, lastLeaf: all[all.length - 1]!.leafIndex });
    // The last event dropped: the map still holds it.
    const dropped = all.slice(0, -1);
    let error: VerificationError | undefined;
    try {
      verifyCompleteHistory('U-1', dropped, claim);
    } catch (e) {
      error = e as VerificationError;
    }
    expect(error?.code).toBe('HISTORY_INCOMPLETE');
    expect(error?.message).toBe(`unit U-1: the log's first 60 leaves hold ${all.length} event(s) of it up to leaf ${all[all.length - 1]!.leafIndex}; the document holds ${dropped.length} event(s) up to leaf ${dropped[dropped.length - 1]!.leafIndex}: 1 event(s) are missing, the last at leaf ${all[all.length - 1]!.leafIndex}`);
    expect(error?.location).toMatchObject({ serial: 'U-1', leafIndex: all[all.length - 1]!.leafIndex });
    // An event in the middle replaced by another leaf: same count, other chain.
    const swapped = all.map((e, i) => (i === 3 ? { ...e, leafHash: leafHash(utf8('forged')) } : e));
    expect(() => verifyCompleteHistory('U-1', swapped, claim)).toThrow(/one was replaced/);
    // Another unit's proof, or a value the proof does not carry, is refused.
    expect(() => verifyCompleteHistory('U-2', eventsOf('U-2', 60), claim)).toThrow(/does not show this history value/);
  });

  it('an older map root shows the history complete as of its own size only', () => {
    const older = build(30);
    const { value, proof } = older.prove('U-1');
    const claim = { root: older.root(), size: 30, value: value as Uint8Array, proof };
    expect(verifyCompleteHistory('U-1', eventsOf('U-1', 30), claim).count).toBe(eventsOf('U-1', 30).length);
    expect(() => verifyCompleteHistory('U-1', eventsOf('U-1', 60), claim)).toThrow(VerificationError);
  });

  it('proves a serial the log never saw absent', () => {
    const map = build(60);
    const { value, proof } = map.prove('U-9');
    expect(value).toBeNull();
    expect(verifyLookup(map.root(), historyKey('U-9'), null, proof)).toBe(true);
    expect(verifyLookup(map.root(), historyKey('U-1'), null, map.prove('U-1').proof)).toBe(false);
  });
});
