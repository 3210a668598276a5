import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MerkleLog } from '../src/read/merkle-log.ts';
import { MerkleAppendThread } from '../src/read/merkle-append-thread.ts';
import { SqliteEventStore } from '../src/store/sqlite.ts';
import { toHex } from '../src/crypto/encoding.ts';
import type { Worker } from 'node:worker_threads';
import { configFromEnv } from '../src/server/config.ts';

let dir: string;
let store: SqliteEventStore;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'flashtrail-merkle-thread-'));
  store = new SqliteEventStore(join(dir, 'events.sqlite'));
});

afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** `n` events over five streams, one per transaction, and a batch of `n` in one transaction over two streams. */
async function append(n: number, tag: string): Promise<void> {
  const data = (i: number) => new TextEncoder().encode(`{"tag":"${tag}","n":${i}}`);
  for (let i = 0; i < n; i++) await store.appendToStream(`s-${tag}-${i % 5}`, [{ id: randomUUID(), type: 'T', data: data(i) }]);
  await store.appendToStreams([
    { stream: `b-${tag}-1`, events: Array.from({ length: n }, (_, i) => ({ id: randomUUID(), type: 'T', data: data(n + i) })) },
    { stream: `b-${tag}-2`, events: [{ id: randomUUID(), type: 'T', data: data(2 * n) }] },
  ]);
}

/** Everything a reader of the log sees, at every size up to the log's: the threaded log must show the same. */
function view(log: MerkleLog) {
  const size = log.size;
  const sizes = Array.from({ length: size }, (_, i) => i + 1);
  return {
    size,
    roots: sizes.map((s) => toHex(log.root(s))),
    leaves: toHex(Buffer.concat(log.leafHashes(0, size))),
    inclusion: sizes.map((s) => log.inclusionProof(Math.floor(s / 3), s).map(toHex)),
    consistency: sizes.map((s) => log.consistencyProof(Math.ceil(s / 2), s).map(toHex)),
    positions: log.leavesFrom(0, size).map((l) => [l.index, String(l.position)]),
  };
}

describe('Merkle log appended on its own thread', () => {
  it('holds the same leaves, subtrees, roots and proofs as the log appended on the calling thread, as events keep coming', async () => {
    const plain = new MerkleLog(store, join(dir, 'plain.sqlite'));
    const threaded = new MerkleLog(store, join(dir, 'threaded.sqlite'));
    threaded.appendOn(await MerkleAppendThread.open({ eventsFile: store.file, merkleFile: join(dir, 'threaded.sqlite') }));
    try {
      let events = 0;
      for (const [n, tag] of [[37, 'a'], [1, 'b'], [64, 'c']] as const) {
        await append(n, tag);
        events += 2 * n + 1;
        await Promise.all([plain.catchUp(), threaded.catchUp()]);
        // Every event committed before the call has its leaf once it resolves.
        expect(threaded.size).toBe(events);
        expect(view(threaded)).toEqual(view(plain));
      }
    } finally {
      plain.close();
      await threaded.closeAll();
    }
  });

  it('records checkpoints on the serving connection while leaves are appended, and refuses an in-place rebuild', async () => {
    const file = join(dir, 'merkle.sqlite');
    const log = new MerkleLog(store, file);
    log.appendOn(await MerkleAppendThread.open({ eventsFile: store.file, merkleFile: file }));
    try {
      await append(20, 'a');
      await log.catchUp();
      const size = log.size;
      const pending = (async () => {
        await append(20, 'b');
        await log.catchUp();
      })();
      log.recordCheckpoint(size, log.root(size), 'note', new Date(0).toISOString());
      await pending;
      expect(log.latestCheckpoint()).toEqual({ size, root: log.root(size), note: 'note' });
      expect(log.size).toBe(size + 41);
      await expect(log.rebuild()).rejects.toThrow(/rebuilt without it/);
    } finally {
      await log.closeAll();
    }
  });

  it('starts a new thread when the last one stopped, which resumes from the last leaf', async () => {
    const plain = new MerkleLog(store, join(dir, 'plain.sqlite'));
    const file = join(dir, 'threaded.sqlite');
    const thread = await MerkleAppendThread.open({ eventsFile: store.file, merkleFile: file });
    const threaded = new MerkleLog(store, file);
    threaded.appendOn(thread);
    try {
      await append(10, 'a');
      await threaded.catchUp();
      const worker = (thread as unknown as { thread: { worker: Worker } }).thread.worker;
      await worker.terminate();
      await append(10, 'b');
      await Promise.all([plain.catchUp(), threaded.catchUp()]);
      expect(view(threaded)).toEqual(view(plain));
    } finally {
      plain.close();
      await threaded.closeAll();
    }
  });

  it('is on by default and FLASHTRAIL_MERKLE_THREAD=off keeps the appends on the serving thread', () => {
    expect(configFromEnv({}, { dataDir: dir }).merkleThread).toBe(true);
    expect(configFromEnv({ FLASHTRAIL_MERKLE_THREAD: 'off' }, { dataDir: dir }).merkleThread).toBe(false);
    expect(() => configFromEnv({ FLASHTRAIL_MERKLE_THREAD: 'maybe' }, { dataDir: dir })).toThrow(/FLASHTRAIL_MERKLE_THREAD must be on or off, not/);
  });
});
