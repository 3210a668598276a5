import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import vectors from './vectors/rfc6962-merkle.json' with { type: 'json' };
import { EMPTY_ROOT, leafHash } from '../src/merkle/hash.ts';
import { CompactRange } from '../src/merkle/compact-range.ts';
import { MemoryTree, consistencyProof, inclusionProof, rootHash, verifyConsistency, verifyInclusion } from '../src/merkle/proofs.ts';
import { MERKLE_LOG_FORMAT, MerkleLog, MerkleLogFormatError } from '../src/read/merkle-log.ts';
import { SqliteEventStore } from '../src/store/sqlite.ts';
import type { EventStore, ReadAllOptions, RecordedEvent } from '../src/store/event-store.ts';
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

  it('a catch-up far behind, its leaves hashed on a worker thread, gives the same tree, and one thread goes on from it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flashtrail-merkle-threaded-'));
    const store = new SqliteEventStore(join(dir, 'events.sqlite'));
    const reference = new MemoryTree();
    const append = async (from: number, to: number) => {
      const events = Array.from({ length: to - from }, (_, j) => ({ id: randomUUID(), type: 'T', data: new TextEncoder().encode(`{"n":${from + j}}`) }));
      await store.appendToStream(`s-${from}`, events);
      for (const e of events) reference.append(leafHash(e.data));
    };
    for (let i = 0; i < 12_000; i += 1000) await append(i, i + 1000);
    // 12,000 leaves behind: more than 100, so hashed on the worker (the first read of a catch-up is 1,000 events).
    const log = new MerkleLog(store, join(dir, 'merkle.sqlite'), undefined, { threadedCatchUpLeaves: 100 });
    await log.catchUp();
    expect(log.size).toBe(12_000);
    expect(toHex(log.root())).toBe(toHex(rootHash(reference, reference.size)));
    for (const [index, size] of [[0, 12_000], [4095, 4096], [11_999, 12_000], [777, 5001]] as const) {
      expect(log.inclusionProof(index, size).map(toHex)).toEqual(inclusionProof(reference, index, size).map(toHex));
    }
    expect(log.consistencyProof(4097, 12_000).map(toHex)).toEqual(consistencyProof(reference, 4097, 12_000).map(toHex));
    // A few more: caught up on this thread, from the subtrees the threaded catch-up left.
    await append(12_000, 12_037);
    await log.catchUp();
    expect(toHex(log.root())).toBe(toHex(rootHash(reference, reference.size)));
    log.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reopened between catch-ups, continues from the subtrees on file (not the ones it hashed last) to the same roots', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flashtrail-merkle-reopen-'));
    const store = new SqliteEventStore(join(dir, 'events.sqlite'));
    const reference = new MemoryTree();
    let log = new MerkleLog(store, join(dir, 'merkle.sqlite'));
    for (let i = 0; i < 300; i++) {
      const data = new TextEncoder().encode(`{"n":${i}}`);
      await store.appendToStream(`s-${i % 7}`, [{ id: randomUUID(), type: 'T', data }]);
      reference.append(leafHash(data));
      // Odd sizes, and sizes one past a power of two: the next append needs left siblings of several levels.
      if (i % 13 === 6 || [32, 64, 128, 256].includes(i)) {
        await log.catchUp();
        expect(toHex(log.root())).toBe(toHex(rootHash(reference, reference.size)));
        log.close();
        log = new MerkleLog(store, join(dir, 'merkle.sqlite'));
      }
    }
    await log.catchUp();
    expect(toHex(log.root())).toBe(toHex(rootHash(reference, 300)));
    expect(log.inclusionProof(257, 300).map(toHex)).toEqual(inclusionProof(reference, 257, 300).map(toHex));
    log.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
});

/** The schema flashtrail wrote before leaves were keyed by position (merkle_leaves.event_id UNIQUE). */
const V1_SCHEMA = `
CREATE TABLE merkle_nodes (level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL, PRIMARY KEY (level, idx)) WITHOUT ROWID;
CREATE TABLE merkle_leaves (idx INTEGER PRIMARY KEY, position INTEGER NOT NULL UNIQUE, event_id TEXT NOT NULL UNIQUE);
CREATE TABLE merkle_checkpoints (size INTEGER PRIMARY KEY, root BLOB NOT NULL, note TEXT NOT NULL, issued_at TEXT NOT NULL);
`;

describe('Merkle log keyed by log position', () => {
  it('finds the leaf of an event by its $all position', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flashtrail-merkle-'));
    const store = new SqliteEventStore(join(dir, 'events.sqlite'));
    const log = new MerkleLog(store, join(dir, 'merkle.sqlite'));
    const written = [];
    for (let i = 0; i < 6; i++) written.push(await store.appendToStream(`unit-${i % 2}`, [{ id: randomUUID(), type: 'T', data: new TextEncoder().encode(`{"i":${i}}`) }]));
    await log.catchUp();
    expect(written.map((w) => log.leafOfPosition(w.position)?.index)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(log.leafOfPosition(written[5]!.position + 1000n)).toBeNull();
    log.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('finds the leaves of many positions in one query, close together (a range) or scattered (a list), and leaves out those it has not reached', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flashtrail-merkle-'));
    const store = new SqliteEventStore(join(dir, 'events.sqlite'));
    const log = new MerkleLog(store, join(dir, 'merkle.sqlite'));
    const positions: bigint[] = [];
    for (let i = 0; i < 300; i++) positions.push((await store.appendToStream(`unit-${i % 7}`, [{ id: randomUUID(), type: 'T', data: new TextEncoder().encode(`{"i":${i}}`) }])).position);
    await log.catchUp();
    const one = (p: bigint) => log.leafOfPosition(p);
    const asked = [
      positions.slice(40, 52), // consecutive: the range
      [positions[3]!, positions[150]!, positions[299]!, positions[77]!], // scattered: the list
      [positions[10]!, positions[12]!, positions[10]!], // a repeat, close together
      [positions[5]!, positions[299]! + 1n, positions[6]!, positions[299]! + 5000n], // not yet in the log
      [positions[200]!, positions[299]! + 1n],
    ];
    for (const wanted of asked) {
      const found = log.leavesOfPositions(wanted);
      const expected = new Map(wanted.flatMap((p) => (one(p) ? [[p, one(p)!] as const] : [])));
      expect(found).toEqual(expected);
    }
    expect(log.leavesOfPositions([]).size).toBe(0);
    expect(log.leavesOfPositions([positions[299]! + 1n]).size).toBe(0);
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps growing past an event id that $all delivers twice (KurrentDB de-duplicates ids per stream only)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flashtrail-merkle-'));
    const id = randomUUID();
    const recorded = (position: bigint, stream: string): RecordedEvent => ({ id, type: 'T', stream, revision: 0n, position, data: new TextEncoder().encode(`{"p":${position}}`), recordedAt: new Date(0).toISOString() });
    const all = [recorded(10n, 'unit-A'), recorded(20n, 'unit-B'), { ...recorded(30n, 'unit-C'), id: randomUUID() }];
    // Only readAll is used by the log; this stands in for a store that can deliver one id twice.
    const store = { readAll: (o: ReadAllOptions = {}) => Promise.resolve(all.filter((e) => e.position > (o.after ?? -1n)).slice(0, o.maxCount ?? 1000)) } as unknown as EventStore;
    const log = new MerkleLog(store, join(dir, 'merkle.sqlite'));
    await log.catchUp();
    expect(log.size).toBe(3);
    expect(toHex(log.root())).toBe(toHex(rootHash(treeOf(all.map((e) => e.data)), 3)));
    expect([10n, 20n, 30n].map((p) => log.leafOfPosition(p)?.index)).toEqual([0, 1, 2]);
    log.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('migrates a v1 file (leaves keyed by event id) in place: same leaves, same subtrees, same roots, same checkpoints', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flashtrail-merkle-'));
    const store = new SqliteEventStore(join(dir, 'events.sqlite'));
    const reference = new MemoryTree();
    const append = async (i: number) => {
      const data = new TextEncoder().encode(`{"n":${i}}`);
      await store.appendToStream(`unit-${i % 3}`, [{ id: randomUUID(), type: 'T', data }]);
      reference.append(leafHash(data));
    };
    for (let i = 0; i < 37; i++) await append(i);
    // The v1 file, as the old code left it: built here from a current log's nodes plus the event ids.
    const current = new MerkleLog(store, join(dir, 'current.sqlite'));
    await current.catchUp();
    current.recordCheckpoint(37, current.root(37), 'a signed note', '2026-01-01T00:00:00.000Z');
    current.close();
    const v1File = join(dir, 'merkle.sqlite');
    const v1 = new Database(v1File);
    v1.exec(V1_SCHEMA);
    v1.exec(`ATTACH DATABASE '${join(dir, 'current.sqlite')}' AS current`);
    v1.exec('INSERT INTO merkle_nodes SELECT * FROM current.merkle_nodes; INSERT INTO merkle_checkpoints SELECT * FROM current.merkle_checkpoints;');
    const insertLeaf = v1.prepare('INSERT INTO merkle_leaves (idx, position, event_id) VALUES (?, ?, ?)');
    (await store.readAll({ maxCount: 100 })).forEach((e, i) => insertLeaf.run(i, e.position, e.id));
    v1.exec('DETACH DATABASE current');
    const nodesBefore = v1.prepare('SELECT level, idx, hex(hash) AS h FROM merkle_nodes ORDER BY level, idx').all();
    v1.close();

    const log = new MerkleLog(store, v1File);
    expect(log.size).toBe(37);
    expect(toHex(log.root())).toBe(toHex(rootHash(reference, 37)));
    expect(log.latestCheckpoint()).toMatchObject({ size: 37, note: 'a signed note' });
    const first = (await store.readAll({ maxCount: 1 }))[0]!;
    expect(log.leafOfPosition(first.position)).toEqual({ index: 0, position: first.position });
    // It keeps growing as the same tree.
    for (let i = 37; i < 50; i++) await append(i);
    await log.catchUp();
    expect(toHex(log.root())).toBe(toHex(rootHash(reference, 50)));
    log.close();

    const migrated = new Database(v1File, { readonly: true });
    expect(migrated.prepare("SELECT value FROM merkle_meta WHERE key = 'format'").get()).toEqual({ value: MERKLE_LOG_FORMAT });
    expect((migrated.prepare('PRAGMA table_info(merkle_leaves)').all() as { name: string }[]).map((c) => c.name)).toEqual(['idx', 'position']);
    const nodesAfter = migrated.prepare('SELECT level, idx, hex(hash) AS h FROM merkle_nodes WHERE idx * (1 << level) < 37 AND (idx + 1) * (1 << level) <= 37 ORDER BY level, idx').all();
    expect(nodesAfter).toEqual(nodesBefore);
    migrated.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a file of an unknown format and leaves it unchanged', () => {
    const dir = mkdtempSync(join(tmpdir(), 'flashtrail-merkle-'));
    const file = join(dir, 'merkle.sqlite');
    const db = new Database(file);
    db.exec("CREATE TABLE merkle_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL); INSERT INTO merkle_meta VALUES ('format', 'flashtrail-merkle-v9');");
    db.close();
    const store = {} as EventStore;
    expect(() => new MerkleLog(store, file)).toThrow(MerkleLogFormatError);
    expect(() => new MerkleLog(store, file)).toThrow(/format flashtrail-merkle-v9/);
    const after = new Database(file, { readonly: true });
    expect(after.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all()).toEqual([{ name: 'merkle_meta' }]);
    after.close();
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('CompactRange', () => {
  it('gives the RFC 6962 root of every prefix of the RFC 6962 test tree, and survives its JSON form', () => {
    const leaves = vectors.leaves.map(fromHex);
    let range = new CompactRange();
    expect(toHex(range.root())).toBe(toHex(EMPTY_ROOT));
    leaves.forEach((leaf, i) => {
      range.append(leafHash(leaf));
      expect(range.size).toBe(i + 1);
      expect(toHex(range.root())).toBe(toHex(rootHash(ctTree, i + 1)));
      range = CompactRange.fromJson(range.toJson());
    });
  });
});
