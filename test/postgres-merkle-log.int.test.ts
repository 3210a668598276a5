/**
 * The shared Merkle log in PostgreSQL against the in-memory reference tree: the same roots, inclusion and
 * consistency proofs at every size, whether the leaves came in one pass or many; only the session holding
 * the writer's lock writes; a reader waits for the writer; the tables are append-only; the ledger's verifier
 * key is pinned.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PostgresEventStore } from '../src/store/postgres.ts';
import { PostgresLeaderElection } from '../src/store/postgres-election.ts';
import { LedgerIdentityMismatchError, PostgresMerkleLog } from '../src/read/postgres-merkle-log.ts';
import { MemoryTree, rootHash, inclusionProof, consistencyProof } from '../src/merkle/proofs.ts';
import { leafHash } from '../src/merkle/hash.ts';
import { toHex } from '../src/crypto/encoding.ts';
import { nativeCrypto } from '../src/native/crypto.ts';
import { asSuperuser, createTestDatabase, describeWithPostgres, type TestDatabase } from './helpers/postgres.ts';

const hex = (hashes: Uint8Array[]) => hashes.map(toHex);
let db: TestDatabase;

describeWithPostgres('the Merkle log in PostgreSQL', (target) => {
  beforeAll(async () => {
    db = await createTestDatabase(target);
  });
  afterAll(async () => db.drop());

  const schema = () => `m_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  const append = async (store: PostgresEventStore, n: number, tree: MemoryTree) => {
    for (let i = 0; i < n; i++) {
      const data = new TextEncoder().encode(`{"leaf":${tree.size},"r":${Math.random()}}`);
      await store.appendToStream(`unit-${tree.size % 5}`, [{ id: randomUUID(), type: 'T', data }]);
      tree.append(leafHash(data, nativeCrypto));
    }
  };

  it('gives the reference tree’s roots and proofs at every size, extended in passes of every length', async () => {
    const store = new PostgresEventStore(db.url, { schema: schema() });
    const log = new PostgresMerkleLog(store);
    await log.open('test+00000000+key');
    const session = new pg.Client({ connectionString: db.url });
    await session.connect();
    log.becomeWriter(session);
    const tree = new MemoryTree(nativeCrypto);
    const sizes: number[] = [];
    for (const n of [1, 1, 2, 3, 1, 8, 5, 16, 1, 33]) {
      await append(store, n, tree);
      await log.catchUp();
      sizes.push(tree.size);
      expect(await log.size()).toBe(tree.size);
    }
    for (const size of sizes) {
      expect(toHex(await log.root(size))).toBe(toHex(rootHash(tree, size, nativeCrypto)));
      for (const index of [0, Math.floor(size / 2), size - 1]) expect(hex(await log.inclusionProof(index, size))).toEqual(hex(inclusionProof(tree, index, size, nativeCrypto)));
      for (const from of [1, Math.floor(size / 3), size]) expect(hex(await log.consistencyProof(from, size))).toEqual(hex(consistencyProof(tree, from, size, nativeCrypto)));
    }
    const all = await store.readAll({ maxCount: 1000 });
    const leaves = await log.leavesOfPositions(all.map((e) => e.position));
    expect(all.map((e) => leaves.get(e.position)?.index)).toEqual(all.map((_, i) => i));
    expect(toHex(await log.leafHashAt(7))).toBe(toHex(tree.perfect(0, 7)));
    // A block of leaf hashes in one read, as the export's shared proofs ask for it; a range past the log is refused.
    expect(hex(await log.leafHashes(3, 9))).toEqual(Array.from({ length: 9 }, (_, k) => toHex(tree.perfect(0, 3 + k))));
    await expect(log.leafHashes(tree.size - 2, 3)).rejects.toThrow(RangeError);
    await expect(log.root(tree.size + 1)).rejects.toThrow(RangeError);
    log.close();
    await session.end();
    await store.close();
  });

  it('a reader waits for the writer; only the lock holder writes; a writer that lost its session writes nothing', async () => {
    const s = schema();
    const [writerStore, readerStore] = [new PostgresEventStore(db.url, { schema: s }), new PostgresEventStore(db.url, { schema: s })];
    const writer = new PostgresMerkleLog(writerStore);
    const reader = new PostgresMerkleLog(readerStore, { waitForWriterMs: 5000 });
    await writer.open('test+00000000+key');
    await reader.open('test+00000000+key');
    const election = new PostgresLeaderElection(db.url, s, 'log-writer', { retryMs: 50 });
    election.start({ elected: (session) => writer.becomeWriter(session), deposed: () => writer.stopWriting() });
    const tree = new MemoryTree(nativeCrypto);
    while (!writer.isWriter) await new Promise((r) => setTimeout(r, 20));
    await append(readerStore, 10, tree);
    // The reader never writes: its catchUp returns once the writer (woken by NOTIFY) has logged the events.
    await reader.catchUp();
    expect(await reader.size()).toBe(10);
    expect(toHex(await reader.root(10))).toBe(toHex(rootHash(tree, 10, nativeCrypto)));
    await expect(reader.recordCheckpoint(10, await reader.root(10), 'note', new Date().toISOString())).rejects.toThrow(/only the elected log writer/);
    // A second candidate does not get the lock while the first holds it.
    const rival = new PostgresLeaderElection(db.url, s, 'log-writer', { retryMs: 50 });
    let rivalElected = false;
    rival.start({ elected: () => (rivalElected = true), deposed: () => undefined });
    await new Promise((r) => setTimeout(r, 300));
    expect(rivalElected).toBe(false);
    // The writer's session dies (as with SIGKILL): the lock goes, and so does the writer's right to write.
    await asSuperuser(target, db.name, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'flashtrail log writer election' AND pid IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted)");
    const deadline = Date.now() + 5000;
    while (!rivalElected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(rivalElected).toBe(true);
    await append(readerStore, 3, tree);
    await writer.catchUp().catch(() => undefined);
    expect(await reader.size()).toBe(10);
    await election.close();
    await rival.close();
    writer.close();
    reader.close();
    await writerStore.close();
    await readerStore.close();
  });

  it('keeps its tables append-only and its ledger identity pinned', async () => {
    const s = schema();
    const store = new PostgresEventStore(db.url, { schema: s });
    const log = new PostgresMerkleLog(store);
    await log.open('flashtrail.test/a+12345678+AAAA');
    const session = new pg.Client({ connectionString: db.url });
    await session.connect();
    log.becomeWriter(session);
    await append(store, 3, new MemoryTree(nativeCrypto));
    await log.catchUp();
    for (const sql of [`UPDATE ${s}.merkle_nodes SET hash = hash`, `DELETE FROM ${s}.merkle_leaves`, `TRUNCATE ${s}.merkle_checkpoints`]) {
      await expect(asSuperuser(target, db.name, sql)).rejects.toThrow(/append-only/);
      await expect(session.query(sql)).rejects.toThrow(/permission denied/);
    }
    const other = new PostgresMerkleLog(store);
    await expect(other.open('flashtrail.test/b+87654321+BBBB')).rejects.toBeInstanceOf(LedgerIdentityMismatchError);
    log.close();
    await session.end();
    await store.close();
  });
});
