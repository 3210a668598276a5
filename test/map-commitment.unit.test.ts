/**
 * The unit history map's pieces that the ledger and every verifier share (docs/format.md §15): the commitment
 * leaf text, a map restored from persisted histories (same root as the incremental build), and snapshots that
 * later leaves do not change.
 */
import { describe, expect, it } from 'vitest';
import { formatCommitment, indexLogOrigin, parseCommitment } from '../src/verify/map-commitment.ts';
import { UnitHistoryMap, verifyCompleteHistory } from '../src/verify/history-map.ts';
import { portableCrypto } from '../src/crypto/backend.ts';
import { toBase64, toHex } from '../src/crypto/encoding.ts';
import { CheckpointFormatError } from '../src/tlog/checkpoint.ts';

const leaf = (i: number) => portableCrypto.sha256(Uint8Array.of(i, i >> 8));

describe('the commitment leaf (§15.3)', () => {
  it('is the header, the checkpoint body and the unit-map line, and parses back', () => {
    const checkpoint = { origin: 'example.test/log', size: 17, root: new Uint8Array(32).fill(3) };
    const mapRoot = new Uint8Array(32).fill(0xab);
    const text = formatCommitment({ checkpoint, mapRoot });
    expect(text).toBe(`flashtrail/map-commitment/v1\nexample.test/log\n17\n${toBase64(checkpoint.root)}\nunit-map ${'ab'.repeat(32)}\n`);
    const parsed = parseCommitment(text);
    expect(parsed.checkpoint).toEqual(checkpoint);
    expect(toHex(parsed.mapRoot)).toBe('ab'.repeat(32));
    expect(indexLogOrigin('example.test/log')).toBe('example.test/log/unit-map');
    expect(parsed.version).toBe(1);
    expect(parseCommitment(text.replace('/v1', '/v2')).version).toBe(2);
    for (const bad of [text.replace('v1', 'v3'), text.slice(0, -1), text.replace('unit-map ab', 'unit-map AB'), `${text}extra\n`]) expect(() => parseCommitment(bad)).toThrow(CheckpointFormatError);
  });
});

describe('the map (§15.2)', () => {
  const build = (n: number) => {
    const map = new UnitHistoryMap(portableCrypto);
    for (let i = 0; i < n; i++) map.append(leaf(i), i % 3 === 0 ? null : `SN-${i % 5}`);
    return map;
  };

  it('restored from its histories has the root of the incremental build', () => {
    const map = build(40);
    const serials = ['SN-1', 'SN-2', 'SN-3', 'SN-4', 'SN-0'];
    const restored = UnitHistoryMap.restore(map.size, serials.map((s) => [s, map.historyOf(s)!] as const), portableCrypto);
    expect(toHex(restored.root())).toBe(toHex(map.root()));
    expect(restored.size).toBe(40);
    // Every unit changed since the start is reported once for persisting, then nothing.
    expect(map.takeChanged().map(([s]) => s).sort()).toEqual([...serials].sort());
    expect(map.takeChanged()).toEqual([]);
  });

  it('a snapshot keeps its root and proofs while the map moves on', () => {
    const map = build(20);
    const snapshot = map.snapshot();
    const root = toHex(snapshot.root());
    const before = snapshot.prove('SN-1');
    for (let i = 20; i < 30; i++) map.append(leaf(i), 'SN-1');
    expect(toHex(snapshot.root())).toBe(root);
    expect(toHex(map.root())).not.toBe(root);
    expect(toBase64(snapshot.prove('SN-1').proof)).toBe(toBase64(before.proof));
    // The snapshot's proof proves SN-1's history as of 20 leaves: its events among the first 20.
    const events = Array.from({ length: 20 }, (_, i) => i).filter((i) => i % 3 !== 0 && i % 5 === 1).map((i) => ({ leafIndex: i, leafHash: leaf(i) }));
    const history = verifyCompleteHistory('SN-1', events, { root: snapshot.root(), size: 20, value: before.value!, proof: before.proof }, portableCrypto);
    expect(history.count).toBe(events.length);
  });
});
